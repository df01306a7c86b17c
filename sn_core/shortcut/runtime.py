"""Run an exported shortcut with onnxruntime: ``load_shortcut(folder).predict(images, questions)``.

Preprocessing uses the saved processor (chat template, tokenizer, Pillow image processor) with
``return_tensors="np"``, then the family's numpy step (``sn_core.shortcut.prep``: Qwen's M-RoPE and vision
positions, SmolVLM's real tiles, OneVision's tile layout): this module imports neither torch nor the model. The
card is verified on load (``sn_core.shortcut.card.read_card``: card, graph, external-data and processor file
hashes).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..images import as_rgb
from .card import PROCESSOR_DIR, ShortcutError, read_card
from .prep import INPUT_NAMES, graph_feeds


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
    ``exit_layer``, ``instruction``, ``family``, ``session``, ``processor``."""

    def __init__(self, folder, threads: int | None = None):
        ort = _import_onnxruntime()
        self.folder = Path(folder)
        self.card = read_card(self.folder)
        self.labels = list(self.card["labels"])
        self.neurons = [n["id"] for n in self.card["neurons"]]
        self.exit_layer = int(self.card["exit_layer"])
        self.instruction = self.card.get("instruction")
        self.family = self.card["inputs"]["family"]
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
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ShortcutError(f"onnxruntime cannot open the graph in {str(self.folder)!r}: {first}") from None

    # ---------------------------------------------------------------------------------------------- inputs
    def prompt(self, question: str) -> str:
        text = f"{question} {self.instruction}".strip() if self.instruction else question
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

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


def load_shortcut(folder, threads: int | None = None) -> Shortcut:
    """Open an exported shortcut (``python -m sn_core export``); the card and file hashes are verified first.
    ``threads``: onnxruntime intra-op threads (default ``$SN_SHORTCUT_THREADS`` or onnxruntime's choice)."""
    return Shortcut(folder, threads=threads)


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
    except Exception as e:  # noqa: BLE001 - transformers raises many types here
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


# ------------------------------------------------------------------------------------------ LLaVA-OneVision
def onevision_tiles(pixel_values: np.ndarray, image_sizes: np.ndarray, layout: dict) -> tuple[np.ndarray, np.ndarray]:
    """The tiles of each image (``[tiles, 3, H, W]``, padding tiles dropped) and ``feature_index``: for each image
    token in order, the row of the projected tile features (``tiles * tokens_per_tile`` rows, then one
    image-newline row) that fills it. The same layout as transformers' ``LlavaOnevisionModel.pack_image_features``
    (base view, then the anyres grid unpadded to the image's aspect ratio with a newline row per line); image
    sizes whose grid would be pooled (``anyres_max_N``) are refused."""
    from transformers.image_processing_utils import select_best_resolution

    pin, tile, patch = layout["image_grid_pinpoints"], int(layout["tile_size"]), int(layout["patch_size"])
    side = tile // patch
    per_tile = side * side - (1 if layout["vision_feature_select_strategy"] == "default" else 0)
    max_tiles = int(layout["vision_aspect_ratio"].strip("anyres_max_"))
    counts, grids = [], []
    for size in np.asarray(image_sizes).tolist():
        h, w = select_best_resolution(tuple(int(v) for v in size), pin)
        grids.append((h // tile, w // tile))
        counts.append((h // tile) * (w // tile) + 1)
    tiles = np.concatenate([pixel_values[i, :n] for i, n in enumerate(counts)], axis=0)
    newline = len(tiles) * per_tile  # the row after the tile features
    index, offset = [], 0
    for (gh, gw), n, size in zip(grids, counts, np.asarray(image_sizes).tolist()):
        rows = np.arange(offset, offset + n * per_tile).reshape(n, per_tile)
        offset += n * per_tile
        if n == 1:
            index.append(np.concatenate([rows[0], [newline]]))
            continue
        grid = rows[1:].reshape(gh, gw, side, side).transpose(0, 2, 1, 3).reshape(gh * side, gw * side)
        grid = _unpad(grid, (int(size[0]), int(size[1])))
        ch, cw = grid.shape
        if math.sqrt(ch * cw / (max_tiles * side ** 2)) > 1.1:
            raise ShortcutError(f"an image of {size[1]}x{size[0]} px is pooled by LLaVA-OneVision "
                                f"({layout['vision_aspect_ratio']}), which the exported shortcut does not do; use "
                                "smaller images")
        grid = np.concatenate([grid, np.full((ch, 1), newline)], axis=1)
        index.append(np.concatenate([rows[0], grid.reshape(-1)]))
    return tiles.astype(np.float32), np.concatenate(index).astype(np.int64)


def _unpad(grid: np.ndarray, original: tuple[int, int]) -> np.ndarray:
    """transformers' ``unpad_image`` on a 2-D ``[height, width]`` grid."""
    oh, ow = original
    ch, cw = grid.shape
    if ow / oh > cw / ch:
        new_h = int(round(oh * (cw / ow), 7))
        pad = (ch - new_h) // 2
        return grid[pad:ch - pad, :]
    new_w = int(round(ow * (ch / oh), 7))
    pad = (cw - new_w) // 2
    return grid[:, pad:cw - pad]


__all__ = ["Shortcut", "ShortcutPredictions", "load_shortcut", "onevision_tiles"]
