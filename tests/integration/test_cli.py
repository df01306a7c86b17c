"""``python -m sn_core``: search --json fields, classifier round trip through predict, task paths, and one-line
errors with exit code 2. Runs on the tiny random LLaVA (plumbing, not accuracy); one real subprocess."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from sn_core import REPO_DIR
from sn_core.cli.main import main
from sn_core.data import get_task

REQUIRED = ("task", "n_probe", "n_test", "base_accuracy", "sn_test_accuracy", "sn_probe_accuracy", "sn_layer",
            "sn_neuron", "sn_site", "null_probe_accuracy", "sav_test_accuracy", "probe_lr_test_accuracy",
            "cache_hit")


def _run(capsys, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_search_json_then_predict_with_the_saved_classifier(tiny_llava_dir, sn_cache, tmp_path, capsys):
    clf_path = tmp_path / "sn.json"
    args = ["search", "--model", str(tiny_llava_dir), "--task", "shapes-color", "--n-examples", "16",
            "--probe-per-class", "2", "--site", "mlp", "resid", "--layers", "0-1", "--batch-size", "8", "--json",
            "--quiet", "--save-classifier", str(clf_path)]
    rc, out, err = _run(capsys, *args)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, "--json prints exactly one JSON object"
    doc = json.loads(lines[0])
    for key in REQUIRED:
        assert key in doc, key
    assert doc["task"] == "shapes-color" and doc["n_probe"] == 8 and doc["n_test"] == 8
    assert doc["sn_layer"] in (0, 1) and doc["sn_site"] in ("mlp", "resid") and doc["cache_hit"] is False
    for key in ("base_accuracy", "sn_test_accuracy", "sav_test_accuracy", "probe_lr_test_accuracy"):
        assert 0.0 <= doc[key] <= 1.0
    art = json.loads(clf_path.read_text())
    assert art["neurons"][0]["id"] == doc["sn_neuron_id"] and art["model_id"] == str(tiny_llava_dir)
    # Same command again: a cache hit with the same figures.
    rc, out2, _ = _run(capsys, *args)
    doc2 = json.loads(out2)
    assert rc == 0 and doc2["cache_hit"] is True and doc2["sn_test_accuracy"] == doc["sn_test_accuracy"]
    assert doc2["extraction_cache_hit"] is True  # a reopened search extracts nothing

    img = tmp_path / "x.png"
    get_task("shapes-color", 1).examples[0].image.save(img)
    rc, out, err = _run(capsys, "predict", "--classifier", str(clf_path), "--image", str(img), "--question",
                        "What color is the shape?", "--json")
    assert rc == 0, err
    p = json.loads(out)
    assert p["label"] in ("red", "green", "blue", "yellow") and p["seconds"] > 0
    assert p["exit_layer"] == doc["exit_layer"] and doc["sn_neuron_id"] in p["values"]
    rc, out, _ = _run(capsys, "predict", "--classifier", str(clf_path), "--image", str(img), "--question", "?")
    assert rc == 0 and out.splitlines()[0] in ("red", "green", "blue", "yellow") and "ms" in out


def test_predict_loads_the_model_in_the_precision_of_its_search(tiny_llava_dir, sn_cache, tmp_path, capsys):
    """A threshold fitted on bf16 values is applied to bf16 values (fp32 ones differ near it), unless asked."""
    import torch

    from sn_core.shortcut.early_exit import load_predictor

    clf_path = tmp_path / "bf16.json"
    rc, _, err = _run(capsys, "search", "--model", str(tiny_llava_dir), "--n-examples", "16", "--probe-per-class", "2",
                      "--layers", "0", "--no-baselines", "--dtype", "bf16", "--quiet", "--save-classifier",
                      str(clf_path))
    assert rc == 0, err
    assert json.loads(clf_path.read_text())["meta"]["dtype"] == "bfloat16"
    assert load_predictor(clf_path).loaded.dtype == torch.bfloat16
    assert load_predictor(clf_path, dtype="fp32").loaded.dtype == torch.float32
    # the model folder moved: the error says to pass it, not to try the demo
    doc = json.loads(clf_path.read_text())
    doc["model_id"] = str(tmp_path / "moved-away")
    clf_path.write_text(json.dumps(doc))
    img = tmp_path / "x.png"
    get_task("shapes-color", 1).examples[0].image.save(img)
    rc, _, err = _run(capsys, "predict", "--classifier", str(clf_path), "--image", str(img), "--question", "?")
    assert rc == 2 and "if the model moved, pass its folder (--model" in err, err
    rc, _, err = _run(capsys, "predict", "--classifier", str(clf_path), "--image", str(tmp_path), "--question", "?")
    assert rc == 2 and "is a folder, not an image file" in err, err


def test_task_from_a_manifest_and_an_image_folder(tiny_llava_dir, sn_cache, tmp_path, capsys):
    task = get_task("shapes-exists", 12, seed=2)
    rows = []
    for i, ex in enumerate(task.examples):
        ex.image.save(tmp_path / f"{i}.png")
        rows.append(json.dumps({"image": f"{i}.png", "question": ex.question, "label": ex.label}))
        (tmp_path / "folder" / ex.label).mkdir(parents=True, exist_ok=True)
        ex.image.save(tmp_path / "folder" / ex.label / f"{i}.png")
    (tmp_path / "m.jsonl").write_text("\n".join(rows))
    common = ["--model", str(tiny_llava_dir), "--probe-per-class", "2", "--no-baselines", "--json", "--quiet"]
    rc, out, err = _run(capsys, "search", "--task", str(tmp_path / "m.jsonl"), *common)
    assert rc == 0, err
    assert json.loads(out)["n_probe"] + json.loads(out)["n_test"] == 12
    # the same rows under another name: the stored result answers, under this task's name
    (tmp_path / "copy.jsonl").write_text("\n".join(rows))
    rc, out, err = _run(capsys, "search", "--task", str(tmp_path / "copy.jsonl"), *common)
    assert rc == 0 and json.loads(out)["cache_hit"] and json.loads(out)["task"] == "copy", err
    rc, out, err = _run(capsys, "search", "--task", str(tmp_path / "folder"), "--question", "Is there a red circle?",
                        *common)
    assert rc == 0, err
    assert json.loads(out)["task"] == "folder"
    rc, _, err = _run(capsys, "search", "--task", str(tmp_path / "folder"), *common)
    assert rc == 2 and "--question" in err


@pytest.mark.parametrize("args,match", [
    (["search", "--task", "no-such-task"], "unknown task 'no-such-task'"),
    (["robustness", "--task", "no-such-task"], "unknown task 'no-such-task'"),
    (["search", "--model", "nobody/no-model"], "in the local Hugging Face cache"),
    (["search", "--layers", "3-1"], "bad layer spec"),
    (["search", "--layers", "0-1000000000"], "too wide"),
    (["search", "--n-examples", "1000000000000"], "--n-examples must be at most 100,000"),
    (["search", "--top", "-5"], "--top must be at least 1"),
    (["predict", "--classifier", "sn.json", "--task", ""], "--task is empty"),
    (["search", "--question", "Is it red?"], "--question applies to image-folder tasks only"),
    (["search", "--save-classifier", "."], "is a folder"),
    (["search", "--save-classifier", "/no/such/dir/sn.json"], "does not exist"),
    (["search", "--layers", "0", "--k", "100000", "--no-baselines", "--n-examples", "40", "--probe-per-class",
      "4"], "k=100000 neurons in the vote, but the search covers only 448 neurons"),
    (["search", "--site", "ffn"], "unknown site 'ffn'"),
    (["search", "--probe-per-class", "0"], "--probe-per-class must be a positive integer"),
    (["search", "--frobnicate"], "unrecognized arguments"),
    (["predict", "--classifier", "missing.json", "--image", "x.png", "--question", "q"], "not found"),
])
def test_errors_are_one_line_with_exit_code_2(args, match, capsys, sn_cache):
    rc, out, err = _run(capsys, *args)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in err and out == ""


def test_bad_manifest_and_bad_image(tmp_path, capsys, sn_cache, tiny_llava_dir):
    (tmp_path / "bad.jsonl").write_text('{"image": "nope.png", "question": "q", "label": "a"}\n')
    rc, _, err = _run(capsys, "search", "--task", str(tmp_path / "bad.jsonl"), "--quiet")
    assert rc == 2 and "row 1" in err and "not found" in err
    (tmp_path / "not-an-image.png").write_text("hello")
    (tmp_path / "clf.json").write_text("{}")
    rc, _, err = _run(capsys, "predict", "--classifier", str(tmp_path / "clf.json"), "--image",
                      str(tmp_path / "not-an-image.png"), "--question", "q")
    assert rc == 2 and "not an image" in err


def test_python_dash_m_entry_point_exit_code(sn_cache):
    r = subprocess.run([sys.executable, "-m", "sn_core", "search", "--task", "nope"], cwd=REPO_DIR,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().startswith("error: unknown task 'nope'") and "Traceback" not in r.stderr


def test_search_json_on_the_demo_model(sn_cache, capsys):
    """The real demo model end to end through the CLI, small: every required field, baselines included, and a
    second run that is a cache hit with the same figures."""
    args = ["search", "--model", "demo", "--task", "shapes-color", "--n-examples", "32", "--probe-per-class", "3",
            "--layers", "0-2", "--batch-size", "32", "--json", "--quiet"]
    rc, out, err = _run(capsys, *args)
    assert rc == 0, err
    doc = json.loads(out)
    for key in REQUIRED:
        assert doc[key] is not None, key
    assert doc["n_probe"] == 12 and doc["n_test"] == 20 and doc["sn_layer"] <= 2 and not doc["cache_hit"]
    assert doc["sn_test_accuracy"] > doc["chance"]
    # the demo model answers colours itself (README: 1.00), and both trained baselines are far above chance (0.25)
    assert doc["base_accuracy"] >= 0.9 and doc["sav_test_accuracy"] >= 0.75 and doc["probe_lr_test_accuracy"] >= 0.75
    rc, out, _ = _run(capsys, *args)
    again = json.loads(out)
    assert again["cache_hit"] and {k: again[k] for k in REQUIRED if k != "cache_hit"} == \
        {k: doc[k] for k in REQUIRED if k != "cache_hit"}


def test_predict_with_an_anonymous_classifier_is_a_clear_error(tmp_path, capsys, sn_cache):
    """A classifier fitted without neuron ids has no exit layer: one line, exit code 2 (it used to be a TypeError)."""
    import numpy as np

    from sn_core.classifier.estimator import SuperNeuronClassifier

    clf = SuperNeuronClassifier().fit(np.arange(8.0)[:, None], list("abababab"))
    clf.to_json(tmp_path / "anon.json", model_id="demo")
    get_task("shapes-color", 1, seed=0).examples[0].image.save(tmp_path / "x.png")
    rc, _, err = _run(capsys, "predict", "--classifier", str(tmp_path / "anon.json"), "--image",
                      str(tmp_path / "x.png"), "--question", "What color is the shape?")
    assert rc == 2 and err.startswith("error:") and "anonymous columns" in err, err


def test_a_cache_dir_that_is_a_file_is_a_one_line_error(tmp_path, capsys, sn_cache):
    (tmp_path / "not-a-dir").write_text("x")
    rc, out, err = _run(capsys, "search", "--cache-dir", str(tmp_path / "not-a-dir" / "sub"), "--layers", "0",
                        "--no-baselines", "--n-examples", "40", "--probe-per-class", "4", "--quiet")
    assert rc == 2 and err.startswith("error:") and "Traceback" not in err, err


def test_default_search_recommends_an_early_shortcut_on_shapes_color(sn_cache, capsys):
    """The CLI's default search on shapes-color (400 examples, 20 probe per class, all 16 layers): the recommended
    shortcut sits in the first quarter of the layers, above chance on held-out data, and --json carries it with
    the frontier (one row per searched layer) and the intervals."""
    rc, out, err = _run(capsys, "search", "--task", "shapes-color", "--no-baselines", "--json", "--quiet")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["shortcut_layer"] <= 3 and doc["shortcut_neuron_id"].startswith(f"blocks.{doc['shortcut_layer']}.")
    assert doc["shortcut_test_accuracy"] > 0.8 > doc["chance"]
    assert doc["shortcut_flop_limit"] > 3 > doc["sn_flop_limit"] or doc["sn_layer"] <= 3
    assert [r["exit_layer"] for r in doc["frontier"]] == list(range(16))
    assert sum(r["recommended"] for r in doc["frontier"]) == 1
    lo, hi = doc["sn_test_ci"]
    assert lo <= doc["sn_test_accuracy"] <= hi


def test_recommended_shortcut_is_saved_and_exported_by_default(tiny_llava_dir, sn_cache, tmp_path, capsys):
    """--save-shortcut-classifier writes the recommended shortcut's neuron; export --search KEY exports it."""
    sc_path, best_path = tmp_path / "shortcut.json", tmp_path / "best.json"
    rc, out, err = _run(capsys, "search", "--model", str(tiny_llava_dir), "--task", "shapes-color", "--n-examples",
                        "16", "--probe-per-class", "2", "--layers", "0-1", "--no-baselines", "--json", "--quiet",
                        "--save-classifier", str(best_path), "--save-shortcut-classifier", str(sc_path))
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["shortcut_neuron_id"] is not None and doc["shortcut_classifier_path"] == str(sc_path)
    assert [n["id"] for n in json.loads(sc_path.read_text())["neurons"]] == [doc["shortcut_neuron_id"]]
    assert [n["id"] for n in json.loads(best_path.read_text())["neurons"]] == doc["sn_neuron_ids"]
    rc, out, err = _run(capsys, "export", "--search", doc["key"], "--out", str(tmp_path / "sc"), "--json")
    assert rc == 0, err
    exported = json.loads(out)
    assert exported["neurons"] == [doc["shortcut_neuron_id"]] and exported["exit_layer"] == doc["shortcut_layer"]


def test_save_classifier_never_overwrites_another_file(tiny_llava_dir, sn_cache, tmp_path, capsys):
    victim = tmp_path / "data.csv"
    victim.write_text("image,question,label\na.png,q,red\n")
    for flag in ("--save-classifier", "--save-shortcut-classifier"):
        rc, out, err = _run(capsys, "search", "--model", str(tiny_llava_dir), flag, str(victim))
        assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert "is not a classifier file" in err and "not overwritten" in err
        assert victim.read_text() == "image,question,label\na.png,q,red\n"
