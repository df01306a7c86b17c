"""LLaVA (``LlavaForConditionalGeneration``): the demo model's family (SigLIP/CLIP tower, MLP projector, Llama-
style decoder at ``model.language_model.layers``)."""
from __future__ import annotations

import torch

from sn_core.models.base import ModelAdapter
from sn_core.models.registry import register_adapter

# Text models whose forward is exactly: causal mask, rotary embeddings, the decoder layers in turn (read in
# transformers 5.24). Others (sliding-window masks in Mistral / Qwen2, Gemma's embedding scale, ...) take the
# generic hooked path.
_DIRECT_TEXT_MODELS = ("LlamaModel",)
_DIRECT_INPUTS = {"input_ids", "attention_mask", "pixel_values", "position_ids", "use_cache"}


@register_adapter
class LlavaAdapter(ModelAdapter):
    model_types = ("llava",)

    def prefix_forward(self, model, inputs: dict, last_layer: int) -> bool:
        """``LlavaModel.forward`` then ``LlamaModel.forward`` as transformers 5.24 writes them (image features
        into the placeholder embeddings, causal mask, rotary embeddings, layers), stopped after ``last_layer``."""
        core = getattr(model, "model", None)
        lm = getattr(core, "language_model", None)
        if (type(lm).__name__ not in _DIRECT_TEXT_MODELS or not set(inputs) <= _DIRECT_INPUTS
                or inputs.get("use_cache") or "input_ids" not in inputs):
            return False
        from transformers.masking_utils import create_causal_mask

        ids = inputs["input_ids"]  # [batch, pos]
        embeds = lm.embed_tokens(ids)  # [batch, pos, d_model]
        if inputs.get("pixel_values") is not None:
            feats = _siglip_image_features(core, inputs["pixel_values"])
            if feats is None:
                feats = torch.cat(core.get_image_features(pixel_values=inputs["pixel_values"],
                                                          return_dict=True).pooler_output, dim=0)
            feats = feats.to(embeds.device, embeds.dtype)  # [n_image_tokens, d_model]
            where = core.get_placeholder_mask(ids, inputs_embeds=embeds, image_features=feats)  # [batch, pos, 1]
            embeds = embeds.masked_scatter(where, feats)
        pos = inputs.get("position_ids")
        if pos is None:
            pos = torch.arange(embeds.shape[1], device=embeds.device).unsqueeze(0)  # [1, pos]
        mask = create_causal_mask(config=lm.config, inputs_embeds=embeds, attention_mask=inputs.get("attention_mask"),
                                  cache=None, position_ids=pos)
        rope = lm.rotary_emb(embeds, position_ids=pos)
        hidden = embeds
        for layer in lm.layers[:last_layer + 1]:
            hidden = layer(hidden, attention_mask=mask, position_embeddings=rope, position_ids=pos)
        return True


def _siglip_image_features(core, pixel_values: torch.Tensor) -> torch.Tensor | None:
    """``LlavaModel.get_image_features`` for a SigLIP tower whose last layer is the feature layer, as transformers
    5.24 computes it (embeddings, every encoder layer, ``vision_feature_select_strategy``, projector), without the
    output-capturing wrappers and without the post-layernorm whose output LLaVA discards (SigLIP's
    ``hidden_states[-1]`` is the encoder output before it). ``[n_images * image_tokens, d_model]``, or None where
    this does not apply (another tower, another feature layer, a config that ties the last hidden state, a tower
    dispatched by accelerate)."""
    tower, cfg = core.vision_tower, core.config
    layer = cfg.vision_feature_layer
    if type(tower).__name__ != "SiglipVisionModel" or not isinstance(layer, int):
        return None
    blocks = tower.encoder.layers
    if layer not in (-1, len(blocks)) or getattr(tower.config, "tie_last_hidden_states", False):
        return None
    if any(hasattr(m, "_hf_hook") for m in tower.modules()):  # accelerate device_map / offload hooks: they move
        return None  # inputs and weights on the tower's own call, which this path would skip
    hidden = tower.embeddings(pixel_values)  # [n_images, patches, d_vision]
    for block in blocks:
        hidden = block(hidden, None)
    if cfg.vision_feature_select_strategy == "default":
        hidden = hidden[:, 1:]
    feats = core.multi_modal_projector(hidden)  # [n_images, image_tokens, d_model]
    return feats.reshape(-1, feats.shape[-1])
