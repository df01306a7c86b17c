"""Artifacts and data a user brings that do not fit: a classifier made for other weights, tasks too small to split.

- A classifier JSON whose weights hash (or model) differs from the loaded model is refused, by the library
  (``load_predictor``, ``EarlyExitPredictor``) and by ``python -m sn_core predict`` (exit 2, one line); the same
  artifact with the right hash works, so the refusal is about the hash and nothing else.
- A class with fewer examples than the probe split needs, and a one-class task, give one clear error naming the
  class through ``run_search`` and the CLI (exit 2, one line), before any activation is computed.
Runs on the tiny random LLaVA of ``conftest.py``.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from sn_core.classifier.estimator import ArtifactError, SuperNeuronClassifier
from sn_core.cli.main import main
from sn_core.data import Task, get_task

pytestmark = pytest.mark.reliability

NID = "blocks.1.mlp.hook_post[3]"


def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]
    return rc, out, lines


def _artifact(path, model_id, weights_hash):
    clf = SuperNeuronClassifier(neurons=(NID,)).fit(np.array([[0.0], [1.0], [0.2], [0.9]]), ["a", "b", "a", "b"])
    clf.to_json(path, model_id=model_id, weights_hash=weights_hash, instruction="Answer with one word.")
    return path


@pytest.fixture()
def image(tmp_path):
    path = tmp_path / "x.png"
    get_task("shapes-color", 1).examples[0].image.save(path)
    return path


def test_reliability_classifier_for_other_weights_is_refused(tiny_llava_dir, tiny_llava, tmp_path, image, capsys,
                                                             sn_cache):
    from sn_core.shortcut.early_exit import EarlyExitPredictor, load_predictor

    good = _artifact(tmp_path / "good.json", str(tiny_llava_dir), tiny_llava.weights_hash)
    other = "f" * 64
    bad = _artifact(tmp_path / "bad.json", str(tiny_llava_dir), other)

    # Library: the artifact for other weights is refused with both hashes named; the right one loads.
    with pytest.raises(ArtifactError, match=r"fitted on weights ffffffffffff.*re-run the search"):
        load_predictor(bad)
    assert load_predictor(good).predict(image, "What color is the shape?").label in ("a", "b")
    clf = SuperNeuronClassifier.from_json(bad)
    with pytest.raises(ArtifactError, match="fitted on weights ffffffffffff"):
        EarlyExitPredictor(tiny_llava, clf)
    with pytest.raises(ArtifactError, match="model_id"):
        SuperNeuronClassifier.from_json(good, expect_model_id="demo")

    # CLI: one line, exit 2; the good artifact answers.
    rc, out, lines = _cli(capsys, "predict", "--classifier", bad, "--image", image, "--question", "q")
    assert rc == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: ")
    assert "fitted on weights ffffffffffff" in lines[0] and "bad.json" in lines[0]
    rc, out, lines = _cli(capsys, "predict", "--classifier", good, "--image", image, "--question", "q", "--json")
    assert rc == 0 and json.loads(out)["label"] in ("a", "b")

    # --model pointing at other weights than the artifact's: refused the same way.
    import shutil

    from safetensors.numpy import load_file, save_file

    changed = tmp_path / "changed-model"
    shutil.copytree(tiny_llava_dir, changed)
    w = load_file(changed / "model.safetensors")
    name = next(iter(w))
    w[name] = w[name] + 1.0
    save_file(w, changed / "model.safetensors", metadata={"format": "pt"})
    rc, _, lines = _cli(capsys, "predict", "--classifier", good, "--image", image, "--question", "q", "--model",
                        changed)
    assert rc == 2 and len(lines) == 1 and "fitted on weights" in lines[0]

    # An artifact naming a model that is not here: a clear model error, not a traceback.
    gone = _artifact(tmp_path / "gone.json", "some-org/not-cached-anywhere", other)
    rc, _, lines = _cli(capsys, "predict", "--classifier", gone, "--image", image, "--question", "q")
    assert rc == 2 and len(lines) == 1 and "not-cached-anywhere" in lines[0] and "demo" in lines[0]


def _small_task(counts: dict[str, int]) -> Task:
    base = get_task("shapes-color", 80, seed=3)
    examples = []
    for label, n in counts.items():
        examples += [e for e in base.examples if e.label == label][:n]
    return Task("tiny-task", tuple(sorted(counts)), examples, instruction=base.instruction)


def _write_manifest(task: Task, folder):
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, ex in enumerate(task.examples):
        ex.image.save(folder / f"{i}.png")
        rows.append(json.dumps({"image": f"{i}.png", "question": ex.question, "label": ex.label}))
    (folder / "task.jsonl").write_text("\n".join(rows))
    return folder / "task.jsonl"


def test_reliability_too_few_examples_per_class(tiny_llava, tmp_path, capsys, sn_cache):
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    task = _small_task({"red": 9, "blue": 3})  # blue: 3 < 4 probe + 1 test
    cfg = SearchConfig(model="unused", task="tiny-task", probe_per_class=4, baselines=False)
    with pytest.raises(ValueError, match=r"class 'blue' has 3 examples, but the split needs at least 5"):
        run_search(cfg, task=task, loaded=tiny_llava)
    assert not list(sn_cache.glob("*/chunks")), "nothing may be extracted for a task that cannot be split"

    manifest = _write_manifest(task, tmp_path / "few")
    rc, out, lines = _cli(capsys, "search", "--model", tiny_llava.source, "--task", manifest, "--probe-per-class", 4,
                          "--no-baselines", "--quiet")
    assert rc == 2 and out == "" and len(lines) == 1
    assert lines[0].startswith("error: class 'blue' has 3 examples") and "needs at least 5" in lines[0]
    # --test-per-class raises the need: named in the message too.
    rc, _, lines = _cli(capsys, "search", "--model", tiny_llava.source, "--task", manifest, "--probe-per-class", 2,
                        "--test-per-class", 5, "--no-baselines", "--quiet")
    assert rc == 2 and len(lines) == 1 and "2 probe + 5 test" in lines[0]


def test_reliability_one_class_task(tiny_llava, tmp_path, capsys, sn_cache):
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    task = _small_task({"red": 10})
    cfg = SearchConfig(model="unused", task="tiny-task", probe_per_class=2, baselines=False)
    with pytest.raises(ValueError, match=r"at least two classes.*\['red'\]"):
        run_search(cfg, task=task, loaded=tiny_llava)
    manifest = _write_manifest(task, tmp_path / "one")
    rc, out, lines = _cli(capsys, "search", "--model", tiny_llava.source, "--task", manifest, "--no-baselines",
                          "--quiet")
    assert rc == 2 and out == "" and len(lines) == 1
    assert lines[0].startswith("error: ") and "'red'" in lines[0] and "two classes" in lines[0]
    # The same through an image folder with a single class subfolder.
    (tmp_path / "folder" / "red").mkdir(parents=True)
    for i, ex in enumerate(task.examples):
        ex.image.save(tmp_path / "folder" / "red" / f"{i}.png")
    rc, _, lines = _cli(capsys, "search", "--model", tiny_llava.source, "--task", tmp_path / "folder", "--question",
                        "What color?", "--no-baselines", "--quiet")
    assert rc == 2 and len(lines) == 1 and "class" in lines[0]
