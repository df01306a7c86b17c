"""Categorical VQA tasks: examples (image, question, label) with a finite label set.

A :class:`Task` is what every other part of ``sn_core`` consumes. Bundled tasks are generated deterministically
from a seed (``data/bundled/``: ``shapes.py``, ``digits.py`` and the tasks derived from them); user tasks come from manifests or image folders
(``manifest.py``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Sequence

from PIL import Image

# The answer-format instruction is part of the task definition (docs/method.md, "Prompt").
DEFAULT_INSTRUCTION = "Answer with one word."


@dataclass
class Example:
    """One categorical VQA example. ``image`` is a PIL image (RGB) or a path loaded lazily by ``load_image``."""

    image: "Image.Image | str"
    question: str
    label: str
    meta: dict = field(default_factory=dict)


@dataclass
class Task:
    """A named categorical VQA task.

    ``labels`` is the ordered label set; every example's label is in it. ``instruction`` is appended to each
    question when the prompt is built (empty string for none).
    """

    name: str
    labels: tuple[str, ...]
    examples: list[Example]
    instruction: str = DEFAULT_INSTRUCTION
    description: str = ""
    source: str = "bundled"  # "bundled", or the manifest / folder path it was read from
    origin: dict | None = None  # bundled tasks: {"n", "seed", "part"} of get_task, so a search can rebuild it

    def __post_init__(self) -> None:
        self.labels = tuple(str(lbl) for lbl in self.labels)
        bad = [i for i, ex in enumerate(self.examples) if ex.label not in self.labels]
        if bad:
            i = bad[0]
            raise ValueError(
                f"task {self.name!r}: example {i} has label {self.examples[i].label!r}, "
                f"which is not in the label set {list(self.labels)}"
            )

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def y(self) -> list[str]:
        return [ex.label for ex in self.examples]

    def prompt_text(self, question: str) -> str:
        """The user turn's text: the question followed by the answer-format instruction."""
        return f"{question} {self.instruction}".strip() if self.instruction else question


@dataclass(frozen=True)
class BundledTaskSpec:
    """A bundled task: its label set and a generator ``make(n, seed, part) -> list[Example]``.

    ``part`` is ``"eval"`` (probe/test data shown to users) or ``"train"`` (data the demo model was trained on);
    the two never share an example, so the model's own training data never leaks into probe or test splits.

    ``kind`` says how the task relates to the demo model's training (``TASK_KINDS``): ``"trained"`` (the model was
    trained to answer it), ``"unseen-question"`` (a question the model was never trained on, about what it was
    trained to see; ``unseen.py``) or ``"shifted"`` (a trained task's question and labels on shifted images;
    ``shifted.py``). ``derived_from`` names the trained task an unseen-question or shifted task comes from.
    """

    name: str
    labels: tuple[str, ...]
    question: str
    description: str
    make: Callable[[int, int, str], list[Example]]
    kind: str = "trained"
    derived_from: str | None = None


TASK_KINDS = ("trained", "unseen-question", "shifted")


_REGISTRY: dict[str, BundledTaskSpec] = {}


def register(spec: BundledTaskSpec) -> BundledTaskSpec:
    if spec.kind not in TASK_KINDS:
        raise ValueError(f"task {spec.name!r}: kind must be one of {TASK_KINDS}, got {spec.kind!r}")
    if spec.kind != "trained" and not spec.derived_from:
        raise ValueError(f"task {spec.name!r}: a {spec.kind} task must name the trained task it derives from")
    _REGISTRY[spec.name] = spec
    return spec


def bundled_task_names(kind: str | None = None) -> list[str]:
    """Names of the bundled tasks, in registration order; ``kind`` (one of ``TASK_KINDS``) keeps only that kind.
    The demo model was trained on ``bundled_task_names("trained")`` only."""
    _ensure_loaded()
    if kind is not None and kind not in TASK_KINDS:
        raise ValueError(f"kind must be one of {TASK_KINDS}, got {kind!r}")
    return [n for n, s in _REGISTRY.items() if kind is None or s.kind == kind]


def shifted_variant(task_name: str) -> str | None:
    """The name of the bundled shifted-image variant of a trained task (same question and labels, shifted
    images; ``shifted.py``), or None when it has none."""
    _ensure_loaded()
    for name, spec in _REGISTRY.items():
        if spec.kind == "shifted" and spec.derived_from == task_name:
            return name
    return None


def bundled_spec(name: str) -> BundledTaskSpec:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise KeyError(f"unknown task {name!r}; bundled tasks are: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def get_task(name: str, n: int = 400, seed: int = 0, part: str = "eval") -> Task:
    """Generate ``n`` examples of a bundled task (label-balanced, deterministic in ``seed`` and ``part``)."""
    if part not in ("eval", "train"):
        raise ValueError(f"part must be 'eval' or 'train', got {part!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    spec = bundled_spec(name)
    return Task(name=name, labels=spec.labels, examples=spec.make(n, seed, part), description=spec.description,
                origin={"n": int(n), "seed": int(seed), "part": part})


def task_fingerprint(task) -> str:
    """sha256 over every example's image bytes (decoded pixels for in-memory images, file bytes for paths),
    question and label, plus the task's label set and instruction."""
    h = hashlib.sha256()
    h.update(json.dumps({"labels": list(task.labels), "instruction": task.instruction}).encode())
    for ex in task.examples:
        if isinstance(ex.image, Image.Image):
            h.update(f"{ex.image.mode}{ex.image.size}".encode())
            h.update(ex.image.tobytes())
        else:
            with open(ex.image, "rb") as f:
                h.update(f.read())
        h.update(b"\0" + ex.question.encode() + b"\0" + ex.label.encode() + b"\n")
    return h.hexdigest()


def balanced_labels(labels: Sequence[str], n: int, rng) -> list[str]:
    """``n`` labels cycling through ``labels`` (counts differ by at most one), in a seeded random order."""
    out = [labels[i % len(labels)] for i in range(n)]
    rng.shuffle(out)
    return out


def _ensure_loaded() -> None:
    # Importing a generator module of ``data/bundled/`` registers its tasks, as model families register their
    # adapters: modules are found by folder, in name order (digits imports shapes, so the trained tasks come
    # first, then the derived shifted and unseen ones).
    import importlib
    import pkgutil

    from sn_core.data import bundled

    for info in pkgutil.iter_modules(bundled.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{bundled.__name__}.{info.name}")
