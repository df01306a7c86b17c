"""Answers as text: how a generated answer or a manifest label is normalised and matched to a task's label set
(docs/method.md, "Baselines": strip, lower-case, punctuation)."""
from __future__ import annotations

import re
import string
from typing import Sequence

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
