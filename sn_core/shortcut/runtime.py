"""Run an exported shortcut with onnxruntime: ``load_shortcut(folder).predict(images, questions)``.

Preprocessing uses the saved processor (chat template, tokenizer, Pillow image processor) with
``return_tensors="np"``, then the family's numpy step (``sn_core.shortcut.prep``: Qwen's M-RoPE and vision
positions, SmolVLM's real tiles, OneVision's tile layout): this module imports neither torch nor the model. The
card is verified on load (``sn_core.shortcut.card.read_card``: card, graph, external-data and processor file
hashes).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from sn_core.data.images import as_rgb
from sn_core.shortcut.card import PROCESSOR_DIR, ShortcutError, read_card
# onevision_tiles is also importable from here (LLaVA-OneVision's tiles, sn_core.shortcut.onevision).
from sn_core.shortcut.onevision import onevision_tiles  # noqa: F401
from sn_core.shortcut.prep import INPUT_NAMES, graph_feeds
from sn_core.shortcut.rule_check import check_graph_classifier
from sn_core.special_tokens import check_text


@dataclass
class ShortcutPredictions:
    labels: list[str]  # one label per example
    values: np.ndarray  # [n, k] float64 (float32 graph outputs), column j = neurons[j]
    label_index: np.ndarray  # [n] int64 index into the card's labels
    neurons: list[str]


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ShortcutError("onnxruntime is not installed; install it to run a shortcut "
                            "(pip install onnxruntime, the CPU wheel; see requirements.txt)") from None
    return onnxruntime


class Shortcut:
    """An exported shortcut on onnxruntime. Attributes: ``card`` (verified), ``labels``, ``neurons``,
    ``exit_layer``, ``instruction``, ``family``, ``session``, ``processor``, ``dtype`` (the graph's: float32 or
    float16, ``sn_core.shortcut.half``)."""

    def __init__(self, folder, threads: int | None = None, providers: Sequence[str] | None = None):
        ort = _import_onnxruntime()
        providers = _providers(ort, providers)
        self.folder = Path(folder)
        self.card = read_card(self.folder)
        self.labels = list(self.card["labels"])
        self.neurons = [n["id"] for n in self.card["neurons"]]
        self.exit_layer = int(self.card["exit_layer"])
        self.instruction = self.card.get("instruction")
        self.family = self.card["inputs"]["family"]
        self.dtype = self.card["onnx"].get("dtype", "float32")
        if self.family not in INPUT_NAMES:
            raise ShortcutError(f"{str(self.folder)!r}: the card's family {self.family!r} is not one this library runs "
                                f"({', '.join(sorted(INPUT_NAMES))})")
        self.layout = self.card["inputs"].get("layout") or self.card["inputs"].get("onevision")
        self.processor = _load_processor(self.folder / PROCESSOR_DIR, self.family, self.card["inputs"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or os.environ.get("SN_SHORTCUT_THREADS", 0) or 0)
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.folder / self.card["onnx"]["file"]), opts,
                                                providers=providers)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ShortcutError(f"onnxruntime cannot open the graph in {str(self.folder)!r}: {first}") from None
        check_graph_classifier(self.session, self.card, self.folder)  # the card's classifier is the graph's

    # ---------------------------------------------------------------------------------------------- inputs
    def prompt(self, question: str) -> str:
        text = f"{question} {self.instruction}".strip() if self.instruction else question
        check_text(self.processor, text, f"the text {text[:80]!r}", str(self.folder))  # <image> in a question
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
        try:
            return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as e:  # noqa: BLE001 - a template that raises (jinja2's raise_exception), or bad syntax
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ShortcutError(f"the chat template in {str(self.folder / PROCESSOR_DIR)!r} fails: {first}") from None

    def encode(self, images: Sequence, questions: Sequence[str]) -> dict:
        """Graph inputs (numpy) for a left-padded batch: the processor call, as the library's ``encode``."""
        images = [as_rgb(im) for im in images]
        prompts = [self.prompt(q) for q in questions]
        imgs = images if self.family == "llava" else [[im] for im in images]  # one image per prompt
        batch = self.processor(images=imgs, text=prompts, padding=True, padding_side="left", return_tensors="np")
        return graph_feeds(self.family, batch, self.layout)

    def run(self, feeds: dict) -> tuple[np.ndarray, np.ndarray]:
        """``(label_index [n] int64, values [n, k] float32)`` of encoded inputs: the graph alone."""
        idx, values = self.session.run(None, feeds)
        return idx, values

    # ---------------------------------------------------------------------------------------------- predict
    def predict(self, images: Sequence, questions, batch_size: int = 16) -> ShortcutPredictions:
        """Labels and neuron values of ``images`` (PIL images or paths). ``questions``: one per image, or one
        string asked of every image."""
        if isinstance(questions, str):
            questions = [questions] * len(images)
        if len(images) != len(questions):
            raise ValueError(f"{len(images)} images but {len(questions)} questions")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        idx_all, val_all = [], []
        for lo in range(0, len(images), batch_size):
            idx, values = self.run(self.encode(images[lo:lo + batch_size], questions[lo:lo + batch_size]))
            idx_all.append(np.asarray(idx, dtype=np.int64))
            val_all.append(np.asarray(values, dtype=np.float64))
        k = len(self.neurons)
        idx = np.concatenate(idx_all) if idx_all else np.zeros(0, np.int64)
        values = np.concatenate(val_all) if val_all else np.zeros((0, k))
        return ShortcutPredictions([self.labels[int(i)] for i in idx], values, idx, list(self.neurons))


def load_shortcut(folder, threads: int | None = None, providers: Sequence[str] | None = None) -> Shortcut:
    """Open an exported shortcut (``python -m sn_core export``); the card and file hashes are verified first.
    ``threads``: onnxruntime intra-op threads (default ``$SN_SHORTCUT_THREADS`` or onnxruntime's choice).
    ``providers``: onnxruntime execution providers in order of preference, names or ``(name, options)`` (default
    ``["CPUExecutionProvider"]``; e.g. ``["CUDAExecutionProvider", "CPUExecutionProvider"]`` with the
    onnxruntime-gpu wheel)."""
    return Shortcut(folder, threads=threads, providers=providers)


DEVICE_PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def _providers(ort, providers) -> list[str]:
    """The requested providers, each one onnxruntime here offers; ShortcutError naming the first it does not."""
    if providers is None:
        return ["CPUExecutionProvider"]
    if isinstance(providers, str):
        providers = [providers]
    providers = [p if isinstance(p, tuple) else str(p) for p in providers]  # (name, options) as onnxruntime takes
    have = ort.get_available_providers()
    for p in (p[0] if isinstance(p, tuple) else p for p in providers):
        if p not in have:
            hint = " (install the onnxruntime-gpu wheel in place of onnxruntime, on a machine with CUDA)" \
                if p == "CUDAExecutionProvider" else ""
            raise ShortcutError(f"onnxruntime here has no {p}{hint}; it offers {', '.join(have)}")
    if not providers:
        raise ShortcutError("no onnxruntime execution provider given")
    return providers


_IMAGE_ONLY = {"llava_onevision": "LlavaOnevisionProcessor", "qwen2_vl": "Qwen2VLProcessor",
               "qwen2_5_vl": "Qwen2_5_VLProcessor", "qwen3_vl": "Qwen3VLProcessor", "smolvlm": "SmolVLMProcessor"}


def _load_processor(path: Path, family: str, inputs: dict | None = None):
    """The saved processor: ``AutoProcessor``, or for video-capable families without torchvision the family's
    processor minus its video processor (``sn_core.models.processors.image_only``, loaded from its file so that
    no torch-importing package module is imported). Qwen-VL's pinned pixel budget is set again from the card."""
    import transformers
    from transformers import AutoProcessor

    try:
        proc = AutoProcessor.from_pretrained(str(path), local_files_only=True)
    except Exception:  # noqa: BLE001 - transformers raises many types here
        proc = None
        if family in _IMAGE_ONLY:
            try:
                cls = getattr(transformers, _IMAGE_ONLY[family])
                proc = _processors_module().image_only(cls).from_pretrained(str(path), local_files_only=True)
            except Exception as e2:  # noqa: BLE001
                e = e2
        if proc is None:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ShortcutError(f"cannot load the shortcut's processor from {str(path)!r}: {first}") from None
    budget = (inputs or {}).get("pixel_budget")
    if budget:
        from transformers.image_processing_utils import SizeDict

        proc.image_processor.size = SizeDict(shortest_edge=int(budget), longest_edge=int(budget))
    return proc


def _processors_module():
    """``sn_core/models/processors.py`` (it imports only transformers), without importing ``sn_core.models``."""
    import importlib.util
    import sys

    name = "sn_core.models.processors"
    if name in sys.modules:
        return sys.modules[name]
    private = "_sn_shortcut_processors"
    if private not in sys.modules:
        spec = importlib.util.spec_from_file_location(private, Path(__file__).resolve().parent.parent / "models"
                                                      / "processors.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[private] = mod
        spec.loader.exec_module(mod)
    return sys.modules[private]


__all__ = ["DEVICE_PROVIDERS", "Shortcut", "ShortcutPredictions", "load_shortcut", "onevision_tiles"]
