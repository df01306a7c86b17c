"""Special tokens written into a question or instruction.

A question holding the model's image placeholder (``<image>`` on LLaVA) makes the processor count two images in a
prompt with one, and it refuses the batch with its own token-count message ("Found 2 <image> tokens and 1
images"), which names no question; a control token (``<s>``, ``<|user|>``) silently changes the prompt. Any of the
processor's special tokens in the user's text is refused first, naming the field (:class:`SpecialTokenError`).
"""
from __future__ import annotations

import re
import weakref

# Processor attributes that hold placeholder strings on the supported families (LLaVA, Qwen-VL, Gemma 3, SmolVLM).
_PROCESSOR_TOKENS = ("image_token", "video_token", "boi_token", "eoi_token", "fake_image_token",
                     "global_image_token", "vision_start_token", "vision_end_token", "image_start_token",
                     "image_end_token")
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class SpecialTokenError(ValueError):
    """User text (a question, an instruction) holding one of the model's special tokens."""


def _entry(processor) -> tuple[tuple[str, ...], "re.Pattern | None"]:
    """(tokens, one compiled alternation of them): cached per processor (some tokenizers declare thousands)."""
    try:
        return _CACHE[processor]
    except (KeyError, TypeError):
        pass
    tok = getattr(processor, "tokenizer", processor)
    found = set(getattr(tok, "all_special_tokens", None) or [])
    for t in (getattr(tok, "added_tokens_decoder", None) or {}).values():
        if getattr(t, "special", False):
            found.add(str(getattr(t, "content", t)))
    for name in _PROCESSOR_TOKENS:
        v = getattr(processor, name, None)
        if isinstance(v, str):
            found.add(v)
    tokens = tuple(sorted((t for t in found if isinstance(t, str) and len(t.strip()) >= 2),
                          key=lambda t: (-len(t), t)))
    entry = (tokens, re.compile("|".join(re.escape(t) for t in tokens)) if tokens else None)
    try:
        _CACHE[processor] = entry
    except TypeError:  # not weak-referenceable: computed again next time
        pass
    return entry


def special_tokens(processor) -> tuple[str, ...]:
    """The special token strings of ``processor`` (its tokenizer's special and added special tokens, and the
    image / video placeholders the processor declares), longest first."""
    return _entry(processor)[0]


def special_token_in(processor, text: str) -> str | None:
    """The first special token of ``processor`` found in ``text`` (leftmost, longest), or None."""
    if not text:
        return None
    pat = _entry(processor)[1]
    m = pat.search(text) if pat is not None else None
    return m.group(0) if m else None


def check_text(processor, text: str, where: str, model) -> None:
    """SpecialTokenError naming ``where`` (e.g. ``m.jsonl row 3: field question``) if ``text`` holds a special
    token of the model."""
    tok = special_token_in(processor, text)
    if tok is not None:
        raise SpecialTokenError(f"{where} holds {tok!r}, a special token of model {str(model)!r} (its image "
                                "placeholder or a control token); remove it from the text")


def check_task_text(processor, model, task, instruction: str | None = None) -> None:
    """SpecialTokenError naming the file, row and field of the first question of ``task`` (or the instruction)
    holding one of the model's special tokens (``<image>``: the processor would count two images in the prompt)."""
    from pathlib import Path

    check_text(processor, instruction or "", "the instruction", model)
    src = Path(task.source).name if getattr(task, "source", "bundled") != "bundled" else task.name
    for i, ex in enumerate(task.examples):
        meta = ex.meta or {}
        at = (f"row {meta['row']}" if "row" in meta else f"image {meta['file']!r}" if "file" in meta
              else f"example {i + 1}")
        check_text(processor, ex.question, f"{src} {at}: field question", model)


__all__ = ["SpecialTokenError", "check_task_text", "check_text", "special_token_in", "special_tokens"]
