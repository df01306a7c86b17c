"""Grounding controls of the robustness report: the same questions on images that carry no answer (a blank image,
noise, or another example's image), so a classifier that answers from the question alone shows up."""
from __future__ import annotations

from typing import Sequence

import numpy as np

CONTROLS = ("blank", "noise", "shuffled")
CONTROL_NAMES = {"blank": "blank image", "noise": "noise image", "shuffled": "shuffled images"}
BLANK_RGB = (128, 128, 128)


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation without fixed points (n >= 2): a random cycle through all positions."""
    order = rng.permutation(n)
    perm = np.empty(n, dtype=np.int64)
    perm[order] = np.roll(order, -1)
    return perm


def control_images(kind: str, images: Sequence, seed: int = 0) -> list:
    """The images of a grounding control: ``blank`` (uniform mid-grey), ``noise`` (uniform random pixels) or
    ``shuffled`` (the images permuted so none stays in place), each the size of the image it replaces."""
    from PIL import Image

    from sn_core.data.images import as_rgb

    ims = [as_rgb(im) for im in images]
    if kind == "blank":
        return [Image.new("RGB", im.size, BLANK_RGB) for im in ims]
    if kind == "noise":
        return [Image.fromarray(np.random.default_rng([seed, 0xA015E, i]).integers(
            0, 256, size=(im.size[1], im.size[0], 3), dtype=np.uint8), "RGB") for i, im in enumerate(ims)]
    if kind == "shuffled":
        if len(ims) < 2:
            return list(ims)
        perm = _derangement(len(ims), np.random.default_rng([seed, 0x5A0FF1E]))
        return [ims[int(j)] for j in perm]
    raise ValueError(f"unknown control {kind!r}; use one of {', '.join(CONTROLS)}")
