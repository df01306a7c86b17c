"""The files that make a model: where ``"demo"``, a local folder or a cached hub id lives (never downloading),
its safetensors weights (pickled ``.bin``/``.pt`` refused) and the hashes that identify what a result was computed
with (weights, and the configs, processor and tokenizer files beside them)."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from sn_core import DEMO_MODEL_DIR


class UnknownModelError(ValueError):
    """A model that cannot be loaded here; the message says why and what to use instead."""


def resolve_model_path(model: str | os.PathLike) -> tuple[Path, str]:
    """(folder, model_id) for ``"demo"``, a local folder or a cached hub id. Never touches the network."""
    if str(model) == "demo":
        path = Path(DEMO_MODEL_DIR)
        if not (path / "config.json").is_file():
            raise UnknownModelError(f"the demo model is missing from {path} (no config.json); "
                                    "build it with 'python -m sn_core.demo train'")
        return path, "demo"
    p = Path(model).expanduser()
    if p.exists():
        if not p.is_dir():
            raise UnknownModelError(f"model path {str(model)!r} is a file; give the model's folder "
                                    "(with config.json and *.safetensors)")
        if not (p / "config.json").is_file():
            raise UnknownModelError(f"model folder {str(model)!r} has no config.json; is it a Hugging Face "
                                    "model folder? (try 'demo')")
        return p.resolve(), str(p.resolve())
    text = str(model)
    if text.count("/") > 1 or text.startswith((".", "/", "~")) or not text.strip():
        raise UnknownModelError(f"model {text!r} not found: no such folder (try 'demo')")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(text, local_files_only=True,
                                   allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model"])
    except Exception as e:  # noqa: BLE001 - LocalEntryNotFoundError, HFValidationError, OfflineModeIsEnabled ...
        raise UnknownModelError(
            f"model {text!r} is neither a local folder nor in the local Hugging Face cache "
            f"({type(e).__name__}); nothing is downloaded here. Use 'demo' or a local model folder") from None
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise UnknownModelError(f"model {text!r} in the local Hugging Face cache has no config.json")
    return path, text


def safetensors_files(path: Path) -> list[Path]:
    files = sorted(path.glob("*.safetensors"))
    if not files:
        has_bin = any(path.glob("*.bin")) or any(path.glob("*.pt"))
        raise UnknownModelError(
            f"model folder {str(path)!r} has no *.safetensors weights"
            + (" (pickled .bin/.pt weights are refused; convert them to safetensors)" if has_bin else ""))
    return files


def weights_hash(path: Path) -> str:
    """sha256 over the folder's safetensors files (names and bytes, sorted by name). Cached in
    ``<cache root>/weights-hash.json`` keyed by absolute path, size and mtime, so a replaced checkpoint is
    rehashed and an unchanged one is not re-read."""
    files = safetensors_files(Path(path))
    stamp = [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    from sn_core.store.cache import default_root

    cache_file = default_root() / "weights-hash.json"
    cache_key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if cache_key in cache:
        return cache[cache_key]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                h.update(block)
    digest = h.hexdigest()
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache[cache_key] = digest
        tmp = cache_file.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # unique per thread
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a read-only cache only costs a rehash next time
    return digest


CONFIG_SUFFIXES = (".json", ".jinja", ".model", ".txt", ".tiktoken", ".py")


def model_files_hash(path: Path) -> str:
    """sha256 over the model folder's other files that shape activations (configs, processor and tokenizer files,
    chat template: every top-level ``*.json``, ``*.jinja``, ``*.model``, ``*.txt``, ``*.tiktoken``, ``*.py``; names
    and bytes, sorted by name). With ``weights_hash`` it identifies what a cached result was computed with, so
    editing ``config.json`` (say ``vision_feature_layer``) or the image processor's settings in place never reuses
    stale activations."""
    h = hashlib.sha256()
    for f in sorted(Path(path).iterdir(), key=lambda f: f.name):
        if f.is_file() and f.suffix.lower() in CONFIG_SUFFIXES:
            h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()
