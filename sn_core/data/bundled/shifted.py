"""Shifted-image variants of trained tasks (``kind="shifted"``): the same examples, question and label, on images
drawn differently from anything the demo model was trained on.

``get_task("<task>-shifted", n, seed, part)`` builds the original task's ``n`` examples with the same
``(seed, part)`` and replaces each image; labels, questions and their order are unchanged, so a split made from the
labels (``make_split``) picks the same examples in both, and a neuron fitted on the original task can be scored,
unchanged, on the shifted test images of the same examples. ``shifted_variant(task)`` names a trained task's
variant.

- Shapes (``shapes-color``, ``shapes-shape``, ``shapes-count``): the same objects (colour, kind, number) are drawn
  again, in freshly drawn grid cells and at the training sizes, on a **mid-grey background** (grey level 120-170,
  where training backgrounds are light and tinted, 200-255 per channel). On 120 examples each the demo model's own
  answers fell from 0.99-1.00 to 0.66-0.74 with this background; a dark grey one (40-110) brought them to chance,
  which would leave nothing to compare.
- Digits (``digits-class``, ``digits-parity``): the same scikit-learn image, **rotated** by a uniform angle of
  10-20 degrees either way (training digits are upright) with **Gaussian pixel noise** (standard deviation 24 grey
  levels) added.

Every shifted image depends only on ``(task, seed, part)`` and the example's position: deterministic.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from sn_core.data.bundled.digits import digit_image
from sn_core.data.bundled.shapes import IMAGE_SIZE, draw_objects, task_rng
from sn_core.data.tasks import BundledTaskSpec, Example, bundled_spec, register

GREY_BACKGROUND = (120, 171)  # grey level range of the shifted backgrounds (training: 200-255 per channel)
DIGIT_ANGLE = (10.0, 20.0)  # degrees, either direction
DIGIT_NOISE = 24.0  # standard deviation of the added pixel noise, grey levels


def draw_scene_shifted(objects: list[tuple[str, str]], rng: np.random.Generator,
                       size: int = IMAGE_SIZE) -> Image.Image:
    """``shapes.draw_scene`` on a mid-grey background (``GREY_BACKGROUND``) instead of a light tinted one."""
    grey = int(rng.integers(*GREY_BACKGROUND))
    noise = rng.normal(0, 6, size=(size, size, 1))
    arr = np.clip(grey + noise, 0, 255).repeat(3, axis=2).astype(np.uint8)
    return draw_objects(Image.fromarray(arr, "RGB"), objects, rng)


def shift_digit(index: int, rng: np.random.Generator, size: int = IMAGE_SIZE) -> Image.Image:
    """scikit-learn digit ``index`` as ``digits.digit_image`` draws it, rotated 10-20 degrees (either way, about the
    centre, the corners filled with the background) plus Gaussian pixel noise."""
    angle = float(rng.uniform(*DIGIT_ANGLE)) * (1 if rng.random() < 0.5 else -1)
    img = digit_image(index, size).convert("L").rotate(angle, resample=Image.BILINEAR, fillcolor=255)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, DIGIT_NOISE, size=(size, size))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")


def _shifted_maker(original: str, name: str, shift):
    def make(n: int, seed: int, part: str) -> list[Example]:
        rng = task_rng(name, seed, part)
        out = []
        for ex in bundled_spec(original).make(n, seed, part):
            meta = dict(ex.meta, shifted_from=original)
            out.append(Example(shift(ex, rng), ex.question, ex.label, meta))
        return out
    return make


def _shapes(ex: Example, rng: np.random.Generator) -> Image.Image:
    return draw_scene_shifted([tuple(o) for o in ex.meta["objects"]], rng)


def _digits(ex: Example, rng: np.random.Generator) -> Image.Image:
    return shift_digit(int(ex.meta["digits_index"]), rng)


_SHAPES_SHIFT = "mid-grey background, grey level 120-170"
_DIGITS_SHIFT = "rotated 10-20 degrees either way, with Gaussian pixel noise (sd 24)"

for _orig, _shift, _what in [("shapes-color", _shapes, _SHAPES_SHIFT), ("shapes-shape", _shapes, _SHAPES_SHIFT),
                             ("shapes-count", _shapes, _SHAPES_SHIFT), ("digits-class", _digits, _DIGITS_SHIFT),
                             ("digits-parity", _digits, _DIGITS_SHIFT)]:
    _spec = bundled_spec(_orig)
    register(BundledTaskSpec(f"{_orig}-shifted", _spec.labels, _spec.question,
                             f"{_spec.description} Shifted images ({_what}); same examples, question and labels as "
                             f"{_orig}.", _shifted_maker(_orig, f"{_orig}-shifted", _shift),
                             kind="shifted", derived_from=_orig))
