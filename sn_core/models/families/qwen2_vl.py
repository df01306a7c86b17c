"""Qwen2-VL (``Qwen2VLForConditionalGeneration``, e.g. ``Qwen/Qwen2-VL-2B-Instruct``); the base of the Qwen2.5-VL
and Qwen3-VL adapters.

- Decoder at ``model.language_model.layers`` (transformers 5; 4.x had ``model.layers``); Qwen2 blocks, so the
  sites are ``mlp.down_proj`` / ``self_attn.o_proj`` inputs and the layer output.
- Vision: ``model.visual`` (a ViT whose ``merger`` is the projector); each image becomes ``t*h*w / merge^2``
  ``<|image_pad|>`` tokens between ``<|vision_start|>`` and ``<|vision_end|>``.
- Positions are M-RoPE: 3 rows (time, height, width) per token, computed by ``model.model.get_rope_index`` from
  ``input_ids``, ``mm_token_type_ids`` and ``image_grid_thw``. It drops padded columns using the attention mask,
  so left-padded rows get exactly the positions they get alone; hence ``needs_position_ids = False`` (a 1-D
  ``cumsum`` would discard the image grid). ``mm_token_type_ids`` must reach the model: the processor returns it.
  The model caches ``rope_deltas`` between calls, but recomputes them on every prefill without a KV cache, which
  is the only kind of forward extraction and early exit run (``use_cache=False``).
- Image size: Qwen processors resize each image to between ``min_pixels`` and ``max_pixels`` (hub defaults
  3136 .. 12.8M px), so the number of visual tokens, and with it every activation, depends on the image's
  resolution and on whatever the checkpoint's processor config says. For reproducible probing the adapter pins
  both limits to the same budget: ``image_tokens`` (256) visual tokens, i.e. ``256 * (patch*merge)^2`` pixels
  (448x448 px for patch 14, 512x512 px for Qwen3-VL's patch 16), or the checkpoint's ``max_pixels`` if smaller.
  Every image is then resized (aspect ratio kept) to about that budget: exactly 256 tokens for a square image,
  a few percent more or less for other aspect ratios (both sides are rounded to whole ``patch*merge`` cells).
"""
from __future__ import annotations

from sn_core.models.families._common import encode_nested
from sn_core.models.base import ModelAdapter
from sn_core.models.registry import register_adapter


def pin_pixel_budget(image_processor, image_tokens: int) -> int:
    """Set ``min_pixels == max_pixels`` on a Qwen-VL image processor so every image gets ~``image_tokens``
    visual tokens; returns the pixel budget. Never raises the checkpoint's own ``max_pixels``."""
    from transformers.image_processing_utils import SizeDict

    factor = int(image_processor.patch_size) * int(image_processor.merge_size)
    size = image_processor.size
    current_max = (size.get("longest_edge") if isinstance(size, dict) else getattr(size, "longest_edge", None))
    pixels = image_tokens * factor * factor
    if current_max:
        pixels = min(pixels, int(current_max))
    pixels = max(pixels, factor * factor)
    image_processor.size = SizeDict(shortest_edge=pixels, longest_edge=pixels)
    return pixels


@register_adapter
class Qwen2VLAdapter(ModelAdapter):
    model_types = ("qwen2_vl",)
    vision_tower_path = "model.visual"
    projector_path = "model.visual.merger"
    needs_position_ids = False  # M-RoPE positions come from get_rope_index (attention-mask aware)
    image_tokens = 256  # fixed visual-token budget per image (see the module docstring)

    def processor_class(self):
        from transformers import Qwen2VLProcessor
        return Qwen2VLProcessor

    def encode(self, processor, images, prompts):
        batch = encode_nested(processor, images, prompts)
        if "image_grid_thw" in batch and "mm_token_type_ids" not in batch:
            raise RuntimeError("the Qwen-VL processor returned no mm_token_type_ids; M-RoPE positions would be "
                               "wrong (transformers >= 5 processors return them)")
        return batch

    def load_processor(self, path, **kwargs):
        from sn_core.models.processors import load_processor
        proc = load_processor(path, self.processor_class(), **kwargs)
        pin_pixel_budget(proc.image_processor, self.image_tokens)
        return proc
