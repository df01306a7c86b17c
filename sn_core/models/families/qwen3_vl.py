"""Qwen3-VL (``Qwen3VLForConditionalGeneration``, e.g. ``Qwen/Qwen3-VL-2B-Instruct``).

Layout as Qwen2-VL (see ``qwen2_vl.py``): decoder at ``model.language_model.layers`` (Qwen3 blocks: q/k norms,
explicit ``head_dim``), ``model.visual`` with ``merger``, interleaved M-RoPE from ``get_rope_index``
(attention-mask aware). Patch size 16, so the pinned 256-token budget is 512x512 px.

DeepStack: features from some vision layers are *added to the hidden states at the image-token positions* after
text layers ``0 .. len(deepstack_visual_indexes)-1``, outside the decoder-layer modules. ``hook_resid_post`` is
the output of ``layers[L]``, i.e. before that addition; at the read position (the last prompt token, a text
token) the addition is zero, so the value read equals the residual stream that layer ``L+1`` receives there.
Early exit after layer ``L`` reads the same values because it runs the same modules in the same order. Only
``Qwen3VLForConditionalGeneration`` (dense) is registered: the MoE variant (``qwen3_vl_moe``) has experts in
place of ``mlp.down_proj`` and is not supported.
"""
from __future__ import annotations

from sn_core.models.families.qwen2_vl import Qwen2VLAdapter
from sn_core.models.registry import register_adapter


@register_adapter
class Qwen3VLAdapter(Qwen2VLAdapter):
    model_types = ("qwen3_vl",)

    def processor_class(self):
        from transformers import Qwen3VLProcessor
        return Qwen3VLProcessor
