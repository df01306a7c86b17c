"""Each benchmark fixture and both Hugging Face dataset layouts (tests/helpers/benchmark_fixtures.py) searched with
the demo model and reopened from the store; a refused task leaves the store empty; the CLI takes a detected folder;
a multiple-choice task searches, exports a shortcut and predicts with the exported graph as the library does."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sn_core.config import SearchConfig
from tests.helpers import benchmark_fixtures as fx

SMALL = dict(n_examples=16, probe_per_class=3, layers=(0, 1), baselines=False)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return root, fx.write_all(root)


def _cli(capsys, *argv):
    from sn_core.cli import main

    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("name", ["pope", "clevr", "aokvqa", "scienceqa", "vizwiz", "instaorder", "hf-parquet",
                                  "hf-disk"])
def test_fixture_searches_and_reopens(fixtures, name, demo_loaded, sn_cache):
    from sn_core.search.result import SearchResult
    from sn_core.search import run_search

    _, args = fixtures
    res = run_search(SearchConfig(task=args[name], **SMALL), loaded=demo_loaded, root=str(sn_cache))
    s = res.summary
    assert s.n_probe == 3 * s.n_classes and s.n_probe + s.n_test == 16
    assert s.extra["task_drawn"] == 16 and s.extra["skipped_missing_images"] == 0
    again = SearchResult.load(res.key, root=str(sn_cache))
    task = again.task  # rebuilt from its task argument; the fingerprint check proves it is the same task
    assert len(task) == 16 and task.origin["benchmark"] == res._task_spec["arg"]
    hit = run_search(SearchConfig(task=args[name], **SMALL), loaded=demo_loaded, root=str(sn_cache))
    assert hit.summary.cache_hit and hit.key == res.key


@pytest.mark.reliability
def test_refused_benchmark_writes_nothing_to_the_cache(fixtures, tmp_path, demo_loaded, sn_cache):
    from sn_core.data.benchmarks import BenchmarkError
    from sn_core.search import run_search

    root, _ = fixtures
    vz = tmp_path / "VizWiz"
    shutil.copytree(root / "VizWiz", vz)
    (vz / "val" / "VizWiz_val_00000003.jpg").unlink()
    with pytest.raises(BenchmarkError, match="1 image file"):
        run_search(SearchConfig(task=f"vizwiz:{vz}", **SMALL), loaded=demo_loaded, root=str(sn_cache))
    assert not sn_cache.exists() or not any(sn_cache.rglob("*"))
    res = run_search(SearchConfig(task=f"vizwiz:{vz};skip-missing-images", **SMALL), loaded=demo_loaded,
                     root=str(sn_cache))
    assert res.summary.extra["skipped_missing_images"] == 1 and res.summary.extra["task_rows"] == 31


def test_cli_detects_a_benchmark_folder(fixtures, sn_cache, capsys, tmp_path):
    root, _ = fixtures
    (tmp_path / "stuff" / "pictures").mkdir(parents=True)
    (tmp_path / "stuff" / "notes.txt").write_text("hi")
    rc, out, err = _cli(capsys, "search", "--task", str(root / "POPE"), "--n-examples", "16", "--probe-per-class",
                        "3", "--layers", "0", "--no-baselines", "--cache-dir", str(sn_cache))
    assert rc == 0, err
    assert "task pope-all" in out and "benchmark: 16 of 36 usable rows drawn" in out
    rc, out, err = _cli(capsys, "search", "--task", str(tmp_path / "stuff"), "--no-baselines", "--cache-dir",
                        str(sn_cache))
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "matches no dataset format" in err and "CLEVR: " in err and "--question" in err
    rc, out, err = _cli(capsys, "search", "--task", f"aokvqa:{root / 'aokvqa-official' / 'aokvqa'}",
                        "--no-baselines", "--cache-dir", str(sn_cache))
    assert rc == 2 and "image file(s) missing" in err and "--images" in err  # COCO folder not given
    assert not any((sn_cache / "searches").glob("*")) if (sn_cache / "searches").exists() else True


def test_multiple_choice_search_export_and_predict_agree(fixtures, sn_cache, tmp_path, capsys):
    """A-OKVQA (multiple choice, letter classes): search with baselines, export the recommended shortcut, predict
    the test split with the exported graph and with the library's classifier: same letters, same values."""
    pytest.importorskip("onnxruntime")
    root, args = fixtures
    ann, coco = root / "aokvqa-official" / "aokvqa", root / "aokvqa-official" / "coco"
    common = ["--task", str(ann), "--images", str(coco), "--n-examples", "24", "--probe-per-class", "3",
              "--cache-dir", str(sn_cache)]
    rc, out, err = _cli(capsys, "search", *common, "--layers", "0", "1", "2", "--batch-size", "8",
                        "--save-shortcut-classifier", str(tmp_path / "sc.json"), "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["task"] == "aokvqa" and doc["n_classes"] == 4
    assert doc["base_accuracy"] is not None  # the base model's generated letter, matched to A-D
    rc, out, err = _cli(capsys, "export", "--search", doc["key"], "--out", str(tmp_path / "shortcut"), "--cache-dir",
                        str(sn_cache), "--json")
    assert rc == 0, err
    card = json.loads(out)
    assert card["labels"] == ["A", "B", "C", "D"]
    task_arg = f"aokvqa:{ann};images={coco}"
    preds = {}
    for flag, src in (("--shortcut", tmp_path / "shortcut"), ("--classifier", tmp_path / "sc.json")):
        rc, out, err = _cli(capsys, "predict", flag, str(src), "--task", task_arg, "--cache-dir", str(sn_cache),
                            "--json")
        assert rc == 0, err
        preds[flag] = json.loads(out)
    a, b = preds["--shortcut"], preds["--classifier"]
    assert a["examples"]["split"] == "test" and a["n"] == 24 - 4 * 3
    assert [p["predicted"] for p in a["predictions"]] == [p["predicted"] for p in b["predictions"]]
    assert np.allclose([p["value"] for p in a["predictions"]], [p["value"] for p in b["predictions"]], rtol=1e-4,
                       atol=1e-5)
    assert abs(a["accuracy"] - doc["shortcut_test_accuracy"]) < 1e-9  # the search's own test accuracy
