"""Gemma 3 (``Gemma3ForConditionalGeneration``, e.g. ``google/gemma-3-4b-it``).

- Decoder at ``model.language_model.layers`` (Gemma3 text blocks: pre- and post-norms around attention and MLP,
  so the layer output is still the residual stream; GeGLU MLP with ``gate/up/down_proj``; explicit ``head_dim``).
  Embeddings are scaled by ``sqrt(d_model)`` inside the embedding module, so nothing changes for the sites.
- Vision: SigLIP tower ``model.vision_tower``; ``model.multi_modal_projector`` average-pools the patches to
  ``mm_tokens_per_image`` soft tokens (256 on hub checkpoints). The processor replaces ``<start_of_image>`` in the
  prompt by ``\\n\\n<start_of_image>`` + 256 ``<image_soft_token>`` + ``<end_of_image>\\n\\n``.
- ``token_type_ids`` (1 on image tokens) must reach the model: Gemma 3 lets the tokens of one image attend to
  each other bidirectionally and builds that mask from them; without them the image would be read causally,
  unlike in training. The processor returns them; :meth:`encode` refuses a batch without them.
- Interleaved sliding-window (local) and global attention layers (``layer_types``); ``truncate_config`` slices
  that list with ``num_hidden_layers`` when loading fewer layers. Plain 1-D RoPE (separate local/global
  bases): left padding needs ``position_ids`` from the attention mask (base default).
- Pan-and-scan (extra crops for large images) is off by default on hub processors and left off here.
"""
from __future__ import annotations

from sn_core.models.families._common import encode_nested
from sn_core.models.base import ModelAdapter
from sn_core.models.registry import register_adapter


@register_adapter
class Gemma3Adapter(ModelAdapter):
    model_types = ("gemma3",)

    def encode(self, processor, images, prompts):
        batch = encode_nested(processor, images, prompts)
        if "token_type_ids" not in batch:
            raise RuntimeError("the Gemma 3 processor returned no token_type_ids; image tokens would be attended "
                               "causally instead of bidirectionally")
        return batch
