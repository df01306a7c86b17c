"""Shared by the family adapters (not a family itself: the registry skips modules starting with ``_``)."""
from __future__ import annotations

from typing import Sequence

from sn_core.models import prompts as _prompts


def encode_nested(processor, images: Sequence, prompts: Sequence[str]):
    """Left-padded batch with the images nested one list per prompt (``[[img], [img], ...]``).

    Gemma 3, SmolVLM and Idefics3 processors read a flat image list as *one* sample holding every image and
    refuse it ("Found [1, 1, 1] <image> tokens and [3] images per sample"); the nested form means one image per
    prompt for every family's processor, so all adapters but LLaVA's use it.
    """
    nested = [im if isinstance(im, (list, tuple)) else [im] for im in images]
    return _prompts.encode(processor, nested, prompts)
