"""Prompts as the model sees them: the question in the model's own chat template with the generation prompt
appended, batched with left padding so the read position (the last prompt token) is column -1 of every row.

Family-specific details (image placeholders, pixel limits) belong to the model adapters in ``sn_core/models``;
this module only holds what every chat-template processor shares.
"""
from __future__ import annotations

from typing import Sequence

from PIL import Image

from sn_core.data.answers import match_label, normalise_answer  # noqa: F401  (re-exported: sn_core.prompts)


def user_messages(text: str) -> list[dict]:
    """One user turn holding an image and ``text`` (question plus answer-format instruction)."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


def chat_prompt(processor, text: str) -> str:
    """The prompt string: ``text`` with one image, in the processor's chat template, generation prompt appended."""
    return processor.apply_chat_template(user_messages(text), add_generation_prompt=True, tokenize=False)


def encode(processor, images: Sequence[Image.Image], prompts: Sequence[str], **kwargs):
    """Tokenise a batch of (image, prompt string) pairs with **left** padding.

    Returns the processor's ``BatchFeature`` (``input_ids [batch, pos]``, ``attention_mask [batch, pos]``,
    ``pixel_values`` and family extras). With left padding the read position is ``pos - 1`` for every row.
    """
    # padding_side as a call argument, not by setting tok.padding_side: the processor is shared by threads (app
    # sessions) and a temporary edit of it could leak into another thread's call.
    return processor(images=list(images), text=list(prompts), padding=True, padding_side="left", return_tensors="pt",
                     **kwargs)
