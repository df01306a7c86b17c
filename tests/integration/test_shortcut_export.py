"""Exported shortcuts (sn_core.shortcut) against the library's early exit, tampering, bad input and the CLI.

Equality: one graph per exit layer of the demo model (after layer 0, a middle layer and the last layer), each
exported once per module. Every bundled task contributes the test split of ``make_split(probe 1, test 1 per
class)`` of its first 40 eval examples (one test example per class: modest counts keep the test short); the library's ``EarlyExitPredictor`` at batch 1 (no padding) is the
reference, and the shortcut runs at batch 1 and on batches of 8 that mix tasks (left padding, different prompt
lengths). Values agree within 1e-4 relative (``_close``). Each graph carries its own classifier (a real fit on probe values), so the card describes it.
"""
from __future__ import annotations

import json
import shutil
import zipfile
import io

import numpy as np
import pytest

from sn_core.classifier.estimator import SuperNeuronClassifier

REL = 1e-4


def _fit(loaded, neurons, X_images, X_questions, y, rule="auto"):
    """A classifier over ``neurons`` fitted on the library's values of the given examples."""
    from sn_core.shortcut.early_exit import EarlyExitPredictor

    rng = np.random.default_rng(0)
    dummy = SuperNeuronClassifier(neurons=tuple(neurons)).fit(rng.normal(size=(4, len(neurons))), ["a", "b"] * 2)
    V = EarlyExitPredictor(loaded, dummy).values(X_images, X_questions)
    clf = SuperNeuronClassifier(neurons=tuple(neurons), rule=rule).fit(V, y)
    clf.meta_ = {"model_id": loaded.model_id, "weights_hash": loaded.weights_hash,
                 "instruction": "Answer with one word.", "meta": {"dtype": "float32"}}
    return clf


def _close(a, b):
    """|a - b| <= REL * max(|b|, the neuron's mean magnitude on these examples), per column. (float32 rounding
    follows the size of the whole activation, not of one value: a residual-stream value near zero next to values
    of 10 carries their absolute error.)"""
    scale = np.maximum(np.abs(b), np.abs(b).mean(axis=0, keepdims=True))
    return np.abs(a - b) <= REL * scale


@pytest.fixture(scope="module")
def bundled_examples():
    from sn_core.data import bundled_task_names, get_task, make_split

    rows = []  # (task, image, question, label)
    for name in bundled_task_names():
        task = get_task(name, 40, seed=0, part="eval")
        sp = make_split(task.y, 1, 1, seed=0)
        for i in sorted(int(v) for v in sp.test):
            ex = task.examples[i]
            rows.append((name, ex.image, ex.question, ex.label))
    order = np.random.default_rng(1).permutation(len(rows))  # batches then mix tasks (prompt lengths)
    return [rows[i] for i in order]


DEMO_EXITS = {  # exit layer -> (neurons, task the rule is fitted on, rule)
    0: (("blocks.0.mlp.hook_post[446]", "blocks.0.mlp.hook_post[17]", "blocks.0.hook_resid_post[5]"),
        "shapes-color", "auto"),
    8: (("blocks.8.mlp.hook_post[436]",), "digits-parity", "auto"),
    15: (("blocks.15.mlp.hook_post[17]",), "shapes-color", "ovr_stump"),
}


@pytest.fixture(scope="module", params=sorted(DEMO_EXITS), ids=lambda L: f"exit{L}")
def demo_shortcut(request, tmp_path_factory):
    from sn_core.data import get_task
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.models import load_model
    from sn_core.shortcut import export_shortcut, load_shortcut

    layer = request.param
    neurons, task_name, rule = DEMO_EXITS[layer]
    loaded = load_model("demo", dtype="float32", max_layers=layer + 1)
    probe = get_task(task_name, 40, seed=5, part="eval")
    clf = _fit(loaded, neurons, [e.image for e in probe.examples], [e.question for e in probe.examples], probe.y,
               rule)
    out = export_shortcut(clf, tmp_path_factory.mktemp(f"demo-exit{layer}") / "shortcut", loaded=loaded)
    return layer, EarlyExitPredictor(loaded, clf), load_shortcut(out, threads=2), out


@pytest.mark.slow
def test_demo_shortcut_equals_library_on_every_bundled_task(demo_shortcut, bundled_examples):
    layer, pred, sc, _ = demo_shortcut
    images = [r[1] for r in bundled_examples]
    questions = [r[2] for r in bundled_examples]
    ref_values = np.concatenate([pred.values([im], [q]) for im, q in zip(images, questions)])  # batch 1
    ref_labels = pred.labels(ref_values)
    feeds = sc.encode(images[:8], questions[:8])
    assert (feeds["attention_mask"] == 0).any(), "the mixed batch should be left-padded"
    assert len(set(feeds["attention_mask"].sum(1).tolist())) > 1
    for bs in (1, 8):
        got = sc.predict(images, questions, batch_size=bs)
        agree = np.mean(np.array(got.labels) == ref_labels)
        assert agree >= 0.995, (layer, bs, agree)
        ok = _close(got.values, ref_values)
        assert ok.all(), (layer, bs, np.abs(got.values - ref_values).max())
    by_task = {}
    for (name, *_), lbl, ref in zip(bundled_examples, got.labels, ref_labels):
        by_task.setdefault(name, []).append(lbl == ref)
    assert all(np.mean(v) >= 0.995 for v in by_task.values())  # every bundled task on its own
    card = sc.card
    assert card["exit_layer"] == layer and card["neurons"][0]["id"] == pred.clf.neurons_[0]
    assert card["source_model"]["weights_hash"] == pred.loaded.weights_hash
    assert card["flops"]["flop_limit"] > 1 and card["onnx"]["opset"] >= 18
    assert card["versions"]["onnxruntime"] and card["rule"]["name"] == pred.clf.rule_


@pytest.mark.parametrize("family,exit_layer,neurons,rule", [
    ("llava", 1, ("blocks.1.mlp.hook_post[3]", "blocks.1.attn.hook_z[5]"), "nearest_mean"),
    ("llava_onevision", 2, ("blocks.2.mlp.hook_post[7]",), "ovr_stump"),
    ("llava_onevision", 0, ("blocks.0.hook_resid_post[2]",), "stump"),
])
def test_tiny_families_export_and_agree(family, exit_layer, neurons, rule, tmp_path):
    from PIL import Image

    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.models import load_model
    from sn_core.shortcut import export_shortcut, load_shortcut
    from sn_core.models.tiny import save_tiny_vlm

    folder = save_tiny_vlm(family, tmp_path / "model", n_layers=3, seed=0, vision_layers=8)  # export time ~ depth
    loaded = load_model(str(folder), max_layers=exit_layer + 1)
    rng = np.random.default_rng(0)
    sizes = [(16, 16), (20, 36), (40, 24), (32, 32), (17, 29)]  # OneVision: different anyres grids and unpadding
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for i in range(20)
              for h, w in [sizes[i % len(sizes)]]]
    questions = ["What color is the shape?" + " red" * (i % 4) for i in range(20)]
    n_cls = 2 if rule == "stump" else 3
    y = [str(i % n_cls) for i in range(20)]
    clf = _fit(loaded, neurons, images, questions, y, rule)
    sc = load_shortcut(export_shortcut(clf, tmp_path / "sc", loaded=loaded), threads=2)
    pred = EarlyExitPredictor(loaded, clf)
    ref = np.concatenate([pred.values([im], [q]) for im, q in zip(images, questions)])
    for bs in (1, 8):
        got = sc.predict(images, questions, batch_size=bs)
        assert _close(got.values, ref).all(), (bs, np.abs(got.values - ref).max())
        assert np.mean(np.array(got.labels) == pred.labels(ref)) >= 0.995
    assert sc.card["source_model"]["family"] == family


# ------------------------------------------------------------------------------------------ tampering / bad input
@pytest.fixture(scope="module")
def tiny_export(tiny_llava_artifact, tmp_path_factory):
    """The tiny LLaVA's folder (model, classifier artifact) and a shortcut exported from it."""
    from sn_core.shortcut import export_shortcut

    root, loaded, clf = tiny_llava_artifact
    return root, export_shortcut(clf, tmp_path_factory.mktemp("tiny-export") / "shortcut", loaded=loaded)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_edited_graph_card_or_processor_file_is_a_hash_mismatch(tiny_export, tmp_path):
    from sn_core.shortcut import ShortcutError, load_shortcut

    _, out = tiny_export
    g = _copy(out, tmp_path / "g")
    data = bytearray((g / "shortcut.onnx").read_bytes())
    data[-1] ^= 1
    (g / "shortcut.onnx").write_bytes(bytes(data))
    with pytest.raises(ShortcutError, match="graph hash mismatch"):
        load_shortcut(g)
    c = _copy(out, tmp_path / "c")
    card = json.loads((c / "card.json").read_text())
    card["labels"] = list(reversed(card["labels"]))
    (c / "card.json").write_text(json.dumps(card))
    with pytest.raises(ShortcutError, match="card hash mismatch"):
        load_shortcut(c)
    p = _copy(out, tmp_path / "p")
    (p / "processor" / "chat_template.jinja").write_text("{{ messages }}")
    with pytest.raises(ShortcutError, match="hash mismatch"):
        load_shortcut(p)
    assert load_shortcut(out).labels == ["no", "yes"]  # the original still verifies


@pytest.mark.parametrize("edit, field", [
    (lambda c: c.update(labels=["blue"]), "labels"),
    (lambda c: c.update(labels=["a", "b", "c", "d", "e"]), "labels"),
    (lambda c: c.update(labels=list(reversed(c["labels"]))), "labels"),
    (lambda c: c.update(neurons=[]), "neurons"),
    (lambda c: c.update(neurons=[{"id": "blocks.0.mlp.hook_post[4]"}]), "neurons"),
    (lambda c: c.pop("onnx"), "onnx"),
    (lambda c: c["onnx"].update(file="../elsewhere.onnx"), "onnx"),
    (lambda c: c.update(exit_layer="0"), "exit_layer"),
    (lambda c: c.pop("classifier"), "classifier"),
])
def test_resealed_card_with_inconsistent_fields_is_refused(tiny_export, tmp_path, edit, field):
    """A card edited and re-sealed (its hash recomputed) passes the hash check: its fields are checked too."""
    from sn_core.shortcut import ShortcutError, load_shortcut
    from sn_core.shortcut.card import seal

    c = _copy(tiny_export[1], tmp_path / "c")
    card = json.loads((c / "card.json").read_text())
    edit(card)
    (c / "card.json").write_text(json.dumps(seal(card)))
    with pytest.raises(ShortcutError, match=f"card field '{field}'") as e:
        load_shortcut(c)
    assert "\n" not in str(e.value)


def test_missing_onnxruntime_is_one_line(tiny_export, monkeypatch):
    import builtins

    from sn_core.shortcut import ShortcutError, load_shortcut

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "onnxruntime" or name.startswith("onnxruntime."):
            raise ImportError("No module named 'onnxruntime'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ShortcutError, match="onnxruntime is not installed") as e:
        load_shortcut(tiny_export[1])
    assert "\n" not in str(e.value)


def test_failed_export_leaves_nothing(tiny_export, tmp_path, monkeypatch):
    import torch

    from sn_core.models import load_model
    from sn_core.shortcut import ShortcutError, export_shortcut

    root, _ = tiny_export
    clf = SuperNeuronClassifier.from_json(root / "sn.json")
    loaded = load_model(str(root / "model"), max_layers=1)

    def boom(*a, **k):
        raise RuntimeError("exporter broke\nsecond line")

    monkeypatch.setattr(torch.onnx, "export", boom)
    with pytest.raises(ShortcutError, match="exporter broke") as e:
        export_shortcut(clf, tmp_path / "out", loaded=loaded)
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # no --out, no temporary folder


def test_terminated_cli_export_leaves_nothing(tiny_export, tmp_path, monkeypatch, capsys):
    """SIGTERM while the graph is written: exit 130, an export-specific message, no --out, no temporary folder."""
    import os
    import signal

    import torch

    from sn_core.cli.main import main

    root, _ = tiny_export

    def terminated(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)  # delivered at once to the main thread: the CLI's handler raises
        raise AssertionError("SIGTERM was not turned into an interrupt")

    monkeypatch.setattr(torch.onnx, "export", terminated)
    before = signal.getsignal(signal.SIGTERM)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc = main(["export", "--classifier", str(root / "sn.json"), "--out", str(out_dir / "sc")])
    err = capsys.readouterr().err
    assert rc == 130 and err == "error: interrupted; nothing was written to --out\n", err
    assert list(out_dir.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before  # the CLI restores the caller's handler


def test_zip_bytes_hold_a_verified_shortcut(tiny_export, tmp_path):
    from sn_core.shortcut import load_shortcut, shortcut_zip_bytes

    data = shortcut_zip_bytes(folder=tiny_export[1])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert "shortcut/card.json" in names and "shortcut/shortcut.onnx" in names
        zf.extractall(tmp_path)
    assert load_shortcut(tmp_path / "shortcut").neurons == ["blocks.0.mlp.hook_post[3]"]


# ------------------------------------------------------------------------------------------ CLI
def _cli(capsys, *argv):
    from sn_core.cli.main import main

    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_cli_export_predict_and_errors(tiny_export, tmp_path, capsys):
    from PIL import Image

    root, _ = tiny_export
    rc, out, err = _cli(capsys, "export", "--classifier", str(root / "sn.json"), "--out", str(tmp_path / "x"),
                        "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["exit_layer"] == 0 and len(doc["graph_sha256"]) == 64
    # an image-folder task: shortcut and library agree example by example
    for lbl, colour in (("yes", (220, 20, 20)), ("no", (20, 20, 220))):
        (tmp_path / "imgs" / lbl).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (20 + 4 * i, 16), colour).save(tmp_path / "imgs" / lbl / f"{i}.png")
    docs = {}
    for flag, src in (("--shortcut", tmp_path / "x"), ("--classifier", root / "sn.json")):
        rc, out, err = _cli(capsys, "predict", flag, str(src), "--task", str(tmp_path / "imgs"), "--question",
                            "Is it red?", "--json")
        assert rc == 0, err
        docs[flag] = json.loads(out)
    a, b = docs["--shortcut"], docs["--classifier"]
    assert a["n"] == b["n"] == 6 and a["examples"]["split"] == "all"
    assert [p["predicted"] for p in a["predictions"]] == [p["predicted"] for p in b["predictions"]]
    assert np.allclose([p["value"] for p in a["predictions"]], [p["value"] for p in b["predictions"]], rtol=1e-4,
                       atol=1e-6)
    assert set(a["per_class"]) <= {"yes", "no"} and a["predictions"][0]["image"].endswith(".png")
    rc, out, err = _cli(capsys, "predict", "--shortcut", str(tmp_path / "x"), "--image",
                        str(tmp_path / "imgs" / "yes" / "0.png"), "--question", "Is it red?", "--json")
    assert rc == 0 and json.loads(out)["label"] in ("yes", "no")
    shutil.copytree(tmp_path / "imgs" / "yes", tmp_path / "only-yes" / "yes")  # one class: evaluating is fine
    rc, out, err = _cli(capsys, "predict", "--shortcut", str(tmp_path / "x"), "--task", str(tmp_path / "only-yes"),
                        "--question", "Is it red?", "--json")
    assert rc == 0, err
    one = json.loads(out)
    assert one["n"] == len(list((tmp_path / "only-yes" / "yes").iterdir())) == one["per_class"]["yes"]["n"]
    assert one["per_class"].get("no", {"n": 0})["n"] == 0
    assert one["accuracy"] == one["per_class"]["yes"]["correct"] / one["n"]
    rc, out, err = _cli(capsys, "predict", "--shortcut", str(tmp_path / "x"), "--task", str(tmp_path / "only-yes"),
                        "--question", "Is it red?", "--split", "test")  # a split needs two classes
    assert rc == 2 and "at least two classes" in err, err
    rc, out, err = _cli(capsys, "predict", "--shortcut", str(tmp_path / "x"), "--task", "shapes-color", "--n-examples",
                        "8", "--split", "all", "--json")  # labels red, green, ... against a yes/no shortcut
    assert rc == 2 and out == "" and err.count("\n") == 1 and "none of the task's labels" in err, err
    # errors: one line, exit 2
    (tmp_path / "x" / "shortcut.onnx").write_bytes(b"not a graph")
    cases = [
        ("predict", "--shortcut", str(tmp_path / "x"), "--task", str(tmp_path / "imgs"), "--question", "q"),
        ("predict", "--shortcut", str(tmp_path / "nope"), "--image", "a.png", "--question", "q"),
        ("export", "--classifier", str(root / "sn.json"), "--out", str(tmp_path / "x")),  # not empty
        ("export", "--search", "no-such-key", "--out", str(tmp_path / "y")),
        ("export", "--classifier", str(root / "sn.json"), "--out", str(tmp_path / "no" / "dir")),
        ("predict", "--classifier", str(root / "sn.json")),
    ]
    for argv in cases:
        rc, out, err = _cli(capsys, *argv)
        assert rc == 2, (argv, err)
        assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "y").exists()


def test_cli_export_with_model_folder_gone(tiny_export, tmp_path, capsys):
    root, _ = tiny_export
    moved = _copy(root / "model", tmp_path / "model")
    clf = SuperNeuronClassifier.from_json(root / "sn.json")
    clf.to_json(tmp_path / "sn.json", model_id=str(moved))
    shutil.rmtree(moved)
    rc, out, err = _cli(capsys, "export", "--classifier", str(tmp_path / "sn.json"), "--out", str(tmp_path / "o"))
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "--model" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sn.json"]  # nothing half-written


def test_cli_predict_task_on_bundled_test_split(tmp_path, capsys):
    """predict --task on a bundled task uses the test split the classifier's search settings give."""
    from sn_core.models import load_model

    loaded = load_model("demo", max_layers=1)
    clf = SuperNeuronClassifier(neurons=("blocks.0.mlp.hook_post[446]",)).fit([[0.0], [0.1], [0.2], [0.3]],
                                                                              ["no", "yes", "no", "yes"])
    clf.to_json(tmp_path / "sn.json", model_id="demo", weights_hash=loaded.weights_hash, instruction="Answer with one word.",
                seed=3, probe_per_class=4)
    rc, out, err = _cli(capsys, "predict", "--classifier", str(tmp_path / "sn.json"), "--task", "digits-parity",
                        "--n-examples", "20", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    ex = doc["examples"]
    assert ex["split"] == "test" and ex["seed"] == 3 and ex["probe_per_class"] == 4 and doc["n"] == 20 - 2 * 4
    assert sum(c["n"] for c in doc["per_class"].values()) == doc["n"] == len(doc["predictions"])
