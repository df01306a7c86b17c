"""Errors that named nothing now name the file, row and field (or the flag and path).

- ``<image>`` (the model's image placeholder) inside a manifest question: the processor counted two images and
  said so in its own words; now ``m.jsonl row 4: field question holds '<image>' ...`` before any activation is
  computed. The same text given to the playground path (``loaded.prompt``) names the text.
- ``export --out`` on a read-only folder or a mount point: refused before the model is loaded, naming the flag
  and path (the bare "Device or resource busy" of the final rename before).
"""
from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from sn_core.cli.main import main


def _manifest(folder, bad_question: str):
    rows = []
    for i, color in enumerate(["red", "blue"] * 2):
        Image.new("RGB", (8, 8), color).save(folder / f"i{i}.png")
        rows.append({"image": f"i{i}.png", "question": bad_question if i == 3 else "What colour?", "label": color})
    p = folder / "m.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return p


@pytest.mark.reliability
@pytest.mark.parametrize("question, token", [("What is <image> here?", "<image>"), ("<s> What colour?", "<s>")])
def test_reliability_special_token_in_a_question_names_row_and_field(tmp_path, capsys, question, token):
    p = _manifest(tmp_path, question)
    rc = main(["search", "--task", str(p), "--probe-per-class", "1", "--test-per-class", "1", "--json",
               "--cache-dir", str(tmp_path / "cache")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: m.jsonl row 4: field question holds {token!r}, a special token of model "
                             "'demo'"), err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.safetensors"))


@pytest.mark.reliability
def test_reliability_special_token_in_free_text_is_named(tmp_path):
    from sn_core.models import load_model
    from sn_core.special_tokens import SpecialTokenError

    loaded = load_model("demo")
    with pytest.raises(SpecialTokenError, match="the text 'Is <image> red\\? Answer.' holds '<image>'"):
        loaded.prompt("Is <image> red? Answer.")
    assert "What colour?" in loaded.prompt("What colour?")


@pytest.fixture
def artifact(tmp_path):
    """A demo-model artifact, as a search saves it (the export is refused before it is read)."""
    from sn_core.classifier import SuperNeuronClassifier

    clf = SuperNeuronClassifier(neurons=("blocks.0.mlp.hook_post[3]",)).fit([[0.0], [1.0], [0.2], [0.9]],
                                                                            ["no", "yes", "no", "yes"])
    clf.meta_ = {"model_id": "demo", "weights_hash": "ab" * 32}
    path = tmp_path / "sn.json"
    clf.to_json(path)
    return path


@pytest.mark.reliability
def test_reliability_export_to_a_read_only_folder_names_flag_and_path(tmp_path, artifact, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if os.fspath(p) == str(ro) else real(p, mode, **k))
    rc = main(["export", "--classifier", str(artifact), "--out", str(ro / "sc")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and err == [f"error: --out '{ro / 'sc'}': folder '{ro}' is not writable (read-only or no "
                               "permission); choose a folder you can write in"], err


@pytest.mark.reliability
def test_reliability_export_to_a_mount_point_names_flag_and_path(tmp_path, artifact, capsys, monkeypatch):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: True if os.fspath(p) == str(mnt) else real(p))
    rc = main(["export", "--classifier", str(artifact), "--out", str(mnt)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"error: --out '{mnt}' is a mount point"), err
    assert sorted(tmp_path.iterdir()) == sorted([mnt, artifact])  # nothing written beside it


@pytest.mark.reliability
def test_reliability_special_token_in_a_question_predict_task_names_row(tmp_path, capsys):
    """``predict --task`` on such a manifest: refused before the first prediction, naming the row."""
    from sn_core.classifier import SuperNeuronClassifier
    from sn_core.models import load_model

    loaded = load_model("demo")
    clf = SuperNeuronClassifier(neurons=("blocks.0.mlp.hook_post[3]",)).fit([[0.0], [1.0], [0.2], [0.9]],
                                                                            ["blue", "red", "blue", "red"])
    clf.meta_ = {"model_id": "demo", "weights_hash": loaded.weights_hash}
    clf.to_json(tmp_path / "sn.json")
    p = _manifest(tmp_path, "What is <image> here?")
    rc = main(["predict", "--classifier", str(tmp_path / "sn.json"), "--task", str(p)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: m.jsonl row 4: field question holds '<image>'"), err
