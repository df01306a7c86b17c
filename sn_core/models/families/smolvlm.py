"""SmolVLM / SmolVLM2 (``smolvlm``, e.g. ``HuggingFaceTB/SmolVLM2-2.2B-Instruct``) and Idefics3 (``idefics3``: the
Idefics3 models and the first SmolVLM checkpoints, e.g. ``HuggingFaceTB/SmolVLM-Instruct``).

- Decoder at ``model.text_model.layers`` (a Llama / SmolLM2 model; not ``language_model``), vision tower
  ``model.vision_model`` (SigLIP-like), projector ``model.connector`` (pixel shuffle by ``scale_factor`` + linear).
- Image splitting: the processor resizes the image so its longest edge is ``size["longest_edge"]``, cuts it into
  a grid of ``max_image_size`` tiles and appends a downscaled global view; each tile gives ``image_seq_len``
  ``<image>`` tokens wrapped in ``<fake_token_around_image>`` and ``<row_i_col_j>`` / ``<global-img>`` markers.
  ``pixel_values`` is ``[batch, n_tiles, 3, H, W]`` with all-zero tiles padding rows that have fewer tiles, plus
  ``pixel_attention_mask``; the model drops the padding tiles. The token count therefore depends on the image's
  aspect ratio and size, like in real use; images are not resized further here.
- Plain 1-D RoPE: left padding needs ``position_ids`` from the attention mask (base default).
- The processors want images nested one list per prompt; the SmolVLM processor also needs ``num2words``.
"""
from __future__ import annotations

from sn_core.models.families._common import encode_nested
from sn_core.models.base import ModelAdapter
from sn_core.models.registry import register_adapter


@register_adapter
class SmolVLMAdapter(ModelAdapter):
    model_types = ("smolvlm",)
    layers_path = "model.text_model.layers"
    vision_tower_path = "model.vision_model"
    projector_path = "model.connector"

    def processor_class(self):
        from transformers import SmolVLMProcessor
        return SmolVLMProcessor

    def encode(self, processor, images, prompts):
        return encode_nested(processor, images, prompts)

    def load_processor(self, path, **kwargs):
        from sn_core.models.processors import load_processor
        return load_processor(path, self.processor_class(), **kwargs)


@register_adapter
class Idefics3Adapter(SmolVLMAdapter):
    model_types = ("idefics3",)

    def processor_class(self):
        from transformers import Idefics3Processor
        return Idefics3Processor  # has no video processor: AutoProcessor loads it without torchvision
