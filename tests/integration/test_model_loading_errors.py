"""Loading models a user points at: clear errors with a way out, and no code or pickle from the model folder runs.

Complements ``test_engine.py`` (uncached hub id is fast, no config.json, ``.bin``-only folders, unknown
``model_type``): here the messages must suggest ``demo``, broken weights give an error instead of a traceback, a
pickled ``pytorch_model.bin`` beside safetensors is never unpickled, and ``trust_remote_code`` reaches
transformers only when the caller asks (a config with an ``auto_map`` pointing at a Python file in the folder
never imports it). Uses the tiny random LLaVA from ``conftest.py``.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil

import pytest

from sn_core.cli.main import main
from sn_core.models import UnknownModelError, load_model

pytestmark = pytest.mark.reliability


def _copy(src, dest):
    shutil.copytree(src, dest)
    return dest


def _one_line_error(capsys, *argv) -> str:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]
    assert rc == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: "), (rc, err)
    assert "Traceback" not in err
    return lines[0]


class _Evil:
    """Unpickling this runs ``touch <sentinel>``: proof that a pickle was (not) loaded."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_reliability_unknown_models_suggest_demo(tmp_path, capsys, sn_cache):
    for name in ("some-org/not-in-the-cache", str(tmp_path / "no-such-folder"), "./nope"):
        with pytest.raises(UnknownModelError, match="demo") as err:
            load_model(name)
        assert name.lstrip("./") in str(err.value) or "nope" in str(err.value)
    line = _one_line_error(capsys, "search", "--model", "some-org/not-in-the-cache", "--quiet")
    assert "not-in-the-cache" in line and "demo" in line


def test_reliability_folder_without_weights_or_with_broken_weights(tiny_llava_dir, tmp_path, capsys, sn_cache):
    empty = _copy(tiny_llava_dir, tmp_path / "no-weights")
    for f in empty.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(UnknownModelError, match=r"no \*\.safetensors weights"):
        load_model(str(empty))
    line = _one_line_error(capsys, "search", "--model", str(empty), "--quiet")
    assert "no *.safetensors weights" in line

    broken = _copy(tiny_llava_dir, tmp_path / "truncated")
    f = broken / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # an interrupted copy
    with pytest.raises(UnknownModelError, match="cannot load the weights.*safetensors"):
        load_model(str(broken))
    line = _one_line_error(capsys, "search", "--model", str(broken), "--quiet")
    assert "cannot load the weights" in line and "truncated" in line


def test_reliability_weights_saved_under_other_names_are_refused_not_random(tiny_llava_dir, tmp_path, capsys,
                                                                            sn_cache):
    """transformers fills weights missing from a checkpoint with random values (its report is silenced here): a
    DDP checkpoint ("module." prefix) or one renamed layer must be an error, never a search on random neurons."""
    from safetensors.torch import load_file, save_file

    for name, rename in (("ddp", lambda k: "module." + k),
                         ("renamed", lambda k: k.replace("layers.1.", "layers.one."))):
        folder = _copy(tiny_llava_dir, tmp_path / name)
        f = folder / "model.safetensors"
        tensors = load_file(str(f))
        save_file({rename(k): v.contiguous() for k, v in tensors.items()}, str(f), metadata={"format": "pt"})
        with pytest.raises(UnknownModelError, match="not in its checkpoint"):
            load_model(str(folder))
        line = _one_line_error(capsys, "search", "--model", str(folder), "--quiet")
        assert "weight(s) the architecture needs are not in its checkpoint" in line, line
    load_model(str(tiny_llava_dir), max_layers=1)  # a truncated load leaves later layers unread: not "missing"


def test_reliability_folder_without_tokenizer_or_chat_template(tiny_llava_dir, tmp_path, capsys, sn_cache):
    no_tok = _copy(tiny_llava_dir, tmp_path / "no-tokenizer")
    for f in no_tok.glob("tokenizer*"):
        f.unlink()
    with pytest.raises(UnknownModelError, match="cannot load the processor of model .*tokenizer"):
        load_model(str(no_tok))
    assert "cannot load the processor" in _one_line_error(capsys, "search", "--model", str(no_tok), "--quiet")

    base = _copy(tiny_llava_dir, tmp_path / "base-checkpoint")
    for f in base.glob("chat_template*"):
        f.unlink()
    for f in list(base.glob("*_config.json")):
        doc = json.loads(f.read_text())
        if doc.pop("chat_template", None) is not None:
            f.write_text(json.dumps(doc))
    with pytest.raises(UnknownModelError, match="has no chat template"):
        load_model(str(base))
    assert "has no chat template" in _one_line_error(capsys, "search", "--model", str(base), "--quiet")


def test_reliability_architecture_without_adapter_lists_supported(tiny_llava_dir, tmp_path):
    from sn_core.models import supported_model_types

    odd = _copy(tiny_llava_dir, tmp_path / "odd")
    cfg = json.loads((odd / "config.json").read_text())
    cfg["model_type"] = "mllama"  # a real transformers architecture, but no adapter here
    (odd / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnknownModelError) as err:
        load_model(str(odd))
    msg = str(err.value)
    assert "mllama" in msg and "demo" in msg and "llava" in supported_model_types()
    assert all(t in msg for t in supported_model_types())
    cfg["model_type"] = "mystery_vlm"  # an architecture transformers itself does not know: the same list
    (odd / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnknownModelError, match="model_type='mystery_vlm', which transformers does not know") as err:
        load_model(str(odd))
    assert all(t in str(err.value) for t in supported_model_types())


@pytest.mark.security
def test_security_pickled_bin_beside_safetensors_is_never_unpickled(tiny_llava_dir, tmp_path):
    """transformers falls back to ``pytorch_model.bin`` when ``model.safetensors`` is absent; load_model must not."""
    sentinel = tmp_path / "PWNED"
    folder = _copy(tiny_llava_dir, tmp_path / "fallback")
    (folder / "model.safetensors").rename(folder / "other-name.safetensors")
    with open(folder / "pytorch_model.bin", "wb") as fh:
        pickle.dump(_Evil(sentinel), fh)
    import torch

    calls = []
    real_load = torch.load

    def spy(*a, **k):
        calls.append(a[:1])
        return real_load(*a, **k)

    torch.load = spy
    try:
        with pytest.raises(UnknownModelError, match="cannot load the weights"):
            load_model(str(folder))
    finally:
        torch.load = real_load
    assert not calls, f"torch.load was called on {calls}"
    assert not sentinel.exists()


@pytest.fixture()
def spy_trust(monkeypatch):
    """Record the ``trust_remote_code`` every transformers ``from_pretrained`` entry point receives."""
    import transformers

    seen = []
    for cls_name in ("AutoConfig", "AutoModelForImageTextToText", "AutoProcessor", "AutoTokenizer",
                     "AutoImageProcessor"):
        cls = getattr(transformers, cls_name)
        real = cls.from_pretrained

        def wrapper(*a, _real=real, _name=cls_name, **k):
            seen.append((_name, k.get("trust_remote_code", None)))
            return _real(*a, **k)

        monkeypatch.setattr(cls, "from_pretrained", wrapper)
    import transformers.dynamic_module_utils as dyn

    def no_remote_code(*a, **k):
        seen.append(("get_class_from_dynamic_module", a[:1]))
        raise AssertionError("remote code requested")

    monkeypatch.setattr(dyn, "get_class_from_dynamic_module", no_remote_code)
    return seen


@pytest.mark.security
def test_security_trust_remote_code_only_when_asked(tiny_llava_dir, spy_trust):
    load_model(str(tiny_llava_dir))
    assert {"AutoConfig", "AutoModelForImageTextToText"} <= {n for n, _ in spy_trust}
    assert all(v is False for _, v in spy_trust), spy_trust  # passed explicitly as False, never left to a prompt
    spy_trust.clear()
    load_model(str(tiny_llava_dir), trust_remote_code=True)
    assert all(v is True for _, v in spy_trust), spy_trust


def _auto_map_folder(tiny_llava_dir, tmp_path, model_type):
    """A model folder whose config/processor/tokenizer name custom classes in ``evil_code.py``, which writes a
    sentinel file when imported."""
    folder = _copy(tiny_llava_dir, tmp_path / f"automap-{model_type}")
    sentinel = tmp_path / f"IMPORTED-{model_type}"
    (folder / "evil_code.py").write_text(
        f"open({str(sentinel)!r}, 'w').write('remote code ran')\n"
        "from transformers import LlavaConfig as EvilConfig, LlavaForConditionalGeneration as EvilModel\n"
        "from transformers import LlavaProcessor as EvilProcessor\n")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = model_type
    cfg["auto_map"] = {"AutoConfig": "evil_code.EvilConfig", "AutoModelForImageTextToText": "evil_code.EvilModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    for name, key in (("processor_config.json", "AutoProcessor"), ("tokenizer_config.json", "AutoTokenizer")):
        p = folder / name
        doc = json.loads(p.read_text()) if p.exists() else {}
        doc["auto_map"] = {key: "evil_code.EvilProcessor" if key == "AutoProcessor" else
                           ["evil_code.EvilProcessor", None]}
        p.write_text(json.dumps(doc))
    return folder, sentinel


@pytest.mark.security
def test_security_auto_map_never_executes_code(tiny_llava_dir, tmp_path, spy_trust, capsys, sn_cache):
    # Known architecture + auto_map: the library's own classes are used, the folder's Python is never imported.
    folder, sentinel = _auto_map_folder(tiny_llava_dir, tmp_path, "llava")
    loaded = load_model(str(folder))
    assert type(loaded.model).__module__.startswith("transformers.models.llava")
    assert not sentinel.exists()
    # Unknown architecture that exists only as custom code: refused with a clear error, nothing imported.
    folder, sentinel = _auto_map_folder(tiny_llava_dir, tmp_path, "evil-arch")
    with pytest.raises(UnknownModelError, match="custom Python code.*never run"):
        load_model(str(folder))
    line = _one_line_error(capsys, "search", "--model", str(folder), "--quiet")
    assert "custom Python code" in line and "no adapter here; supported: " in line  # no dead-end opt-in advice
    assert not sentinel.exists()
    assert not [s for s in spy_trust if s[0] == "get_class_from_dynamic_module"]
