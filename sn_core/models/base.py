"""The adapter base: where one architecture keeps its decoder layers and activation sites.

An adapter is declarative: class attributes name module paths (dotted, as ``named_modules()`` prints them), and a
few small methods cover what differs between families (prompt building, extra forward inputs, config
truncation). A new family is one file in ``sn_core/models/`` with a subclass decorated by
:func:`sn_core.models.registry.register_adapter`, plus a tiny-config test.

Sites (``sn_core.sites``) resolve to a module and a side of it:

- ``mlp``   -> ``layers[L].<mlp_out>``   input  (forward pre-hook), ``[batch, pos, d_mlp]``
- ``attn``  -> ``layers[L].<attn_out>``  input  (forward pre-hook), ``[batch, pos, n_heads*d_head]``
- ``resid`` -> ``layers[L]``             output (forward hook),     ``[batch, pos, d_model]``
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import torch

from sn_core.models import prompts as _prompts
from sn_core.sites import site_kind


def get_module(root: torch.nn.Module, path: str) -> torch.nn.Module:
    """The submodule at dotted ``path`` (``""`` is ``root``); AttributeError naming the missing part."""
    mod = root
    for part in [p for p in path.split(".") if p]:
        if not hasattr(mod, part):
            raise AttributeError(f"{type(root).__name__} has no submodule {path!r} (stopped at {part!r})")
        mod = getattr(mod, part)
    return mod


class ModelAdapter:
    """Where a family keeps things. The defaults are the layout most families share (LLaVA, LLaVA-OneVision,
    Gemma 3: decoder at ``model.language_model.layers``, Llama-style MLP and attention projections, the vision tower
    and projector beside it, a ``text_config``); a family file declares only what differs. Methods rarely need
    changes."""

    model_types: ClassVar[tuple[str, ...]] = ()  # HF config.model_type values this adapter handles
    layers_path: ClassVar[str] = "model.language_model.layers"  # decoder layers ModuleList
    mlp_out: ClassVar[str] = "mlp.down_proj"  # relative to a layer; its input is mlp.hook_post
    attn_out: ClassVar[str] = "self_attn.o_proj"  # relative to a layer; its input is attn.hook_z
    vision_tower_path: ClassVar[str | None] = "model.vision_tower"
    projector_path: ClassVar[str | None] = "model.multi_modal_projector"
    lm_head_path: ClassVar[str] = "lm_head"
    text_config_attr: ClassVar[str | None] = "text_config"  # sub-config holding num_hidden_layers etc.
    # With left padding, pass position_ids = cumsum(attention_mask) - 1 so every row's positions start at 0 as
    # they would unpadded (what ``generate`` does). Families with their own position scheme (M-RoPE in
    # Qwen-VL) compute it from the attention mask themselves and set this False.
    needs_position_ids: ClassVar[bool] = True

    # ------------------------------------------------------------------ config
    def text_config(self, config):
        """The sub-config describing the language model (``config`` itself for flat configs)."""
        return getattr(config, self.text_config_attr) if self.text_config_attr else config

    def n_layers(self, config) -> int:
        return int(self.text_config(config).num_hidden_layers)

    def attention_layout(self, config) -> tuple[int, int]:
        """(n_heads, d_head) of the language model's attention."""
        tc = self.text_config(config)
        n_heads = int(tc.num_attention_heads)
        d_head = getattr(tc, "head_dim", None) or tc.hidden_size // n_heads
        return n_heads, int(d_head)

    def widths(self, config) -> dict[str, int]:
        """Width of each site kind: ``{"mlp": d_mlp, "resid": d_model, "attn": n_heads*d_head}``."""
        tc = self.text_config(config)
        n_heads, d_head = self.attention_layout(config)
        return {"mlp": int(tc.intermediate_size), "resid": int(tc.hidden_size), "attn": n_heads * d_head}

    def truncate_config(self, config, n_layers: int) -> None:
        """Keep the first ``n_layers`` decoder layers in ``config`` (in place), with per-layer lists sliced."""
        tc = self.text_config(config)
        tc.num_hidden_layers = n_layers
        for attr in ("layer_types", "sliding_window_pattern_list", "no_rope_layers"):
            val = getattr(tc, attr, None)
            if isinstance(val, (list, tuple)):
                setattr(tc, attr, type(val)(val[:n_layers]))

    # ------------------------------------------------------------------ modules
    def layers(self, model) -> torch.nn.ModuleList:
        return get_module(model, self.layers_path)

    def site_module(self, model, kind: str, layer: int) -> tuple[torch.nn.Module, str]:
        """(module, ``"input"`` or ``"output"``) holding site ``kind`` at ``layer``."""
        kind = site_kind(kind)
        layers = self.layers(model)
        if not 0 <= layer < len(layers):
            raise ValueError(f"layer {layer} requested, the model has {len(layers)} decoder layers loaded "
                             f"(0..{len(layers) - 1})")
        block = layers[layer]
        if kind == "mlp":
            return get_module(block, self.mlp_out), "input"
        if kind == "attn":
            return get_module(block, self.attn_out), "input"
        return block, "output"

    # ------------------------------------------------------------------ truncated forward
    def prefix_forward(self, model, inputs: dict, last_layer: int) -> bool:
        """Run the forward pass on ``inputs`` (``forward_inputs`` of a batch) through decoder layer ``last_layer``
        only, calling the modules directly: no later layer, final norm or LM head, and no exception to stop.
        Hooks on the modules that run fire as in ``model(**inputs)``. Returns False, without running anything,
        where this adapter has no direct path for ``model`` or ``inputs``; the caller then runs ``model(**inputs)``
        and stops it with a hook (``sn_core.activations.trace.Trace``), which works for every family. A direct path saves
        the per-call work of the wrappers around the language model (0.2-0.5 ms a call on the demo model on a CPU,
        measured at batch 1); it must give the same values, bit for bit
        (``tests/integration/test_engine.py``)."""
        return False

    # ------------------------------------------------------------------ inputs
    def load_processor(self, path, **kwargs):
        """The checkpoint's processor (``AutoProcessor.from_pretrained``). Families override it to work without
        torchvision (video-capable processors) or to pin image-size settings (Qwen-VL pixel budget)."""
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(path, **kwargs)

    def build_prompt(self, processor, text: str) -> str:
        """The question text in the model's chat template, generation prompt appended."""
        return _prompts.chat_prompt(processor, text)

    def encode(self, processor, images: Sequence, prompts: Sequence[str]):
        """Left-padded batch (read position = column -1), as ``sn_core.models.prompts.encode``."""
        return _prompts.encode(processor, images, prompts)

    def forward_inputs(self, batch) -> dict:
        """Keyword arguments for ``model(**...)`` from an encoded batch: ``position_ids`` for left padding,
        no KV cache (a single prefill)."""
        inputs = dict(batch)
        if self.needs_position_ids and "attention_mask" in inputs and "position_ids" not in inputs:
            mask = inputs["attention_mask"]  # [batch, pos]
            inputs["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)  # [batch, pos]
        inputs["use_cache"] = False
        return inputs
