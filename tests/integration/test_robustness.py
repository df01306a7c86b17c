"""Robustness report and search uncertainty on the demo model (a small shapes-color search: 48 examples, 5 probe
examples per class, 28 test examples), and the ``robustness`` CLI command."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sn_core.config import SearchConfig
from sn_core.reports.robustness import FLAG, ROW_COLUMNS, Rewording, RewordingError, RobustnessReport, robustness_report
from sn_core.search.uncertainty import search_uncertainty, summary_value, with_intervals

ROOT = Path(__file__).resolve().parents[2]
SEARCH_ARGS = ["--task", "shapes-color", "--n-examples", "48", "--probe-per-class", "5"]


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("robustness-cache")


@pytest.fixture(scope="module")
def search(demo_loaded, cache_root):
    from sn_core.search.run import run_search

    cfg = SearchConfig(task="shapes-color", n_examples=48, probe_per_class=5)
    return run_search(cfg, loaded=demo_loaded, root=cache_root)


@pytest.fixture(scope="module")
def report(search, demo_loaded):
    # the identity rewording must reproduce the stored (original) row through the early-exit path
    return robustness_report(search, demo_loaded, max_examples=16, rewordings=[Rewording()])


def test_uncertainty_matches_the_search(search):
    u = search_uncertainty(search)
    assert u["n_test"] == summary_value(search, "n_test") == 28
    lo, hi = u["sn_test_ci"]
    assert lo <= summary_value(search, "sn_test_accuracy") <= hi
    lo, hi = u["base_ci"]
    assert lo <= summary_value(search, "base_accuracy") <= hi
    assert 0.0 <= u["p_sn_vs_base"] <= 1.0 and 0.0 <= u["p_sn_vs_sav"] <= 1.0
    assert u["sav_ci"] is not None and u["probe_lr_ci"] is not None
    for key in ("sn_test_ci", "base_ci", "p_sn_vs_base", "p_sn_vs_sav"):  # where the search reports them too
        theirs = summary_value(search, key)
        if theirs is not None:
            assert u[key] == pytest.approx(theirs)
    json.dumps(u)
    top = with_intervals(search.top_k, u["n_test"])
    assert {"test_ci_low", "test_ci_high"} <= set(top.columns)
    assert (top["test_ci_low"] <= top["test_accuracy"]).all() and (top["test_accuracy"] <= top["test_ci_high"]).all()


def test_report_rows(report, search):
    df = report.rows
    assert list(df.columns) == list(ROW_COLUMNS)
    assert list(df["kind"]) == ["original", "rewording", "shifted", "control", "control", "control"]
    assert (df["n"][df["available"]] == 16).all()
    orig, same = df.iloc[0], df.iloc[1]
    assert orig["neuron_accuracy"] >= 0.75
    # the identity rewording runs the early-exit predictor and the base model's generation on the unchanged inputs
    assert same["neuron_accuracy"] == orig["neuron_accuracy"] and same["base_accuracy"] == orig["base_accuracy"]
    for _, r in df[df["available"]].iterrows():  # the base model's rows exist, with intervals
        assert not math.isnan(r["base_accuracy"]) and r["base_ci_low"] <= r["base_accuracy"] <= r["base_ci_high"]
        assert r["neuron_ci_low"] <= r["neuron_accuracy"] <= r["neuron_ci_high"]
    blank = df[df["condition"] == "blank image"].iloc[0]
    # a colour question needs the image: one grey image answers one constant label, at most the majority rate
    assert blank["neuron_accuracy"] <= blank["chance"] + 1e-9
    assert blank["neuron_accuracy"] < orig["neuron_accuracy"] - 0.3
    assert not blank["neuron_flag"]
    assert report.neuron_ids == list(summary_value(search, "sn_neuron_ids"))


def test_report_json_round_trip(report):
    doc = json.loads(json.dumps(report.to_json()))
    back = RobustnessReport.from_json(doc)
    assert back.to_json() == doc
    assert back.rows.shape == report.rows.shape and back.flags == report.flags


def test_flag_on_a_question_only_control(search, demo_loaded, monkeypatch):
    """A neuron whose accuracy stays above chance without the image is flagged: simulated by a control whose
    'images' are the originals (so the neuron keeps its accuracy)."""
    import sn_core.reports.robustness as rb

    monkeypatch.setattr(rb, "control_images", lambda kind, images, seed=0: list(images))
    rep = robustness_report(search, demo_loaded, rewordings=[], shifted=False, controls=("blank",), base=False,
                            max_examples=16)
    row = rep.rows.iloc[-1]
    assert row["neuron_flag"] == FLAG and rep.flagged and "blank image" in rep.flags[0]
    assert math.isnan(row["base_accuracy"]) and row["note"] == "base model not run"


def test_rewording_outside_the_vocabulary_is_refused(search, demo_loaded):
    with pytest.raises(RewordingError, match="colour"):
        robustness_report(search, demo_loaded, rewordings=[Rewording("What colour is it?")])


def _cli(args, cache_root):
    env = dict(os.environ, SN_CACHE_DIR=str(cache_root))
    return subprocess.run([sys.executable, "-m", "sn_core", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_cli_robustness_json(search, cache_root, tmp_path):
    f = tmp_path / "rewordings.txt"
    f.write_text("# one rewording\n{question} | Answer with a word.\n", encoding="utf-8")
    p = _cli(["robustness", *SEARCH_ARGS, "--json", "--quiet", "--max-examples", "4", "--no-shifted",
              "--rewordings", str(f)], cache_root)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["search_key"] == search.key  # the cached search was reused
    assert [r["condition"] for r in doc["rows"]] == ["original", "rewording 1", "blank image", "noise image",
                                                     "shuffled images"]
    assert doc["rows"][1]["instruction"] == "Answer with a word." and doc["n_test"] == 4


def test_cli_bad_rewordings_file(cache_root, tmp_path):
    f = tmp_path / "bad.txt"
    f.write_text("What {colour} is it?\n", encoding="utf-8")
    p = _cli(["robustness", *SEARCH_ARGS, "--rewordings", str(f)], cache_root)
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "colour" in lines[0]


def test_values_of_the_modified_pipeline_match_the_store(search, demo_loaded):
    """The early-exit values the report uses on unchanged inputs equal the stored activations."""
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.search.uncertainty import test_positions

    clf = search.classifier()
    pred = EarlyExitPredictor(demo_loaded, clf, instruction=search.task.instruction)
    t = test_positions(search)[:4]
    exs = [search.task.examples[int(i)] for i in np.asarray(search.split.test)[:4]]
    got = pred.values([e.image for e in exs], [e.question for e in exs])[:, 0]
    want = search.neuron_values(clf.neurons_[0]).values[t]
    assert np.allclose(got, want, atol=1e-5)
