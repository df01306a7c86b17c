"""LLaVA (``LlavaForConditionalGeneration``): the demo model's family (SigLIP/CLIP tower, MLP projector, Llama-
style decoder at ``model.language_model.layers``)."""
from __future__ import annotations

from .base import ModelAdapter
from .registry import register_adapter


@register_adapter
class LlavaAdapter(ModelAdapter):
    model_types = ("llava",)
    layers_path = "model.language_model.layers"
    mlp_out = "mlp.down_proj"
    attn_out = "self_attn.o_proj"
    vision_tower_path = "model.vision_tower"
    projector_path = "model.multi_modal_projector"
    text_config_attr = "text_config"
    needs_position_ids = True
