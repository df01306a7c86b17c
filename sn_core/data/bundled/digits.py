"""Tasks on the real handwritten digits that scikit-learn ships (``load_digits``: 1797 images, 8x8, 16 levels).

The 1797 images are split once, by a fixed seeded permutation stratified by digit, into a ``train`` part
(60%, the demo model's training data) and an ``eval`` part (40%, from which probe and test splits are drawn), so
probe and test images are never images the demo model was trained on.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from sn_core.data.bundled.shapes import IMAGE_SIZE, task_rng
from sn_core.data.tasks import BundledTaskSpec, Example, balanced_labels, register

DIGITS = tuple(str(d) for d in range(10))
_TRAIN_FRACTION = 0.6


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)  # [1797, 8, 8] in 0..16, [1797]


@lru_cache(maxsize=2)
def part_indices(part: str) -> dict[int, np.ndarray]:
    """Indices of each digit's images in the ``train`` or ``eval`` part (fixed, seed-independent)."""
    _, y = _digits()
    rng = np.random.default_rng(1797)
    out = {}
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(y == d))
        cut = int(round(len(idx) * _TRAIN_FRACTION))
        out[d] = idx[:cut] if part == "train" else idx[cut:]
    return out


def digit_image(i: int, size: int = IMAGE_SIZE) -> Image.Image:
    """Image ``i`` of ``load_digits`` as dark ink on a light RGB background, upscaled bilinearly to ``size``."""
    x, _ = _digits()
    arr = (255 - x[i] * (255 / 16)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(arr, "L").resize((size, size), Image.BILINEAR).convert("RGB")


def draw_digit_index(part: str, rng: np.random.Generator, digit: int) -> int:
    pool = part_indices(part)[digit]
    return int(pool[rng.integers(0, len(pool))])


def too_many_error(task: str, n: int, part: str, most: int, why: str) -> ValueError:
    return ValueError(f"{task}: {n} examples would repeat images ({why} in the {part!r} part), and a repeated image "
                      f"can fall in both the probe and the test split; ask for at most {most} examples")


def _make_class(n: int, seed: int, part: str) -> list[Example]:
    rng = task_rng("digits-class", seed, part)
    out = []
    # Sample without replacement within each digit. Only the training part (the demo model's training data, never
    # split) draws again once a digit's pool is used up; elsewhere a repeat could sit on both sides of the split.
    pools = {d: list(rng.permutation(part_indices(part)[d])) for d in range(10)}
    for label in balanced_labels(list(DIGITS), n, rng):
        d = int(label)
        if not pools[d] and part != "train":
            sizes = [len(v) for v in part_indices(part).values()]
            raise too_many_error("digits-class", n, part, 10 * min(sizes),
                            f"balanced classes, {min(sizes)}-{max(sizes)} distinct images per digit")
        i = int(pools[d].pop()) if pools[d] else draw_digit_index(part, rng, d)
        out.append(Example(digit_image(i), "Which digit is this?", label, {"digits_index": i}))
    return out


def _make_parity(n: int, seed: int, part: str) -> list[Example]:
    rng = task_rng("digits-parity", seed, part)
    out = []
    pools = {d: list(rng.permutation(part_indices(part)[d])) for d in range(10)}
    for label in balanced_labels(["yes", "no"], n, rng):
        same = [0, 2, 4, 6, 8] if label == "yes" else [1, 3, 5, 7, 9]
        d = int(rng.choice(same))
        if not pools[d] and part != "train":  # this digit is used up: another of the same parity (no repeats)
            left = [c for c in same if pools[c]]
            if not left:
                sizes = part_indices(part)
                even, odd = (sum(len(sizes[c]) for c in digits) for digits in ((0, 2, 4, 6, 8), (1, 3, 5, 7, 9)))
                raise too_many_error("digits-parity", n, part, 2 * min(even, odd),
                                f"balanced yes/no, {even} even and {odd} odd distinct images")
            d = int(rng.choice(left))
        i = int(pools[d].pop()) if pools[d] else draw_digit_index(part, rng, d)
        out.append(Example(digit_image(i), "Is the digit even?", label, {"digits_index": i, "digit": d}))
    return out


register(BundledTaskSpec("digits-class", DIGITS, "Which digit is this?",
                         "Handwritten digit from scikit-learn's load_digits (10 classes).", _make_class))
register(BundledTaskSpec("digits-parity", ("yes", "no"), "Is the digit even?",
                         "Whether a handwritten digit is even (yes/no).", _make_parity))
