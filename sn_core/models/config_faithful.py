"""Models built from each family's real checkpoint configuration, with only sizes changed.

``sn_core/models/checkpoint_configs/<family>/`` holds the ``config.json`` and processor configs of each family's
example checkpoint (their sources: the ``README.md`` there). :func:`build_family` reads them and builds a random-weight
model and its processor in one of two modes:

- ``"tiny"`` (tests, ``python -m sn_core.models.tiny``): text widths, vocabulary and image size scaled down; the
  decoder cut to ``n_layers``; the vision tower keeps its real depth at a width of 32. Everything else is the
  checkpoint's own: vision tower kind, ``vision_feature_layer`` and select strategy, projector kind and activation,
  rope type/theta/scaling, M-RoPE sections (rescaled to the tiny head size in proportion), DeepStack indexes,
  full-attention block indexes, tied embeddings, layer types (sliding / full), grouped vs multi-head attention,
  the image processor's normalisation and resampling, and the special tokens (their names and roles).
- ``"real"`` (``bench/real_width.py``): every width, the vocabulary size and the image resolution are the
  checkpoint's; only the decoder is cut to ``n_layers`` (``n_layers_total`` of the checkpoint is kept in the
  config's ``sn_full_depth`` so FLOP limits can be computed for the full-depth model).

Token ids come from the offline word-level tokenizer (:func:`sn_core.models.tokenizers.tiny_tokenizer`), which
holds the family's special tokens; the config's token-id fields point at them. Chat templates reproduce each
family's turn and image-placeholder layout.

Modules: :mod:`sn_core.models.faithful_configs` (the stored configs, scaling, the builder registry),
:mod:`sn_core.models.faithful_builds` (one builder per family), this module (building, full-depth meta models and
their FLOP limits).
"""
from __future__ import annotations

import sn_core.models.faithful_builds  # noqa: F401  (registers every family's builder in BUILDS)
from sn_core.models.faithful_configs import (BUILDS, CONFIG_DIR, MODES, FamilyBuild, checkpoint_files, real_config,
                                             scale_sections, scaled_text, text_dict)


def build_family(family: str, mode: str = "tiny", n_layers: int = 2, seed: int = 0, d_model: int = 32,
                 d_mlp: int = 64):
    """``(model, processor)`` of ``family`` built from its checkpoint configs (module docstring), eval mode,
    float32, seeded."""
    import torch

    if family not in BUILDS:
        raise ValueError(f"no config-faithful build for {family!r}; choose one of {sorted(BUILDS)}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    torch.manual_seed(seed)
    model, proc = BUILDS[family].builder(checkpoint_files(family), mode, n_layers, d_model, d_mlp)
    return model.eval(), proc


def full_depth(config) -> int | None:
    """Decoder depth of the checkpoint a config was cut from (``sn_full_depth``), or None."""
    tc = getattr(config, "text_config", None) or config
    v = getattr(tc, "sn_full_depth", None)
    return int(v) if v else None


def full_depth_loaded(family: str):
    """A :class:`~sn_core.models.loading.LoadedModel` of ``family``'s example checkpoint at its real widths and
    full depth, built on the ``meta`` device (parameter shapes only, no memory, no weights): enough to count its
    FLOPs (:mod:`sn_core.models.flops`) and to encode examples with its real-resolution processor. Qwen-VL
    processors get the adapter's pixel budget, as on load."""
    import torch

    from sn_core.models.loading import wrap_model

    full = int(text_dict(real_config(family))["num_hidden_layers"])
    with torch.device("meta"):
        model, proc = BUILDS[family].builder(checkpoint_files(family), "real", full, 0, 0)
    loaded = wrap_model(model, proc, model_id=f"{BUILDS[family].checkpoint} (meta)", weights_hash="meta")
    if hasattr(loaded.adapter, "image_tokens") and hasattr(proc.image_processor, "merge_size"):
        from sn_core.models.families.qwen2_vl import pin_pixel_budget

        pin_pixel_budget(proc.image_processor, loaded.adapter.image_tokens)
    return loaded


def full_depth_flop_limit(family: str, image, question: str, exit_layer: int = 0, new_tokens: int = 1,
                          loaded=None) -> dict:
    """:func:`sn_core.models.flops.flop_ratio` of the full-depth example checkpoint (:func:`full_depth_loaded`) on
    one example, encoded on the CPU by its real-resolution processor (prompt length from the offline tokenizer)."""
    from sn_core.models.flops import flop_ratio

    loaded = loaded or full_depth_loaded(family)
    inputs = loaded.adapter.encode(loaded.processor, [image], [loaded.prompt(question)])
    return flop_ratio(loaded, int(inputs["input_ids"].shape[1]), exit_layer, new_tokens, inputs=inputs)


__all__ = ["BUILDS", "CONFIG_DIR", "MODES", "FamilyBuild", "build_family", "checkpoint_files", "full_depth",
           "full_depth_flop_limit", "full_depth_loaded", "real_config", "scale_sections", "scaled_text", "text_dict"]
