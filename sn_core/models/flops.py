"""Analytic FLOPs of a full greedy answer vs an early exit (the limit early exit can reach on a model).

Counted from the loaded modules' own parameter shapes, so every family the adapters describe is covered:
a matrix of ``p`` weights applied to ``t`` tokens costs ``2 p t`` FLOPs (multiply + add); attention adds
``2 * 2 * d_attn * (query-key pairs)`` for the scores and the weighted sum. Norms, activations, softmax, rotary
embeddings and embedding lookups are left out (O(d) per token, under 1% here).

- vision tower: every weight matrix on every patch token, plus bidirectional attention (T_v^2 pairs per layer);
- projector: every weight matrix on every image token it produces;
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
    vision_params: int  # matrix weights of the vision tower
    vision_layers: int
    vision_d_attn: int  # hidden size the vision attention runs at
    vision_tokens: int  # patch tokens per image
    projector_params: int
    image_tokens: int  # tokens the projector outputs per image (placeholders in the prompt)
    layer_params: int  # matrix weights of one decoder layer
    n_layers: int  # decoder layers of the full checkpoint
    d_attn: int  # n_heads * d_head of the decoder
    lm_head_params: int


def flop_dims(loaded) -> ModelFlopDims:
    """Dimensions FLOPs are computed from. Decoder layers are assumed uniform (layer 0 stands for all, so a
    ``max_layers``-truncated model still reports the full checkpoint's cost)."""
    model, adapter, cfg = loaded.model, loaded.adapter, loaded.model.config
    vision = get_module(model, adapter.vision_tower_path) if adapter.vision_tower_path else None
    projector = get_module(model, adapter.projector_path) if adapter.projector_path else None
    vc = getattr(cfg, "vision_config", None)
    v_tokens = 0
    v_layers = 0
    v_d = 0
    if vc is not None:
        patches = (int(vc.image_size) // int(vc.patch_size)) ** 2
        v_tokens = patches + (1 if "clip" in str(getattr(vc, "model_type", "")) else 0)  # CLIP's class token
        v_layers = int(getattr(vc, "num_hidden_layers", 0))
        v_d = int(getattr(vc, "hidden_size", 0))
    image_tokens = int(getattr(cfg, "image_seq_length", 0) or v_tokens)
    lm_head = get_module(model, adapter.lm_head_path)
    return ModelFlopDims(
        # SigLIP's pooling "head" runs on one probe token and LLaVA-style models do not use its output: left out.
        vision_params=_matrix_params(vision, skip=("head",)) if vision is not None else 0, vision_layers=v_layers,
        vision_d_attn=v_d, vision_tokens=v_tokens,
        projector_params=_matrix_params(projector) if projector is not None else 0, image_tokens=image_tokens,
        layer_params=_matrix_params(adapter.layers(model)[0]), n_layers=int(loaded.n_layers_total),
        d_attn=int(loaded.n_heads * loaded.d_head), lm_head_params=_matrix_params(lm_head))


def vision_flops(d: ModelFlopDims, n_images: int = 1) -> float:
    per_image = 2 * d.vision_params * d.vision_tokens + 4 * d.vision_d_attn * d.vision_tokens ** 2 * d.vision_layers
    return float(n_images * (per_image + 2 * d.projector_params * d.image_tokens))


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


def flop_ratio(loaded, prompt_len: int, exit_layer: int, new_tokens: int = 1) -> dict:
    """Both counts and their ratio (the speed-up limit of early exit at ``exit_layer``). ``new_tokens`` defaults
    to 1: a one-token label (``generation.label_token_budget`` gives it for a label set)."""
    d = flop_dims(loaded)
    full = generation_flops(d, prompt_len, new_tokens)
    early = early_exit_flops(d, prompt_len, exit_layer)
    return {"full_flops": full, "early_exit_flops": early, "ratio": full / early, "prompt_len": prompt_len,
            "exit_layer": exit_layer, "new_tokens": new_tokens, "n_layers": d.n_layers}


def exit_flop_limits(loaded, prompt_len: int, layers, new_tokens: int = 1) -> dict[int, float]:
    """``{L: flop_ratio(...)["ratio"]}`` for an exit after each layer in ``layers``: the speed-up limit of each."""
    d = flop_dims(loaded)
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

        plen = int(loaded.encode([load_image(task.examples[0].image)], [prompts[0]])["input_ids"].shape[1])
        return exit_flop_limits(loaded, plen, layers, label_token_budget(loaded.processor, labels))
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
        plen = int(predictor.encode([image], [question])["input_ids"].shape[1])
        new_tokens = label_token_budget(loaded.processor, list(labels))
        return float(flop_ratio(loaded, plen, predictor.exit_layer, new_tokens)["ratio"])
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).warning("FLOP bound not computed:\n%s", traceback.format_exc())
        return None
