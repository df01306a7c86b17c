"""``load_model``: the demo model, a local Hugging Face folder, or a hub id already in the local cache.

Nothing is downloaded, ever: hub ids are resolved with ``local_files_only=True`` so a missing model fails at
once with a message instead of hanging on the network. Weights must be safetensors (pickled ``.bin`` files are
refused). ``trust_remote_code`` stays off unless the caller asks. Finding the folder and hashing its files is
``files.py``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from sn_core.models.base import ModelAdapter
from sn_core.models.files import UnknownModelError, model_files_hash, resolve_model_path, weights_hash
from sn_core.models.registry import adapter_for, supported_model_types

DTYPES = {
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}


@dataclass
class LoadedModel:
    """A model ready for extraction and early exit. See docs/api.md for every field."""

    model: torch.nn.Module
    processor: object
    adapter: ModelAdapter
    model_id: str  # "demo", the hub id, or the folder's absolute path
    weights_hash: str  # sha256 over the safetensors files
    n_layers: int  # decoder layers loaded
    n_layers_total: int  # decoder layers of the checkpoint
    widths: dict[str, int]  # per site kind
    n_heads: int
    d_head: int
    source: Path
    dtype: torch.dtype
    truncated: bool = False
    extra: dict = field(default_factory=dict)
    config_hash: str = ""  # sha256 of the folder's config / processor / tokenizer files (model_files_hash)
    # Hooks are global state on the model: a tracing scope in one thread would read (and stop) another thread's
    # forward pass. Every tracing scope and every generation holds this lock (the app shares one model across
    # sessions).
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def config(self):
        return self.model.config

    def prompt(self, text: str) -> str:
        """``text`` (question + instruction) in the model's chat template with the generation prompt."""
        return self.adapter.build_prompt(self.processor, text)

    def encode(self, images: Sequence, prompts: Sequence[str], generation: bool = False) -> dict:
        """A left-padded batch on the model's device, floating inputs cast to the model's dtype, plus the
        adapter's extra forward inputs (``position_ids``, ``use_cache=False``) unless ``generation`` (then the
        batch is for ``model.generate``, which derives positions itself)."""
        with self.lock:  # the processor's fast tokenizer is not safe for concurrent calls (Rust "Already borrowed")
            batch = self.adapter.encode(self.processor, images, prompts)
        dev = self.device
        out = {}
        for k, v in batch.items():
            if isinstance(v, torch.Tensor):
                v = v.to(dev, dtype=self.dtype) if v.is_floating_point() else v.to(dev)
            out[k] = v
        return out if generation else self.adapter.forward_inputs(out)

    def describe(self) -> dict:
        return {"model_id": self.model_id, "weights_hash": self.weights_hash, "n_layers": self.n_layers,
                "n_layers_total": self.n_layers_total, "truncated": self.truncated, "widths": dict(self.widths),
                "n_heads": self.n_heads, "d_head": self.d_head, "dtype": str(self.dtype).replace("torch.", ""),
                "device": str(self.device), "model_type": self.model.config.model_type, "source": str(self.source)}


# ---------------------------------------------------------------------------------------------- helpers
def resolve_dtype(dtype, device: str) -> torch.dtype:
    """``None`` -> float32 on CPU (bf16 matmuls are slow there and change scores), bfloat16 on CUDA."""
    if dtype is None:
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    key = str(dtype).lower().replace("torch.", "")
    if key not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use fp32, fp16 or bf16")
    return DTYPES[key]


def _device_map_device(device_map) -> str:
    """"cuda" where a ``device_map`` puts weights on a GPU (so the default dtype is bf16), else "cpu"."""
    if isinstance(device_map, dict):
        return "cuda" if any(isinstance(v, int) or str(v).startswith("cuda") for v in device_map.values()) else "cpu"
    if isinstance(device_map, int) or str(device_map).startswith("cuda"):
        return "cuda"
    # "auto", "balanced", "sequential", ...: accelerate places weights on GPUs when there are any
    return "cuda" if str(device_map) != "cpu" and torch.cuda.is_available() else "cpu"


def resolve_device(device: str | None) -> str:
    device = (device or "cpu").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise ValueError(f"unknown device {device!r}; use cpu, cuda or auto")
    return device


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load report (the 'unused weights' list is expected with ``max_layers``)."""
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(old)
        if bars:
            hf_logging.enable_progress_bar()


def _first_line(e: BaseException) -> str:
    """The first line of an exception's message ("" if it has none): library errors run to many lines."""
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def read_config(path: Path, model, trust_remote_code: bool = False):
    """(config, adapter) of the model folder; ``UnknownModelError`` in one line for an unreadable config, a config
    that needs custom code (never run unless asked), or an architecture without adapter."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001
        supported = f"supported: {', '.join(supported_model_types())} (try 'demo')"
        try:  # the declared architecture, read without transformers (and without running any code)
            declared = json.loads((Path(path) / "config.json").read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError):
            declared = None
        if declared is not None and declared not in supported_model_types():
            why = ("needs custom Python code from its folder (never run here)" if "custom code" in str(e)
                   else "transformers does not know")
            raise UnknownModelError(f"model {str(model)!r} has architecture model_type={declared!r}, which {why} "
                                    f"and has no adapter here; {supported}") from None
        if "custom code" in str(e) and not trust_remote_code:
            raise UnknownModelError(
                f"model {str(model)!r} needs custom Python code from its folder (config.json has an auto_map and "
                "an architecture transformers does not know); that code is never run unless you opt in with "
                "load_model's trust_remote_code argument yourself (try 'demo')") from None
        first = _first_line(e) or type(e).__name__
        raise UnknownModelError(f"cannot read the config of model {str(model)!r}: {first}") from None
    try:
        adapter = adapter_for(config.model_type)
    except KeyError:
        raise UnknownModelError(
            f"model {str(model)!r} has architecture model_type={config.model_type!r}, which has no adapter; "
            f"supported: {', '.join(supported_model_types())} (try 'demo')") from None
    return config, adapter


# ---------------------------------------------------------------------------------------------- peek_model
@dataclass
class ModelInfo:
    """What identifies a model's results without loading its weights: id, weights hash, dtype, processor (for the
    prompts) and layer count. ``run_search`` uses it to answer a cached search without loading the model."""

    model_id: str
    weights_hash: str
    dtype: torch.dtype
    processor: object
    adapter: ModelAdapter
    n_layers_total: int
    source: Path
    config_hash: str = ""

    @property
    def n_layers(self) -> int:
        """Decoder layers a plain ``load_model`` (no ``max_layers``) would give."""
        return self.n_layers_total

    def prompt(self, text: str) -> str:
        return self.adapter.build_prompt(self.processor, text)


def _load_processor(adapter, path: Path, model, trust_remote_code: bool):
    """The checkpoint's processor, or an UnknownModelError naming the model and what its folder lacks (tokenizer /
    processor files, a chat template), instead of transformers' multi-line errors."""
    try:
        processor = adapter.load_processor(path, local_files_only=True, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError, KeyError) as e:
        first = _first_line(e)
        raise UnknownModelError(f"cannot load the processor of model {str(model)!r} ({type(e).__name__}: {first}); "
                                "its folder needs the checkpoint's tokenizer and processor files (tokenizer.json or "
                                "tokenizer.model, the processor / preprocessor config)") from None
    tok = getattr(processor, "tokenizer", None)
    if not getattr(processor, "chat_template", None) and not getattr(tok, "chat_template", None):
        raise UnknownModelError(f"model {str(model)!r} has no chat template (a base checkpoint?): prompts are built "
                                "with the model's own chat template; use the instruction-tuned checkpoint, or add "
                                "its chat_template.jinja to the folder")
    return processor


def peek_model(model: str | os.PathLike = "demo", device: str = "cpu", dtype=None,
               trust_remote_code: bool = False) -> ModelInfo:
    """Resolve ``model`` and read its identity (config, processor, weights hash) without loading the weights."""
    path, model_id = resolve_model_path(model)
    torch_dtype = resolve_dtype(dtype, resolve_device(device))
    config, adapter = read_config(path, model, trust_remote_code)
    processor = _load_processor(adapter, path, model, trust_remote_code)
    return ModelInfo(model_id, weights_hash(path), torch_dtype, processor, adapter, adapter.n_layers(config), path,
                     model_files_hash(path))


# ---------------------------------------------------------------------------------------------- load_model
def load_model(model: str | os.PathLike = "demo", device: str = "cpu", dtype=None, max_layers: int | None = None,
               trust_remote_code: bool = False, device_map=None,
               progress: Callable[[str, int, int], None] | None = None) -> LoadedModel:
    """Load a vision-language model for extraction and early exit (see docs/api.md).

    ``max_layers=N`` keeps decoder layers ``0..N-1`` only: the config is truncated before the weights are read, so
    later layers are never materialised (memory), and extraction / early exit up to layer ``N-1`` work as with
    the full model. Generation then cannot run (``truncated`` is True).
    """
    from safetensors import SafetensorError
    from transformers import AutoModelForImageTextToText

    if progress:
        progress("load", 0, 1)
    path, model_id = resolve_model_path(model)
    device = resolve_device(device) if device_map is None else device
    torch_dtype = resolve_dtype(dtype, device if device_map is None else _device_map_device(device_map))
    files_hash = weights_hash(path)
    config, adapter = read_config(path, model, trust_remote_code)
    n_total = adapter.n_layers(config)
    if max_layers is not None:
        if isinstance(max_layers, bool) or int(max_layers) != max_layers or not 1 <= max_layers:
            raise ValueError(f"max_layers must be a positive integer, got {max_layers!r}")
        max_layers = min(int(max_layers), n_total)
        adapter.truncate_config(config, max_layers)
    # use_safetensors=True: transformers never falls back to a pickled pytorch_model.bin beside the safetensors.
    kwargs = dict(config=config, dtype=torch_dtype, local_files_only=True, trust_remote_code=trust_remote_code,
                  use_safetensors=True, output_loading_info=True)
    if device_map is not None:
        kwargs["device_map"] = device_map
    t0 = time.perf_counter()
    try:
        with _quiet_transformers():
            net, info = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # truncated files, shape mismatches, ...
        first = _first_line(e)
        raise UnknownModelError(f"cannot load the weights of model {str(model)!r} ({type(e).__name__}: {first}); "
                                "check that its *.safetensors files are complete (or try 'demo')") from None
    # transformers initialises weights its checkpoint lacks at random (and we silence its report): a checkpoint
    # saved under other names (a "module." prefix from DDP, a renamed layer) would give a random model's neurons.
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise UnknownModelError(f"model {str(model)!r}: {len(missing)} weight(s) the architecture needs are not in "
                                f"its checkpoint (e.g. {', '.join(missing[:3])}); they would be random. Check that the "
                                "weight names match the config (a 'module.' prefix from distributed training must be "
                                "stripped)")
    if device_map is None:
        net = net.to(device)
    net.eval()
    net.requires_grad_(False)
    processor = _load_processor(adapter, path, model, trust_remote_code)
    layers = adapter.layers(net)
    if max_layers is not None and len(layers) > max_layers:  # a family whose loader ignored the config
        del layers[max_layers:]
    n_heads, d_head = adapter.attention_layout(config)
    loaded = LoadedModel(model=net, processor=processor, adapter=adapter, model_id=model_id,
                         weights_hash=files_hash, n_layers=len(layers), n_layers_total=n_total,
                         widths=adapter.widths(config), n_heads=n_heads, d_head=d_head, source=path,
                         dtype=torch_dtype, truncated=len(layers) < n_total,
                         extra={"load_seconds": time.perf_counter() - t0}, config_hash=model_files_hash(path))
    if progress:
        progress("load", 1, 1)
    return loaded


def wrap_model(model: torch.nn.Module, processor, model_id: str = "in-memory", weights_hash: str | None = None,
               ) -> LoadedModel:
    """A :class:`LoadedModel` around a model built in memory (tests, notebooks). ``weights_hash`` defaults to a
    sha256 of the parameters, so caches still tell different weights apart."""
    adapter = adapter_for(model.config.model_type)
    if weights_hash is None:
        h = hashlib.sha256()
        for name, t in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        weights_hash = h.hexdigest()
    model.eval()
    model.requires_grad_(False)
    n_heads, d_head = adapter.attention_layout(model.config)
    n = len(adapter.layers(model))
    return LoadedModel(model=model, processor=processor, adapter=adapter, model_id=model_id,
                       weights_hash=weights_hash, n_layers=n, n_layers_total=adapter.n_layers(model.config),
                       widths=adapter.widths(model.config), n_heads=n_heads, d_head=d_head, source=Path("."),
                       dtype=next(model.parameters()).dtype, truncated=n < adapter.n_layers(model.config),
                       config_hash=hashlib.sha256(model.config.to_json_string().encode()).hexdigest())
