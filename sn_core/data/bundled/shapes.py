"""Synthetic scenes of 1-4 coloured shapes drawn with Pillow, and the four ``shapes-*`` tasks on them.

Scenes are deterministic in (task, seed, part): a shape sits in a cell of a 3x3 grid with a random jitter, random
size, on a light background with mild pixel noise. Placing shapes on a coarse grid keeps counting learnable by a
tiny model (the demo model's card: assets/demo-vlm/README.md).
"""
from __future__ import annotations

import zlib

import numpy as np
from PIL import Image, ImageDraw

from sn_core.data.tasks import BundledTaskSpec, Example, balanced_labels, register

IMAGE_SIZE = 48  # pixels; the demo model's vision tower reads 48x48 images in 8x8 patches (6x6 = 36 tokens)
GRID = 3
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
}
SHAPES = ("circle", "square", "triangle")
COUNTS = ("1", "2", "3", "4")


def task_rng(task: str, seed: int, part: str) -> np.random.Generator:
    """A generator seeded by a stable hash of (task, seed, part): parts and tasks never share a stream."""
    return np.random.default_rng([zlib.crc32(f"{task}|{part}".encode()), int(seed)])


def draw_scene(objects: list[tuple[str, str]], rng: np.random.Generator, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw ``objects`` (colour, shape) pairs in distinct grid cells on a noisy light background."""
    bg = rng.integers(200, 256, size=3)
    noise = rng.normal(0, 6, size=(size, size, 3))
    arr = np.clip(bg[None, None, :] + noise, 0, 255).astype(np.uint8)
    return draw_objects(Image.fromarray(arr, "RGB"), objects, rng)


def draw_objects(img: Image.Image, objects: list[tuple[str, str]], rng: np.random.Generator) -> Image.Image:
    """Draw ``objects`` (colour, shape) pairs into ``img`` in distinct grid cells, jittered; returns ``img``."""
    draw = ImageDraw.Draw(img)
    cell = img.size[0] / GRID
    cells = rng.choice(GRID * GRID, size=len(objects), replace=False)
    for (color, shape), c in zip(objects, cells):
        r = float(rng.uniform(0.30, 0.42) * cell)  # half-size of the shape
        cx = (c % GRID + 0.5) * cell + rng.uniform(-0.08, 0.08) * cell
        cy = (c // GRID + 0.5) * cell + rng.uniform(-0.08, 0.08) * cell
        fill = tuple(int(np.clip(v + rng.integers(-20, 21), 0, 255)) for v in COLORS[color])
        box = [cx - r, cy - r, cx + r, cy + r]
        if shape == "circle":
            draw.ellipse(box, fill=fill)
        elif shape == "square":
            draw.rectangle(box, fill=fill)
        elif shape == "triangle":
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
        else:  # pragma: no cover - guarded by SHAPES
            raise ValueError(f"unknown shape {shape!r}")
    return img


def _random_object(rng: np.random.Generator) -> tuple[str, str]:
    return (str(rng.choice(list(COLORS))), str(rng.choice(SHAPES)))


def _make_color(n: int, seed: int, part: str) -> list[Example]:
    rng = task_rng("shapes-color", seed, part)
    out = []
    for label in balanced_labels(list(COLORS), n, rng):
        obj = (label, str(rng.choice(SHAPES)))
        out.append(Example(draw_scene([obj], rng), "What color is the shape?", label, {"objects": [obj]}))
    return out


def _make_shape(n: int, seed: int, part: str) -> list[Example]:
    rng = task_rng("shapes-shape", seed, part)
    out = []
    for label in balanced_labels(list(SHAPES), n, rng):
        obj = (str(rng.choice(list(COLORS))), label)
        out.append(Example(draw_scene([obj], rng), "What shape is it?", label, {"objects": [obj]}))
    return out


def _make_count(n: int, seed: int, part: str) -> list[Example]:
    rng = task_rng("shapes-count", seed, part)
    out = []
    for label in balanced_labels(list(COUNTS), n, rng):
        objs = [_random_object(rng) for _ in range(int(label))]
        out.append(Example(draw_scene(objs, rng), "How many shapes are there?", label, {"objects": objs}))
    return out


def _make_exists(n: int, seed: int, part: str) -> list[Example]:
    """Is there a <colour> <shape>? Half the scenes contain the target; negatives often hold a near miss
    (right colour, wrong shape or the reverse), so colour or shape alone does not answer the question."""
    rng = task_rng("shapes-exists", seed, part)
    out = []
    for label in balanced_labels(["yes", "no"], n, rng):
        target = _random_object(rng)
        k = int(rng.integers(1, 4))
        objs: list[tuple[str, str]] = []
        while len(objs) < k:
            o = _random_object(rng)
            if rng.random() < 0.5:  # near miss: share colour or shape with the target
                o = (target[0], o[1]) if rng.random() < 0.5 else (o[0], target[1])
            if o != target:
                objs.append(o)
        if label == "yes":
            objs[int(rng.integers(0, k))] = target
        q = f"Is there a {target[0]} {target[1]}?"
        out.append(Example(draw_scene(objs, rng), q, label, {"objects": objs, "target": target}))
    return out


register(BundledTaskSpec("shapes-color", tuple(COLORS), "What color is the shape?",
                         "Colour of a single shape (4 classes).", _make_color))
register(BundledTaskSpec("shapes-shape", SHAPES, "What shape is it?",
                         "Kind of a single shape (3 classes).", _make_shape))
register(BundledTaskSpec("shapes-count", COUNTS, "How many shapes are there?",
                         "Number of shapes in a scene of 1-4 (4 classes).", _make_count))
register(BundledTaskSpec("shapes-exists", ("yes", "no"), "Is there a <color> <shape>?",
                         "Whether a named coloured shape is present (yes/no).", _make_exists))
