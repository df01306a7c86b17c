"""LLaVA-OneVision (``LlavaOnevisionForConditionalGeneration``, e.g. ``llava-hf/llava-onevision-qwen2-0.5b-ov-hf``).

SigLIP tower + MLP projector + Qwen2 decoder at ``model.language_model.layers``. Images are processed "anyres":
a base view plus the tiles of the best-fitting grid pinpoint, each tile's patches unpadded to the image's aspect
ratio with a newline token per row (``anyres_max_9`` pools the tiles when there are too many). The processor
counts these tokens from the image size and expands ``<image>`` to match; ``image_sizes`` goes to the model.
The decoder uses plain 1-D RoPE, so left padding needs ``position_ids`` from the attention mask (base default).
"""
from __future__ import annotations

from sn_core.models.families._common import encode_nested
from sn_core.models.base import ModelAdapter
from sn_core.models.registry import register_adapter


@register_adapter
class LlavaOnevisionAdapter(ModelAdapter):
    model_types = ("llava_onevision",)

    def encode(self, processor, images, prompts):
        return encode_nested(processor, images, prompts)

    def load_processor(self, path, **kwargs):
        from transformers import LlavaOnevisionProcessor

        from sn_core.models.processors import load_processor
        return load_processor(path, LlavaOnevisionProcessor, **kwargs)
