"""Unseen-question tasks: yes/no questions the demo model was never trained to answer, about what it was trained to
see (``kind="unseen-question"``).

The demo model was trained on six questions only ("What color is the shape?", "Is there a red circle?", ...). The
tasks here ask other questions about the same kind of images, in words the demo tokenizer knows (a word outside its
vocabulary would reach the model as ``<unk>``; ``tests/unit/test_unseen_tasks.py`` checks every question):

==================== ================================ ====== ====================================================
task                 question (example)               labels derived from (what the model was trained to see)
==================== ================================ ====== ====================================================
``shapes-is-color``  Is the shape red?                yes/no ``shapes-color``: the colour of a single shape
``shapes-is-shape``  Is it a triangle?                yes/no ``shapes-shape``: the kind of a single shape
``shapes-count-is``  Are there 3 shapes? / Is there   yes/no ``shapes-count``: the number of shapes (1-4)
                     one shape?
``shapes-has-shape`` Is there a circle?               yes/no ``shapes-exists``: scenes of 1-3 shapes, kind only
``shapes-has-color`` Is there a blue shape?           yes/no ``shapes-exists``: scenes of 1-3 shapes, colour only
``digits-is``        Is the digit 7?                  yes/no ``digits-class``: which handwritten digit
==================== ================================ ====== ====================================================

The value asked about varies from example to example, and every task is balanced over (label, value in the image)
pairs: half the answers are "yes", every colour / shape / count / digit appears equally often in the images of
either answer, and on a "no" the value asked is drawn uniformly from the other values. So neither the question
alone nor the image alone tells the answer; only comparing the two does. Images are drawn as in the task they derive
from (``shapes.draw_scene``; scikit-learn's digits from the same disjoint ``train`` / ``eval`` parts, never repeating
an eval image). Every generator is deterministic in ``(seed, part)``.
"""
from __future__ import annotations

import numpy as np

from sn_core.data.bundled.digits import DIGITS, digit_image, draw_digit_index, part_indices, too_many_error
from sn_core.data.bundled.shapes import COLORS, COUNTS, SHAPES, draw_scene, task_rng
from sn_core.data.tasks import BundledTaskSpec, Example, register

YES_NO = ("yes", "no")


def balanced_pairs(values, n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """``n`` (label, value) pairs cycling through every (value, yes/no) combination, in a seeded random order:
    labels balanced to within one, values to within two, each value equally often under either label."""
    combos = [(lbl, str(v)) for v in values for lbl in YES_NO]
    out = [combos[i % len(combos)] for i in range(n)]
    rng.shuffle(out)
    return out


def _asked(label: str, true: str, values, rng: np.random.Generator) -> str:
    """The value the question names: the true one for "yes", else one of the others, uniformly."""
    if label == "yes":
        return true
    others = [str(v) for v in values if str(v) != true]
    return others[int(rng.integers(0, len(others)))]


def _pick(seq, rng: np.random.Generator) -> str:
    return str(seq[int(rng.integers(0, len(seq)))])


def _make_is_color(n: int, seed: int, part: str) -> list[Example]:
    rng = task_rng("shapes-is-color", seed, part)
    out = []
    for label, color in balanced_pairs(COLORS, n, rng):
        asked = _asked(label, color, COLORS, rng)
        obj = (color, _pick(SHAPES, rng))
        out.append(Example(draw_scene([obj], rng), f"Is the shape {asked}?", label,
                           {"objects": [obj], "asked": asked}))
    return out


def _make_is_shape(n: int, seed: int, part: str) -> list[Example]:
    rng = task_rng("shapes-is-shape", seed, part)
    out = []
    for label, shape in balanced_pairs(SHAPES, n, rng):
        asked = _asked(label, shape, SHAPES, rng)
        obj = (_pick(list(COLORS), rng), shape)
        out.append(Example(draw_scene([obj], rng), f"Is it a {asked}?", label, {"objects": [obj], "asked": asked}))
    return out


def count_question(k: str) -> str:
    """"Is there one shape?" for 1 (grammatical, and "one" is in the demo vocabulary), else "Are there 3 shapes?"."""
    return "Is there one shape?" if k == "1" else f"Are there {k} shapes?"


def _make_count_is(n: int, seed: int, part: str) -> list[Example]:
    rng = task_rng("shapes-count-is", seed, part)
    out = []
    for label, count in balanced_pairs(COUNTS, n, rng):
        asked = _asked(label, count, COUNTS, rng)
        objs = [(_pick(list(COLORS), rng), _pick(SHAPES, rng)) for _ in range(int(count))]
        out.append(Example(draw_scene(objs, rng), count_question(asked), label, {"objects": objs, "asked": asked}))
    return out


def _scene_with(axis: int, values, name: str, n: int, seed: int, part: str, question) -> list[Example]:
    """Scenes of 1-3 shapes; "yes" when some shape has the asked value on ``axis`` (0: colour, 1: kind)."""
    rng = task_rng(name, seed, part)
    out = []
    for label, value in balanced_pairs(values, n, rng):
        k = int(rng.integers(1, 4))
        if label == "yes":
            objs = [(_pick(list(COLORS), rng), _pick(SHAPES, rng)) for _ in range(k)]
            j = int(rng.integers(0, k))
            objs[j] = (value, objs[j][1]) if axis == 0 else (objs[j][0], value)
        else:  # every shape lacks the asked value
            other = [str(v) for v in values if str(v) != value]
            objs = [(_pick(other, rng), _pick(SHAPES, rng)) if axis == 0 else (_pick(list(COLORS), rng),
                                                                               _pick(other, rng)) for _ in range(k)]
        out.append(Example(draw_scene(objs, rng), question(value), label, {"objects": objs, "asked": value}))
    return out


def _make_has_shape(n: int, seed: int, part: str) -> list[Example]:
    return _scene_with(1, SHAPES, "shapes-has-shape", n, seed, part, lambda v: f"Is there a {v}?")


def _make_has_color(n: int, seed: int, part: str) -> list[Example]:
    return _scene_with(0, list(COLORS), "shapes-has-color", n, seed, part, lambda v: f"Is there a {v} shape?")


def _make_digit_is(n: int, seed: int, part: str) -> list[Example]:
    rng = task_rng("digits-is", seed, part)
    out = []
    # As digits-class: every eval image at most once (a repeat could fall in both the probe and the test split).
    pools = {d: list(rng.permutation(part_indices(part)[d])) for d in range(10)}
    for label, digit in balanced_pairs(DIGITS, n, rng):
        d = int(digit)
        if not pools[d] and part != "train":
            sizes = [len(v) for v in part_indices(part).values()]
            raise too_many_error("digits-is", n, part, 10 * min(sizes),
                            f"images balanced over digits, {min(sizes)}-{max(sizes)} distinct images per digit")
        i = int(pools[d].pop()) if pools[d] else draw_digit_index(part, rng, d)
        asked = _asked(label, digit, DIGITS, rng)
        out.append(Example(digit_image(i), f"Is the digit {asked}?", label,
                           {"digits_index": i, "digit": d, "asked": asked}))
    return out


_DESC = ("Unseen question (the demo model was never trained on it) derived from {src}: {what} Yes/no, balanced; "
         "the value asked varies, so only image and question together give the answer.")

register(BundledTaskSpec(
    "shapes-is-color", YES_NO, "Is the shape red?",
    _DESC.format(src="shapes-color", what="is the single shape the colour named (red, green, blue, yellow)?"),
    _make_is_color, kind="unseen-question", derived_from="shapes-color"))
register(BundledTaskSpec(
    "shapes-is-shape", YES_NO, "Is it a triangle?",
    _DESC.format(src="shapes-shape", what="is the single shape the kind named (circle, square, triangle)?"),
    _make_is_shape, kind="unseen-question", derived_from="shapes-shape"))
register(BundledTaskSpec(
    "shapes-count-is", YES_NO, "Are there 3 shapes?",
    _DESC.format(src="shapes-count", what="does the scene hold the number of shapes named (1-4; "
                 "\"Is there one shape?\" for 1)?"),
    _make_count_is, kind="unseen-question", derived_from="shapes-count"))
register(BundledTaskSpec(
    "shapes-has-shape", YES_NO, "Is there a circle?",
    _DESC.format(src="shapes-exists", what="does a scene of 1-3 shapes hold a shape of the kind named?"),
    _make_has_shape, kind="unseen-question", derived_from="shapes-exists"))
register(BundledTaskSpec(
    "shapes-has-color", YES_NO, "Is there a blue shape?",
    _DESC.format(src="shapes-exists", what="does a scene of 1-3 shapes hold a shape of the colour named?"),
    _make_has_color, kind="unseen-question", derived_from="shapes-exists"))
register(BundledTaskSpec(
    "digits-is", YES_NO, "Is the digit 7?",
    _DESC.format(src="digits-class", what="is the handwritten digit the one named (0-9)?"),
    _make_digit_is, kind="unseen-question", derived_from="digits-class"))
