"""The shortcut for every exported family, the LLaVA-1.5 layout, integrity of external data, bf16 searches.

Each family's tiny model (``sn_core.models.tiny``, its vision tower cut to 8 blocks), plus a LLaVA built here with
LLaVA-1.5's layout (CLIP tower, ``vision_feature_layer=-2``, select strategy ``default``, which the SigLIP tiny LLaVA
does not have), is exported once after layer 1 with two neurons (MLP and residual sites). The examples are
bundled-task examples of three tasks mixed (different prompt lengths, so batches are left-padded) and images of
five sizes (different Qwen grids, SmolVLM tile counts and OneVision anyres layouts). The library's ``EarlyExitPredictor`` at batch 1 is the
reference; the shortcut runs at batch 1, 2 and 5. ``predict --shortcut ... --task`` and ``predict --classifier
... --task`` (library early exit) are compared label by label on a bundled task.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from sn_core.classifier import SuperNeuronClassifier

REL = 1e-4
# The vision towers are cut to 8 blocks (block-kind indexes remapped: Qwen2.5-VL's full-attention blocks 1, 3, 5, 7;
# Qwen3-VL's DeepStack taps 1, 3, 5): export time grows with the graph, and 8 blocks keep every pattern.
VISION_LAYERS = 8
FAMILIES = ["llava_1_5", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "smolvlm", "idefics3", "gemma3"]


def save_llava_1_5_layout(out, n_layers: int = 3, seed: int = 0):
    """A tiny LLaVA with LLaVA-1.5's layout: CLIP vision tower (2 layers, CLS token), ``vision_feature_layer=-2``,
    ``vision_feature_select_strategy="default"`` (the CLS token dropped), the 2-layer GELU projector, Llama text
    model; ``LlavaProcessor`` with ``CLIPImageProcessorPil`` and one additional image token (the CLS token)."""
    import torch
    from transformers import (CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    from sn_core.models.tiny import tiny_tokenizer

    tpl = ("{% for m in messages %}{{ m['role'].upper() }}: {% for p in m['content'] %}{% if p['type'] == 'image' %}"
           "<image>\n{% else %}{{ p['text'] }}{% endif %}{% endfor %} {% endfor %}"
           "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
    tok = tiny_tokenizer(["<s>", "</s>", "<image>"], tpl, {"image_token": "<image>"}, bos="<s>", eos="</s>")
    ip = CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16},
                               image_mean=[0.5] * 3, image_std=[0.5] * 3)
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=4, vision_feature_select_strategy="default",
                          chat_template=tpl, image_token="<image>", num_additional_image_tokens=1)
    torch.manual_seed(seed)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=2, image_size=16, patch_size=4, projection_dim=32),
        text_config=LlamaConfig(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                                num_hidden_layers=n_layers, vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=16,
        vision_feature_select_strategy="default", vision_feature_layer=-2, projector_hidden_act="gelu")
    model = LlavaForConditionalGeneration(cfg).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def _model_folder(family, out):
    if family == "llava_1_5":
        return save_llava_1_5_layout(out)
    from sn_core.models.tiny import save_tiny_vlm

    return save_tiny_vlm(family, out, n_layers=3, seed=0, vision_layers=VISION_LAYERS)


def _examples():
    """(images, questions): 12 bundled-task examples of three tasks, mixed, then 5 random images of 5 sizes."""
    from PIL import Image

    from sn_core.data import get_task

    rows = []
    for name in ("shapes-color", "digits-parity", "shapes-count"):
        task = get_task(name, 8, seed=0, part="eval")
        rows += [(e.image, e.question) for e in task.examples[:4]]
    order = np.random.default_rng(1).permutation(len(rows))
    rows = [rows[i] for i in order]
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(16, 16), (20, 36), (40, 24), (32, 32), (17, 29)]):
        rows.append((Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)),
                     "What color is the shape?" + " red" * i))
    return [r[0] for r in rows], [r[1] for r in rows]


def _close(a, b):
    scale = np.maximum(np.abs(b), np.abs(b).mean(axis=0, keepdims=True))
    return np.abs(a - b) <= REL * scale


@pytest.fixture(scope="module", params=FAMILIES)
def family_export(request, tmp_path_factory):
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.models import load_model
    from sn_core.shortcut import export_shortcut, load_shortcut

    root = tmp_path_factory.mktemp(request.param)
    folder = _model_folder(request.param, root / "model")
    loaded = load_model(str(folder), max_layers=2)
    images, questions = _examples()
    neurons = ("blocks.1.mlp.hook_post[3]", "blocks.1.hook_resid_post[5]")
    dummy = SuperNeuronClassifier(neurons=neurons).fit(np.random.default_rng(0).normal(size=(4, 2)), ["a", "b"] * 2)
    V = EarlyExitPredictor(loaded, dummy).values(images, questions)
    colours = ["blue", "green", "red", "yellow"]  # shapes-color's labels, so that predict --task can score them
    clf = SuperNeuronClassifier(neurons=neurons, rule="nearest_mean").fit(V, [colours[i % 4] for i in range(len(V))])
    clf.meta_ = {"model_id": str(folder), "weights_hash": loaded.weights_hash, "instruction": "Answer with one word.",
                 "meta": {"dtype": "float32"}}
    clf.to_json(root / "sn.json")
    out = export_shortcut(clf, root / "shortcut", loaded=loaded)
    return request.param, loaded, clf, load_shortcut(out, threads=2), root


def test_family_shortcut_equals_library_at_batch_1_2_5(family_export):
    from sn_core.shortcut.early_exit import EarlyExitPredictor

    family, loaded, clf, sc, _ = family_export
    images, questions = _examples()
    pred = EarlyExitPredictor(loaded, clf)
    ref = np.concatenate([pred.values([im], [q]) for im, q in zip(images, questions)])  # batch 1, no padding
    feeds = sc.encode(images[:5], questions[:5])
    assert (feeds["attention_mask"] == 0).any(), "the batch of 5 should be left-padded"
    for bs in (1, 2, 5):
        got = sc.predict(images, questions, batch_size=bs)
        assert _close(got.values, ref).all(), (family, bs, np.abs(got.values - ref).max())
        assert np.mean(np.array(got.labels) == pred.labels(ref)) >= 0.995, (family, bs)
    want = "llava" if family == "llava_1_5" else family
    assert sc.card["source_model"]["family"] == want and sc.card["onnx"]["external_data"] == []


def test_family_predict_shortcut_agrees_with_classifier_on_a_bundled_task(family_export, capsys):
    from sn_core.cli import main

    family, _, _, _, root = family_export
    docs = {}
    for flag, src in (("--shortcut", root / "shortcut"), ("--classifier", root / "sn.json")):
        rc = main(["predict", flag, str(src), "--task", "shapes-color", "--n-examples", "16", "--split", "all",
                   "--batch-size", "4", "--json"])
        cap = capsys.readouterr()
        assert rc == 0, cap.err
        docs[flag] = json.loads(cap.out)
    a, b = docs["--shortcut"]["predictions"], docs["--classifier"]["predictions"]
    assert len(a) == len(b) == 16
    agree = np.mean([p["predicted"] == q["predicted"] for p, q in zip(a, b)])
    assert agree >= 0.995, (family, agree)


def test_llava_1_5_layout_image_features_equal_get_image_features(tmp_path):
    """The graph's LLaVA image features (tower run to layer -2, CLS dropped) equal transformers' own."""
    import torch
    from PIL import Image

    from sn_core.models import load_model
    from sn_core.shortcut.families import llava_image_rows

    loaded = load_model(str(save_llava_1_5_layout(tmp_path / "m")), max_layers=1)
    core = loaded.model.model
    imgs = [Image.new("RGB", (20 + 3 * i, 16), (40 * i, 20, 200)) for i in range(3)]
    pv = loaded.processor.image_processor(imgs, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        want = torch.cat(list(core.get_image_features(pixel_values=pv, return_dict=True,
                                                      vision_feature_layer=-2,
                                                      vision_feature_select_strategy="default").pooler_output))
        got = llava_image_rows(core, pv)
    assert got.shape == (3 * 16, 32)
    assert torch.allclose(got, want.reshape(got.shape), atol=1e-6)


# ------------------------------------------------------------------------------------------ integrity at size
@pytest.fixture(scope="module")
def external_export(tiny_llava_artifact, tmp_path_factory):
    from sn_core.shortcut import export_shortcut

    _, loaded, clf = tiny_llava_artifact
    return export_shortcut(clf, tmp_path_factory.mktemp("external") / "shortcut", loaded=loaded, external_data=True)


def test_external_data_is_pinned_and_an_edited_byte_is_refused(external_export, tmp_path):
    import shutil

    from PIL import Image

    from sn_core.shortcut import ShortcutError, load_shortcut

    card = json.loads((external_export / "card.json").read_text())
    ext = card["onnx"]["external_data"]
    assert [e["file"] for e in ext] == ["shortcut.onnx.data"]
    data = external_export / "shortcut.onnx.data"
    assert ext[0]["bytes"] == data.stat().st_size > 4096  # the large weights; small tensors stay in the graph
    sc = load_shortcut(external_export)
    assert sc.predict([Image.new("RGB", (16, 16))], "Is it red?").labels[0] in ("no", "yes")
    for what, edit, message in (
            ("byte", lambda b: b[:1000] + bytes([b[1000] ^ 1]) + b[1001:], "weights file hash mismatch"),
            ("truncated", lambda b: b[:-4], "weights file size"),
    ):
        c = shutil.copytree(external_export, tmp_path / what)
        (c / "shortcut.onnx.data").write_bytes(edit((c / "shortcut.onnx.data").read_bytes()))
        with pytest.raises(ShortcutError, match=message) as e:
            load_shortcut(c)
        assert "\n" not in str(e.value)
    c = shutil.copytree(external_export, tmp_path / "gone")
    (c / "shortcut.onnx.data").unlink()
    with pytest.raises(ShortcutError, match="weights file shortcut.onnx.data is missing"):
        load_shortcut(c)


def test_streamed_zip_holds_the_external_data_and_reports_progress(external_export, tmp_path):
    import zipfile

    from sn_core.shortcut import load_shortcut, write_shortcut_zip

    seen = []
    total = write_shortcut_zip(external_export, tmp_path / "s.zip", progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (total, total) and all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))
    with zipfile.ZipFile(tmp_path / "s.zip") as zf:
        info = zf.getinfo("shortcut/shortcut.onnx.data")
        assert info.compress_type == zipfile.ZIP_STORED
        zf.extractall(tmp_path / "x")
    assert load_shortcut(tmp_path / "x" / "shortcut").neurons == ["blocks.0.mlp.hook_post[3]"]


def test_unsupported_family_is_refused_before_any_weight_loads(tmp_path, monkeypatch):
    """A folder whose config names a family without exporter: refused from config.json alone (no weights are
    there to load), in one line, nothing written."""
    import sn_core.models as models
    from sn_core.shortcut import ShortcutError, export_shortcut

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"model_type": "paligemma"}))
    clf = SuperNeuronClassifier(neurons=("blocks.0.mlp.hook_post[1]",)).fit([[0.0], [1.0]], ["a", "b"])
    clf.meta_ = {"model_id": str(tmp_path / "m")}

    def never(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(models, "load_model", never)
    with pytest.raises(ShortcutError, match="family 'paligemma'") as e:
        export_shortcut(clf, tmp_path / "out")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ bf16 searches
def test_bf16_classifier_is_refit_on_float32_values_and_exports(tmp_path):
    """A classifier whose thresholds come from bf16 values exports: the rule is re-fitted on float32 values of
    the same probe examples, the card records both fits, the graph agrees with the float32 library."""
    import torch

    from sn_core.data import get_task, make_split
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.models import load_model
    from sn_core.shortcut import export_shortcut, load_shortcut
    from sn_core.models.tiny import save_tiny_vlm

    folder = save_tiny_vlm("llava", tmp_path / "model", n_layers=2, seed=0)
    loaded = load_model(str(folder), max_layers=1)
    neuron = ("blocks.0.mlp.hook_post[3]",)
    task = get_task("shapes-color", 400, seed=0, part="eval")
    sp = make_split(task.y, 5, None, 0)
    probe = [task.examples[int(i)] for i in np.sort(sp.probe)]
    dummy = SuperNeuronClassifier(neurons=neuron).fit([[0.0], [1.0]], ["a", "b"])
    V = EarlyExitPredictor(loaded, dummy).values([e.image for e in probe], [e.question for e in probe])
    V16 = torch.tensor(V).to(torch.bfloat16).to(torch.float64).numpy()  # the values a bf16 search would see
    clf = SuperNeuronClassifier(neurons=neuron).fit(V16, [e.label for e in probe])
    clf.meta_ = {"model_id": str(folder), "weights_hash": loaded.weights_hash, "task": "shapes-color",
                 "instruction": task.instruction, "meta": {"dtype": "bf16", "seed": 0, "probe_per_class": 5}}
    clf.to_json(tmp_path / "sn.json")
    out = export_shortcut(tmp_path / "sn.json", tmp_path / "sc", refit_test=True)
    sc = load_shortcut(out)
    refit = sc.card["refit"]
    assert refit["from_dtype"] == "bf16" and refit["probe_examples"] == len(probe)
    assert refit["original"]["classifier"]["meta"]["dtype"] == "bf16"
    assert 0 <= refit["float32"]["probe_accuracy"] <= 1 and refit["float32"]["test_accuracy"] is not None
    assert refit["test_examples"] == len(sp.test)
    assert sc.card["classifier"]["meta"]["dtype"] == "float32" and sc.card["accuracy"]["test"] == \
        refit["float32"]["test_accuracy"]
    new = SuperNeuronClassifier.from_dict(sc.card["classifier"])
    fresh = SuperNeuronClassifier(neurons=neuron).fit(V, [e.label for e in probe])  # fitted on float32 values
    assert (new.predict(V) == fresh.predict(V)).all()
    test = [task.examples[int(i)] for i in np.sort(sp.test)][:24]
    ref = EarlyExitPredictor(loaded, new)
    rv = ref.values([e.image for e in test], [e.question for e in test])
    got = sc.predict([e.image for e in test], [e.question for e in test], batch_size=8)
    assert np.mean(np.array(got.labels) == ref.labels(rv)) >= 0.995
    # the GPU user's float16 graph: measured on the same probe examples, with their labels
    from sn_core.shortcut.half import float16_shortcut

    sc16 = load_shortcut(float16_shortcut(out, tmp_path / "sc16"))
    rec = sc16.card["float16"]
    assert rec["source"] == "probe examples of task 'shapes-color'" and rec["examples"] == len(probe)
    assert abs(rec["probe_accuracy"]["float32"] - refit["float32"]["probe_accuracy"]) <= 1 / len(probe)
    assert abs(rec["probe_accuracy"]["float16"] - rec["probe_accuracy"]["float32"]) <= 2 / len(probe)
    g16 = sc16.predict([e.image for e in test], [e.question for e in test], batch_size=8)
    assert np.allclose(g16.values, rv, rtol=F16_REL, atol=F16_REL * np.abs(rv).mean())
    assert np.mean(np.array(g16.labels) == np.array(got.labels)) >= 0.9


# ------------------------------------------------------------------------------------------ float16 graphs
F16_REL = 2e-2  # float16 keeps 11 significant bits: values within 2% of the neuron's scale (float32: 1e-4)


def test_family_float16_graph_tracks_the_library(family_export, tmp_path):
    """Each family's float32 shortcut converted to float16: values follow the library's float32 values within
    float16 rounding, the label is the card's (float32) rule applied to the float16 values, and labels agree with
    the float32 graph on (nearly) every example."""
    from sn_core.shortcut import load_shortcut
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.shortcut.half import float16_shortcut

    family, loaded, clf, sc, root = family_export
    sc16 = load_shortcut(float16_shortcut(root / "shortcut", tmp_path / "sc16"), threads=2)
    assert sc16.dtype == "float16" and sc16.card["onnx"]["float32_sha256"] == sc.card["onnx"]["sha256"]
    images, questions = _examples()
    ref = EarlyExitPredictor(loaded, clf).values(images, questions)
    got = sc16.predict(images, questions, batch_size=5)
    scale = np.maximum(np.abs(ref), np.abs(ref).mean(axis=0, keepdims=True))
    assert (np.abs(got.values - ref) <= F16_REL * scale).all(), (family, np.abs(got.values - ref).max())
    assert not np.allclose(got.values, ref, rtol=1e-6, atol=0), "the values should carry float16 rounding"
    assert got.labels == list(clf.predict(got.values)), family  # the float32 rule on the float16 values
    f32 = sc.predict(images, questions, batch_size=5)
    rec = sc16.card["float16"]
    assert rec["examples"] == 12 and rec["source"].startswith("12 generated images")
    assert rec["label_agreement"] >= 0.9 and max(rec["max_rel_value_diff"]) <= F16_REL, (family, rec)
    assert np.mean(np.array(got.labels) == np.array(f32.labels)) >= 0.9, family


def test_float16_external_data_is_half_the_bytes_and_pinned(external_export, tmp_path):
    from sn_core.shortcut import ShortcutError, load_shortcut
    from sn_core.shortcut.half import float16_shortcut

    out = float16_shortcut(external_export, tmp_path / "sc16")
    card = json.loads((out / "card.json").read_text())
    src = json.loads((external_export / "card.json").read_text())
    ext = card["onnx"]["external_data"]
    assert [e["file"] for e in ext] == ["shortcut.onnx.data"] and card["onnx"]["dtype"] == "float16"
    assert 0.45 <= ext[0]["bytes"] / src["onnx"]["external_data"][0]["bytes"] <= 0.55
    assert card["files"] == src["files"] and card["classifier"] == src["classifier"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sc16"]  # no partial folder left beside it
    data = out / "shortcut.onnx.data"
    raw = data.read_bytes()
    data.write_bytes(raw[:500] + bytes([raw[500] ^ 1]) + raw[501:])
    with pytest.raises(ShortcutError, match="weights file hash mismatch"):
        load_shortcut(out)
    data.write_bytes(raw)
    with pytest.raises(ShortcutError, match="float16 graph; float16 conversion starts from a float32"):
        float16_shortcut(out, tmp_path / "again")
    assert not (tmp_path / "again").exists()


def test_cli_export_float16_and_shortcut_devices(tiny_llava_artifact, tmp_path, capsys):
    """``export --float16`` writes and reports a float16 shortcut; ``predict --shortcut`` runs it on ``--device
    cpu`` and refuses a provider this onnxruntime lacks, a bad device and ``--dtype``, each in one line."""
    import onnxruntime
    from PIL import Image

    from sn_core.cli import main

    root, _, _ = tiny_llava_artifact
    rc = main(["export", "--classifier", str(root / "sn.json"), "--out", str(tmp_path / "sc16"), "--float16",
               "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    doc = json.loads(cap.out)
    assert doc["dtype"] == "float16" and doc["float16"]["examples"] == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sc16"]  # the float32 step's folder is gone
    Image.new("RGB", (20, 16), (220, 20, 20)).save(tmp_path / "red.png")
    base = ["predict", "--shortcut", str(tmp_path / "sc16"), "--image", str(tmp_path / "red.png"), "--question",
            "Is it red?", "--json"]
    assert main(base + ["--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in ("yes", "no")
    cases = [(["--dtype", "bf16"], "--dtype applies to --classifier"), (["--device", "tpu"], "cpu, cuda or cuda:N"),
             (["--device", "cuda:x"], "cpu, cuda or cuda:N")]
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        cases.append((["--device", "cuda"], "no CUDAExecutionProvider .*onnxruntime-gpu"))
    for extra, message in cases:
        rc = main(base + extra)
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1, (extra, err)
        assert re.search(message, err), (extra, err)
