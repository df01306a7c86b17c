"""Analytic FLOPs of a full greedy answer vs an early exit (the limit early exit can reach on a model).

Counted from the loaded modules' own parameter shapes, so every family the adapters describe is covered:
a matrix of ``p`` weights applied to ``t`` tokens costs ``2 p t`` FLOPs (multiply + add); attention adds
``2 * 2 * d_attn * (query-key pairs)`` for the scores and the weighted sum. Norms, activations, softmax, rotary
embeddings and embedding lookups are left out (O(d) per token, under 1% here).

- vision tower: every weight matrix on every patch token, plus bidirectional attention (T_v^2 pairs per layer and
  tile, or per window for Qwen2.5-VL's windowed blocks); counted on the encoded example, so tiles (SmolVLM,
  LLaVA-OneVision anyres) and Qwen-VL's dynamic patch grid are what the model runs (:mod:`sn_core.models.flops_vision`);
- projector: every weight matrix on every token it sees (Qwen-VL: the merged tokens; Gemma 3: after pooling);
- decoder: per layer, weights on each token, causal attention (prefill: T(T+1)/2 pairs; a decode step at context
  C: C pairs);
- LM head: ``2 d V`` per position whose logits are computed. ``generate`` computes logits at the last prompt
  position and at each new token (``logits_to_keep=1``), so a full answer of ``N`` new tokens is one prefill of
  ``T`` tokens, ``N - 1`` one-token decode steps, and ``N`` LM-head rows. Early exit: vision, projector and layers
  ``0..L`` on the ``T`` prompt tokens; no LM head, no decoding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from sn_core.models.base import get_module


def _matrix_params(module: torch.nn.Module, skip: tuple[str, ...] = ()) -> int:
    """Weights used as matrices (dim >= 2): linear and conv kernels. Biases / norm scales are O(d), left out.
    Parameters under a submodule named in ``skip`` are left out too."""
    return int(sum(p.numel() for name, p in module.named_parameters()
                   if p.dim() >= 2 and not any(f".{s}." in f".{name}" for s in skip)))


@dataclass(frozen=True)
class ModelFlopDims:
    vision_params: int  # matrix weights of the vision tower (applied to every tower token)
    vision_layers: int
    vision_d_attn: int  # hidden size the vision attention runs at
    vision_tokens: int  # tower tokens of one example (all tiles / images; CLIP's class token included)
    projector_params: int
    image_tokens: int  # tokens the projector's matrices apply to (Qwen: merged tokens; Gemma 3: after pooling)
    layer_params: int  # matrix weights of one decoder layer
    n_layers: int  # decoder layers of the full checkpoint
    d_attn: int  # n_heads * d_head of the decoder
    lm_head_params: int
    vision_attn_pairs: int | None = None  # query-key pairs over all tower layers; None: vision_layers * tokens^2


def _nominal_inputs(loaded):
    """An encoded example for models whose image work does not depend on the image (or when none is given): a
    448 x 448 gray square with a one-word question."""
    from PIL import Image

    return loaded.encode([Image.new("RGB", (448, 448), (128, 128, 128))], [loaded.prompt("Color?")])


def flop_dims(loaded, inputs=None) -> ModelFlopDims:
    """Dimensions FLOPs are computed from, for the example encoded in ``inputs`` (batch of one; default: a
    nominal 448 px square image, see :func:`_nominal_inputs`). The vision side follows the family and the image
    (tiles, dynamic patch grids, windows: :mod:`sn_core.models.flops_vision`). Decoder layers are assumed uniform
    (layer 0 stands for all, so a ``max_layers``-truncated model still reports the full checkpoint's cost)."""
    from sn_core.models.flops_vision import matmul_params, vision_work

    model, adapter = loaded.model, loaded.adapter
    vw = vision_work(loaded, inputs if inputs is not None else _nominal_inputs(loaded))
    lm_head = get_module(model, adapter.lm_head_path)
    return ModelFlopDims(
        vision_params=vw.tower_params, vision_layers=vw.tower_layers, vision_d_attn=vw.d_attn,
        vision_tokens=vw.tower_tokens, projector_params=vw.projector_params, image_tokens=vw.projector_tokens,
        layer_params=matmul_params(adapter.layers(model)[0]), n_layers=int(loaded.n_layers_total),
        d_attn=int(loaded.n_heads * loaded.d_head), lm_head_params=_matrix_params(lm_head),
        vision_attn_pairs=vw.attn_pairs)


def vision_flops(d: ModelFlopDims, n_images: int = 1) -> float:
    """Vision tower + projector of one example (``n_images`` copies of it)."""
    pairs = d.vision_attn_pairs if d.vision_attn_pairs is not None else d.vision_layers * d.vision_tokens ** 2
    per_example = 2 * d.vision_params * d.vision_tokens + 4 * d.vision_d_attn * pairs
    return float(n_images * (per_example + 2 * d.projector_params * d.image_tokens))


def decoder_prefill_flops(d: ModelFlopDims, prompt_len: int, n_layers: int) -> float:
    pairs = prompt_len * (prompt_len + 1) / 2
    return float(n_layers * (2 * d.layer_params * prompt_len + 4 * d.d_attn * pairs))


def early_exit_flops(d: ModelFlopDims, prompt_len: int, exit_layer: int) -> float:
    """Vision + projector + decoder layers ``0..exit_layer`` on the prompt; no LM head, no decoding."""
    return vision_flops(d) + decoder_prefill_flops(d, prompt_len, exit_layer + 1)


def generation_flops(d: ModelFlopDims, prompt_len: int, new_tokens: int) -> float:
    """Full greedy answer of ``new_tokens`` tokens: prefill of every layer, ``new_tokens - 1`` decode steps with
    a KV cache, LM head on ``new_tokens`` positions."""
    total = vision_flops(d) + decoder_prefill_flops(d, prompt_len, d.n_layers)
    for step in range(1, new_tokens):
        ctx = prompt_len + step
        total += d.n_layers * (2 * d.layer_params + 4 * d.d_attn * ctx)
    total += 2 * d.lm_head_params * new_tokens
    return float(total)


def flop_ratio(loaded, prompt_len: int, exit_layer: int, new_tokens: int = 1, inputs=None) -> dict:
    """Both counts and their ratio (the speed-up limit of early exit at ``exit_layer``). ``new_tokens`` defaults
    to 1: a one-token label (``generation.label_token_budget`` gives it for a label set). ``inputs``: the encoded
    example the vision work is counted on (see :func:`flop_dims`)."""
    d = flop_dims(loaded, inputs)
    full = generation_flops(d, prompt_len, new_tokens)
    early = early_exit_flops(d, prompt_len, exit_layer)
    return {"full_flops": full, "early_exit_flops": early, "ratio": full / early, "prompt_len": prompt_len,
            "exit_layer": exit_layer, "new_tokens": new_tokens, "n_layers": d.n_layers}


def exit_flop_limits(loaded, prompt_len: int, layers, new_tokens: int = 1, inputs=None) -> dict[int, float]:
    """``{L: flop_ratio(...)["ratio"]}`` for an exit after each layer in ``layers``: the speed-up limit of each."""
    d = flop_dims(loaded, inputs)
    full = generation_flops(d, prompt_len, new_tokens)
    return {int(L): float(full / early_exit_flops(d, prompt_len, int(L))) for L in layers}


def search_flop_limits(loaded, task, prompts, labels, layers) -> dict[int, float]:
    """FLOP limit of an exit after each of ``layers``, at the prompt length of the task's first example (all of a
    bundled task's prompts have one length). Empty where the family's dimensions cannot be counted (an extra beside
    the accuracies, never a reason to fail a search)."""
    import logging
    import traceback

    try:
        from sn_core.models.generation import label_token_budget
        from sn_core.data.images import load_image

        inputs = loaded.encode([load_image(task.examples[0].image)], [prompts[0]])
        plen = int(inputs["input_ids"].shape[1])
        return exit_flop_limits(loaded, plen, layers, label_token_budget(loaded.processor, labels), inputs=inputs)
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).warning("FLOP limits not computed:\n%s", traceback.format_exc())
        return {}


def flop_limit(predictor, image, question: str, labels) -> float | None:
    """The analytic bound on early exit's speed-up for one example: FLOPs of the full model's greedy answer over
    FLOPs of ``predictor``'s truncated pass. None where it cannot be computed (it is an extra beside measured
    timings, never a reason to fail a caller)."""
    import logging
    import traceback

    try:
        from sn_core.models.generation import label_token_budget

        loaded = predictor.loaded
        inputs = predictor.encode([image], [question])
        plen = int(inputs["input_ids"].shape[1])
        new_tokens = label_token_budget(loaded.processor, list(labels))
        return float(flop_ratio(loaded, plen, predictor.exit_layer, new_tokens, inputs=inputs)["ratio"])
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).warning("FLOP bound not computed:\n%s", traceback.format_exc())
        return None
