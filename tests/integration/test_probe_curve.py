"""Probe-size curve from a search's stored activations (demo model, 80 shapes-color examples, no baselines), and
the ``probe-curve`` CLI command."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sn_core.config import SearchConfig
from sn_core.reports.probe_curve import CURVE_COLUMNS, curve_to_json, probe_curve_summary, probe_size_curve
from sn_core.search.uncertainty import summary_value

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("probe-curve-cache")


@pytest.fixture(scope="module")
def search(demo_loaded, cache_root):
    from sn_core.search.run import run_search

    cfg = SearchConfig(task="shapes-color", n_examples=80, probe_per_class=10, baselines=False)
    return run_search(cfg, loaded=demo_loaded, root=cache_root)


@pytest.fixture(scope="module")
def curve(search):
    return probe_size_curve(search, sizes=(5, 10, 30), seeds=(0, 1))


def test_curve_rows(curve, search):
    assert list(curve.columns) == list(CURVE_COLUMNS)
    ok = curve[curve["note"].isna()]
    assert sorted(zip(ok["probe_per_class"], ok["seed"])) == [(5, 0), (5, 1), (10, 0), (10, 1)]
    assert (ok["n_probe"] == ok["probe_per_class"] * 4).all() and (ok["n_probe"] + ok["n_test"] == 80).all()
    assert ((ok["test_ci_low"] <= ok["test_accuracy"]) & (ok["test_accuracy"] <= ok["test_ci_high"])).all()
    skipped = curve[curve["note"].notna()]
    assert list(skipped["probe_per_class"]) == [30] and "31" in skipped["note"].iloc[0]
    assert curve.attrs["notes"] == list(skipped["note"])


def test_search_settings_reproduce_the_search(curve, search):
    """At the search's own probe size and seed the re-split is the search's split, so the selection (same ranking
    and tie-break) is the search's neuron with its test accuracy."""
    row = curve[(curve["probe_per_class"] == 10) & (curve["seed"] == 0)].iloc[0]
    assert row["neuron_id"] == summary_value(search, "sn_neuron_id") and bool(row["same_as_search"])
    assert row["test_accuracy"] == pytest.approx(summary_value(search, "sn_test_accuracy"))
    assert row["search_neuron_test_accuracy"] == row["test_accuracy"]
    assert row["probe_score"] == pytest.approx(summary_value(search, "sn_probe_score"))


def test_summary_and_json(curve):
    summ = probe_curve_summary(curve)
    assert list(summ["probe_per_class"]) == [5, 10, 30] and list(summ["n_seeds"]) == [2, 2, 0]
    doc = json.loads(json.dumps(curve_to_json(curve)))
    assert len(doc["rows"]) == 5 and len(doc["summary"]) == 3 and doc["notes"]


def test_bad_sizes(search):
    with pytest.raises(ValueError, match="sizes"):
        probe_size_curve(search, sizes=(0,))
    with pytest.raises(ValueError, match="seeds"):
        probe_size_curve(search, seeds=())


def test_cli_probe_curve_json(search, cache_root):
    env = dict(os.environ, SN_CACHE_DIR=str(cache_root))
    p = subprocess.run([sys.executable, "-m", "sn_core", "probe-curve", "--task", "shapes-color", "--n-examples", "80",
                        "--probe-per-class", "10", "--no-baselines", "--sizes", "5", "10", "--seeds", "0", "--json",
                        "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["search_key"] == search.key and [r["probe_per_class"] for r in doc["rows"]] == [5, 10]
