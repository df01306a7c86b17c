"""The shortcut's rule module, LLaVA-OneVision tile layout and card sealing, without exporting a graph."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sn_core.classifier.estimator import SuperNeuronClassifier


@pytest.mark.parametrize("rule,k,n_classes", [("stump", 1, 2), ("stump", 3, 2), ("nearest_mean", 1, 4),
                                              ("nearest_mean", 4, 3), ("ovr_stump", 2, 3)])
def test_rule_module_equals_the_classifier_vote(rule, k, n_classes):
    from sn_core.shortcut.export import RuleModule

    rng = np.random.default_rng(k * 10 + n_classes)
    y = np.array([str(i % n_classes) for i in range(60)])
    X = rng.normal(size=(60, k)) + y.astype(float)[:, None] * 0.5
    clf = SuperNeuronClassifier(neurons=tuple(f"blocks.0.mlp.hook_post[{j}]" for j in range(k)), rule=rule).fit(X, y)
    Z = rng.normal(size=(500, k)) * 2
    Z[::17, 0] = np.nan
    Z[::23, -1] = np.inf
    Z[5] = clf._params().threshold if rule == "stump" else Z[5]  # exactly on a threshold
    got = RuleModule(clf)(torch.tensor(Z, dtype=torch.float64)).numpy()
    assert list(clf.classes_[got]) == list(clf._vote(Z))


def test_onevision_tiles_match_transformers_packing():
    from sn_core.shortcut.export import onevision_layout
    from sn_core.shortcut.runtime import onevision_tiles
    from sn_core.models.tiny import tiny_vlm

    model, proc = tiny_vlm("llava_onevision", n_layers=1)
    core = model.model
    layout = onevision_layout(model.config)
    side = layout["tile_size"] // layout["patch_size"]
    for h, w in [(16, 16), (20, 36), (40, 24), (17, 29), (32, 32)]:
        img = np.zeros((h, w, 3), dtype=np.uint8)
        from PIL import Image

        batch = proc(images=[[Image.fromarray(img)]], text=["<image> hi"], return_tensors="np")
        sizes = np.asarray(batch["image_sizes"])
        tiles, index = onevision_tiles(np.asarray(batch["pixel_values"]), sizes, layout)
        n_rows = len(tiles) * side * side
        feats = torch.arange(n_rows, dtype=torch.float32)[:, None].repeat(1, 3)  # row id in every channel
        packed, _ = core.pack_image_features(list(torch.split(feats.reshape(len(tiles), side * side, 3), [len(tiles)])),
                                             torch.tensor(sizes), image_newline=torch.full((3,), float(n_rows)),
                                             vision_aspect_ratio=layout["vision_aspect_ratio"])
        assert packed[0][:, 0].long().tolist() == index.tolist(), (h, w)
        assert (np.asarray(batch["input_ids"]) == model.config.image_token_index).sum() == len(index)


def test_card_seal_and_verify(tmp_path):
    from sn_core.shortcut.card import ShortcutError, file_sha256, processor_files, read_card, seal

    (tmp_path / "processor").mkdir()
    (tmp_path / "processor" / "tokenizer.json").write_text("{}")
    (tmp_path / "shortcut.onnx").write_bytes(b"graph")
    card = seal({"format": "super-neuron-shortcut", "format_version": 1,
                 "onnx": {"file": "shortcut.onnx", "sha256": file_sha256(tmp_path / "shortcut.onnx")},
                 "files": processor_files(tmp_path), "labels": ["a", "b"],
                 "neurons": [{"id": "blocks.0.mlp.hook_post[1]"}], "exit_layer": 0, "inputs": {"family": "llava"},
                 "classifier": {"labels": ["a", "b"], "neurons": [{"id": "blocks.0.mlp.hook_post[1]"}]}})
    (tmp_path / "card.json").write_text(json.dumps(card))
    assert read_card(tmp_path)["labels"] == ["a", "b"]
    (tmp_path / "processor" / "extra.json").write_text("{}")
    with pytest.raises(ShortcutError, match="not listed on the card"):
        read_card(tmp_path)
    (tmp_path / "processor" / "extra.json").unlink()
    card["labels"] = ["b", "a"]
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ShortcutError, match="card hash mismatch"):
        read_card(tmp_path)
    with pytest.raises(ShortcutError, match="does not exist"):
        read_card(tmp_path / "gone")
