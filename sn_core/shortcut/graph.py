"""The ONNX graph of a standalone shortcut: the torch module that is exported, its example inputs, and the export.

The graph (``torch.onnx.export(dynamo=True)``) holds, for a model loaded only up to the exit layer:

- the vision tower and projector, and the token embeddings with the image features written into the image-token
  positions in order (per family: ``sn_core.shortcut.families``; the ``masked_scatter`` of transformers written as
  a cumulative-sum gather so that it exports);
- the language model's own forward over decoder layers ``0..L``: its causal mask with the left-padding attention
  mask (Gemma 3: the model's ``token_type_ids`` masks), rotary embeddings from ``position_ids = cumsum(mask) - 1``
  (as ``ModelAdapter.forward_inputs``) or, for Qwen-VL, from the M-RoPE positions the runtime computes;
- the read-out of each neuron at the last prompt position (column -1 of the left-padded batch) from the same
  module inputs / outputs the library hooks (``ModelAdapter.site_module``);
- the classifier's rule in float64 (stump, nearest class mean or one-vs-rest stumps, with the majority vote of
  several neurons and the non-finite fallback of ``sn_core.scoring.neuron_scores``) -> class index.

Inputs: ``INPUT_NAMES[family]`` (``sn_core.shortcut.prep``, which also builds them from a processor batch).
Outputs: ``label_index [batch] int64`` and ``values [batch, k] float32``. Batch, prompt length and the
image-dependent counts (tiles, patches, image tokens) are dynamic.

``sn_core.shortcut.export`` writes the graph with its processor files and card.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from sn_core.shortcut.card import ShortcutError
from sn_core.shortcut.interrupts import InterruptWatch

from sn_core.shortcut.prep import EXPORT_FAMILIES, INPUT_NAMES, QWEN, graph_feeds, tile_px  # noqa: E402

OPSET = 18
OUTPUT_NAMES = ("label_index", "values")


def check_family(model_type: str, model_id: str = "") -> None:
    if model_type not in EXPORT_FAMILIES:
        raise ShortcutError(f"shortcut export supports the families {', '.join(EXPORT_FAMILIES)}; model "
                            f"{model_id!r} is family {model_type!r}, which is not exported (docs/shortcut.md)")


class RuleModule(torch.nn.Module):
    """The classifier's vote on ``values [batch, k]`` in float64, as ``SuperNeuronClassifier._vote``."""

    def __init__(self, clf):
        super().__init__()
        p = clf._params()
        self.rule = p.rule
        self.n_classes = int(p.n_classes)
        self.fallback = int(p.fallback)
        self.order = [int(c) for c in p.class_order]
        f64 = torch.float64
        if p.rule == "stump":
            self.register_buffer("threshold", torch.tensor(np.asarray(p.threshold, np.float64), dtype=f64))
            self.register_buffer("positive", torch.tensor(np.asarray(p.polarity) > 0))
        elif p.rule == "nearest_mean":
            self.register_buffer("means", torch.tensor(np.asarray(p.class_means, np.float64), dtype=f64))  # [C, k]
        elif p.rule == "ovr_stump":
            self.register_buffer("ovr_t", torch.tensor(np.asarray(p.ovr_threshold, np.float64), dtype=f64))
            self.register_buffer("ovr_p", torch.tensor(np.asarray(p.ovr_polarity, np.float64), dtype=f64))
        else:
            raise ShortcutError(f"rule {p.rule!r} cannot be exported")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [batch, k] float64 -> [batch] int64
        fin = torch.isfinite(x)
        fallback = torch.full_like(x, self.fallback, dtype=torch.int64)
        if self.rule == "stump":
            votes = ((x > self.threshold[None, :]) == self.positive[None, :]).to(torch.int64)
        else:
            best = torch.full_like(x, float("inf"))
            votes = fallback
            for c in self.order:  # strict '<': an earlier class (more frequent on the probe split) keeps a tie
                if self.rule == "nearest_mean":
                    cost = torch.abs(x - self.means[c][None, :])
                else:
                    cost = (self.ovr_t[c][None, :] - x) * self.ovr_p[c][None, :]
                better = cost < best  # a NaN cost never wins
                best = torch.where(better, cost, best)
                votes = torch.where(better, torch.full_like(votes, c), votes)
        votes = torch.where(fin, votes, fallback)  # [batch, k]
        if votes.shape[1] == 1:
            return votes[:, 0]
        counts = torch.nn.functional.one_hot(votes, self.n_classes).sum(dim=1)  # [batch, C]
        top = counts == counts.max(dim=1, keepdim=True).values  # [batch, C]
        voted_top = torch.gather(top, 1, votes).to(torch.int64)  # [batch, k]
        first = torch.argmax(voted_top, dim=1, keepdim=True)  # earliest column voting a tied-best class
        return torch.gather(votes, 1, first)[:, 0]


class ShortcutModule(torch.nn.Module):
    """Vision tower + projector + embeddings + decoder layers ``0..L`` + read-out + rule, as one module. Its inputs
    are ``INPUT_NAMES[family]`` (``sn_core.shortcut.prep``), in that order."""

    def __init__(self, loaded, clf):
        super().__init__()
        from sn_core.sites import parse_neuron_id

        self.model_type = loaded.model.config.model_type
        check_family(self.model_type, loaded.model_id)
        self.net = loaded.model
        self.adapter = loaded.adapter
        self.neurons = [parse_neuron_id(n) for n in clf.neurons_]
        self.exit_layer = max(layer for _, layer, _ in self.neurons)
        if len(self.adapter.layers(self.net)) != self.exit_layer + 1:
            raise ShortcutError(f"the model must be loaded up to the exit layer {self.exit_layer} exactly "
                                f"(max_layers={self.exit_layer + 1}); it has {len(self.adapter.layers(self.net))}")
        self.rule = RuleModule(clf)
        self.input_names = INPUT_NAMES[self.model_type]
        if self.model_type in ("smolvlm", "idefics3"):
            from sn_core.shortcut.families import idefics_boundaries

            self.register_buffer("tile_boundaries", idefics_boundaries(self.net), persistent=False)

    def embed(self, *inputs):
        """``(inputs_embeds [batch, pos, d_model], language-model kwargs, DeepStack features or None)``."""
        from sn_core.shortcut import families as fam

        if self.model_type in ("llava", "llava_onevision"):
            return fam.llava_embed(self.net, *inputs)
        if self.model_type == "gemma3":
            return fam.gemma3_embed(self.net, *inputs)
        if self.model_type in ("smolvlm", "idefics3"):
            return fam.idefics_embed(self.net, *inputs, boundaries=self.tile_boundaries)
        return fam.qwen_embed(self.net, *inputs)

    def forward(self, *inputs):
        embeds, kwargs, deepstack = self.embed(*inputs)
        layers = self.adapter.layers(self.net)
        captured = {}
        handles = []
        for kind, layer, _ in self.neurons:
            module, side = self.adapter.site_module(self.net, kind, layer)
            key = (kind, layer)
            if side == "input":
                handles.append(module.register_forward_pre_hook(
                    lambda m, args, key=key: captured.__setitem__(key, args[0][:, -1])))
            else:
                handles.append(module.register_forward_hook(
                    lambda m, args, out, key=key: captured.__setitem__(
                        key, (out[0] if isinstance(out, (tuple, list)) else out)[:, -1])))
        # Qwen3-VL DeepStack: after text layer i, the i-th DeepStack features are added at the image tokens (as
        # Qwen3VLTextModel._deepstack_process); registered after the read-out hooks, so resid_post is read
        # before the addition, as the library reads it.
        for i, (is_img, rows) in enumerate(deepstack or []):
            if i < len(layers):
                handles.append(layers[i].register_forward_hook(
                    lambda m, args, out, rows=rows: out + rows.to(out.dtype)))
        try:
            if self.model_type == "gemma3":  # its forward builds the token_type_ids masks from inputs_embeds
                self.net.model(input_ids=None, inputs_embeds=embeds, use_cache=False, **kwargs)
            else:
                text = self.net.model.text_model if self.model_type in ("smolvlm", "idefics3") \
                    else self.net.model.language_model
                text(inputs_embeds=embeds, use_cache=False, **kwargs)
        finally:
            for h in handles:
                h.remove()
        values = torch.stack([captured[(kind, layer)][:, index] for kind, layer, index in self.neurons], dim=1)
        values = values.to(torch.float32)  # [batch, k]
        return self.rule(values.to(torch.float64)), values


# ------------------------------------------------------------------------------------------------ inputs
def onevision_layout(config) -> dict:
    """What the runtime needs to cut LLaVA-OneVision images into tiles and unpad their features."""
    vc = config.vision_config
    return {"image_grid_pinpoints": [list(map(int, p)) for p in config.image_grid_pinpoints],
            "tile_size": int(vc.image_size), "patch_size": int(vc.patch_size),
            "vision_feature_select_strategy": str(config.vision_feature_select_strategy),
            "vision_aspect_ratio": str(getattr(config, "vision_aspect_ratio", "anyres_max_9"))}


def family_layout(config) -> dict | None:
    """What the runtime's processor step needs beyond the processor (``sn_core.shortcut.prep``), per family."""
    if config.model_type == "llava_onevision":
        return onevision_layout(config)
    if config.model_type in QWEN:
        from sn_core.shortcut.families import qwen_layout

        return qwen_layout(config)
    return None


def graph_inputs(model_type: str, batch: dict, layout: dict | None) -> dict:
    """Numpy graph inputs from a processor batch (``return_tensors="np"`` or torch tensors)."""
    return graph_feeds(model_type, batch, layout)


def _example_batch(loaded, prompt_fn):
    """Two left-padded rows of different prompt lengths (so no shape is fixed to 1 or to one length)."""
    from PIL import Image

    # Two image shapes (so no image-dependent count is fixed), small next to the processor's tile: a tile-scaled
    # test model (16 px tiles) would otherwise pool a 40x56 image as LLaVA-OneVision pools very large photos.
    f = min(1.0, tile_px(loaded.processor) / 48)
    images = [Image.new("RGB", (max(8, round(48 * f)),) * 2, (200, 30, 30)),
              Image.new("RGB", (max(8, round(40 * f)), max(8, round(56 * f))), (30, 30, 200))]
    prompts = [loaded.prompt(prompt_fn("What colour is the shape?")),
               loaded.prompt(prompt_fn("Is there a large blue circle on the left side of the picture?"))]
    with loaded.lock:
        return loaded.adapter.encode(loaded.processor, images, prompts)


def dynamic_shapes(model_type: str) -> dict:
    """The dynamic dimensions of each graph input: batch, prompt length, and the image-dependent counts."""
    Dim = torch.export.Dim
    bsz, seq = Dim("batch", min=1, max=4096), Dim("pos", min=2, max=1 << 16)
    dyn = {"input_ids": {0: bsz, 1: seq}, "attention_mask": {0: bsz, 1: seq}}
    if model_type == "llava_onevision":
        dyn["pixel_values"] = {0: Dim("tiles", min=1, max=1 << 16)}
        dyn["feature_index"] = {0: Dim("image_tokens", min=2, max=1 << 20)}
    elif model_type in ("smolvlm", "idefics3"):
        tiles = Dim("tiles", min=1, max=1 << 16)
        dyn["pixel_values"] = {0: tiles}
        dyn["pixel_attention_mask"] = {0: tiles}
    elif model_type in QWEN:
        patches = Dim("patches", min=2, max=1 << 22)
        dyn["pixel_values"] = {0: patches}
        dyn["position_ids"] = {1: bsz, 2: seq}
        dyn["vision_position_ids"] = {0: patches}
        dyn["cu_seqlens"] = {0: Dim("segments", min=2, max=1 << 16)}
        dyn["window_index"] = {0: Dim("units", min=1, max=1 << 20)}
        dyn["cu_window_seqlens"] = {0: Dim("windows", min=2, max=1 << 20)}
        dyn["interp_indices"] = {0: patches}
        dyn["interp_weights"] = {0: patches}
    else:
        dyn["pixel_values"] = {0: bsz}
        dyn["token_type_ids"] = {0: bsz, 1: seq}
    return dyn


def export_graph(module, feeds: dict, model_type: str, path: Path, output_names, model_id: str = "",
                 external_data: bool = False) -> None:
    """``torch.onnx.export(dynamo=True)`` of ``module`` on example ``feeds`` (numpy, ``graph_inputs``) with a
    dynamic batch, prompt length and (OneVision) tile / image-token counts; ShortcutError (one line) on failure."""
    names = INPUT_NAMES[model_type]
    args = tuple(torch.from_numpy(feeds[n]) for n in names)
    dyn = dynamic_shapes(model_type)
    interrupts = InterruptWatch()
    try:
        with torch.inference_mode(False), torch.no_grad(), _quiet(), interrupts:
            torch.onnx.export(module, args, str(path), dynamo=True, input_names=list(names),
                              output_names=list(output_names), dynamic_shapes=(tuple(dyn[n] for n in names),),
                              opset_version=OPSET, external_data=external_data, verbose=False)
    except Exception as e:  # the exporter's messages run to pages: keep the first line
        if interrupts.hit:  # Ctrl-C / SIGTERM that the exporter turned into its own error: still an interrupt
            raise KeyboardInterrupt from None
        if os.environ.get("SN_EXPORT_DEBUG"):  # developers: the exporter's full traceback instead of one line
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ShortcutError(f"ONNX export of model {model_id!r} ({model_type}) failed: {first}") from None


class _quiet:
    """Silence the exporter's progress prints, warnings and logs (stdout must stay clean for ``--json``; a failed
    or interrupted export is one line, not pages of torch / onnxscript logs)."""

    def __enter__(self):
        import contextlib
        import logging
        import warnings

        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        self._stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        self._stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        log = logging.getLogger("torch")
        old = log.level
        log.setLevel(logging.ERROR)
        self._stack.callback(log.setLevel, old)
        # torch's own log handlers (torch._logging) sit on child loggers that do not read the parent's level
        for name in [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in ("torch", "onnxscript",
                                                                                            "onnx_ir", "onnx")]:
            child = logging.getLogger(name)
            if not child.disabled:
                child.disabled = True
                self._stack.callback(setattr, child, "disabled", False)
        return self

    def __exit__(self, *exc):
        self._stack.close()
        return False


__all__ = ["EXPORT_FAMILIES", "INPUT_NAMES", "OPSET", "OUTPUT_NAMES", "RuleModule", "ShortcutModule", "check_family",
           "export_graph", "graph_inputs", "onevision_layout"]
