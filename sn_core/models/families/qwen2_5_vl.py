"""Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``, e.g. ``Qwen/Qwen2.5-VL-3B-Instruct``).

Same layout as Qwen2-VL (see ``qwen2_vl.py``): decoder at ``model.language_model.layers``, M-RoPE positions from
``get_rope_index`` (attention-mask aware, so left padding is safe), ``model.visual`` with its ``merger``. The
vision tower differs (window attention, RMSNorm, SwiGLU), which the adapter does not touch; the pixel budget is
pinned the same way (256 visual tokens = 448x448 px).
"""
from __future__ import annotations

from sn_core.models.families.qwen2_vl import Qwen2VLAdapter
from sn_core.models.registry import register_adapter


@register_adapter
class Qwen2_5_VLAdapter(Qwen2VLAdapter):
    model_types = ("qwen2_5_vl",)

    def processor_class(self):
        from transformers import Qwen2_5_VLProcessor
        return Qwen2_5_VLProcessor
