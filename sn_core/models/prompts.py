"""Prompts as the model sees them: the question in the model's own chat template with the generation prompt
appended, batched with left padding so the read position (the last prompt token) is column -1 of every row.

Family-specific details (image placeholders, pixel limits) belong to the model adapters in ``sn_core/models``;
this module only holds what every chat-template processor shares.
"""
from __future__ import annotations

import re
import string
from typing import Sequence

from PIL import Image


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


_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


def normalise_answer(text: str) -> str:
    """Strip, lower-case and drop punctuation; collapse whitespace (docs/method.md, "Baselines")."""
    return " ".join(_PUNCT.sub(" ", text.strip().lower()).split())


def match_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label a generated answer names, or ``None`` when it names none.

    The normalised answer must equal a normalised label, or its first word must (so "Yes, there is." counts as
    "yes", which a careful reader would also accept). Anything else is outside the label set and counts as wrong.
    """
    norm = {normalise_answer(lbl): lbl for lbl in labels}
    a = normalise_answer(answer)
    if a in norm:
        return norm[a]
    first = a.split(" ", 1)[0] if a else ""
    return norm.get(first)
