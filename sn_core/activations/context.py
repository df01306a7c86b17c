"""Checks before a forward pass: a prompt that fits the model's context, sites and layers the loaded model has."""
from __future__ import annotations

from typing import Sequence

from sn_core.sites import SITE_KINDS, site_kind


class PromptTooLongError(ValueError):
    """A prompt (chat template, question, instruction and image tokens) longer than the model's context."""


def context_length(loaded) -> int | None:
    """The model's context in positions (``max_position_embeddings`` of its text config), or None if unknown."""
    cfg = loaded.model.config
    try:
        cfg = cfg.get_text_config()
    except Exception:  # noqa: BLE001 - a config without sub-configs is its own text config
        pass
    n = getattr(cfg, "max_position_embeddings", None)
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def check_context(loaded, inputs: dict, questions: Sequence[str] = (), ctx: int | None = -1) -> None:
    """Raise :class:`PromptTooLongError` if the encoded batch ``inputs`` is longer than the model's context
    (``ctx``; -1: read it from the model), naming the longest question of ``questions``."""
    ctx = context_length(loaded) if ctx == -1 else ctx
    ids = inputs.get("input_ids") if hasattr(inputs, "get") else None
    if ctx is None or ids is None or ids.shape[-1] <= ctx:
        return
    mask = inputs.get("attention_mask")
    lengths = mask.sum(-1).tolist() if mask is not None else [ids.shape[-1]] * ids.shape[0]
    row = max(range(len(lengths)), key=lengths.__getitem__)
    q = questions[row] if row < len(questions) else ""
    what = f"the prompt of question {q[:60] + '...' if len(q) > 60 else q!r} ({len(q):,} characters)" if q else \
        "a prompt"
    raise PromptTooLongError(f"{what} is {int(lengths[row]):,} tokens with its image and the chat "
                             f"template, more than the model's context of {ctx:,} positions; shorten the question "
                             "or the instruction")


def check_sites_layers(loaded, sites: Sequence[str], layers: Sequence[int] | None) -> tuple[tuple, tuple]:
    """Canonical (sites, layers); ValueError naming a bad site or a layer the loaded model lacks."""
    if isinstance(sites, str):
        sites = (sites,)
    sites = tuple(dict.fromkeys(site_kind(s) for s in sites))
    if not sites:
        raise ValueError("no sites requested; use one or more of " + ", ".join(SITE_KINDS))
    n = loaded.n_layers
    layers = tuple(range(n)) if layers is None else tuple(sorted(dict.fromkeys(int(layer) for layer in layers)))
    if not layers:
        raise ValueError("no layers requested")
    bad = [layer for layer in layers if not 0 <= layer < n]
    if bad:
        raise ValueError(f"layer {bad[0]} requested, the model has {n} decoder layers loaded (0..{n - 1})")
    return sites, layers
