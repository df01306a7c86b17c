"""What every benchmark loader shares: the annotation index, the stratified subset drawn before any image is opened,
the missing-image check, and the step from index rows to a :class:`~sn_core.data.tasks.Task`.

A loader reads its annotations once into an :class:`Index` (one light :class:`Row` per usable question: question
text, label, a reference to its image, where it came from). :func:`build_task` then

1. casts multiple-choice rows (``choices``) to lettered questions and letter labels (``sn_core.data.choices``);
2. refuses a label outside the benchmark's answer set, naming the row;
3. checks that the image files exist (a ``stat`` per distinct file, no decoding): missing files are counted and
   the first is named; the task is refused unless ``skip_missing_images``, which drops those rows and says so in
   ``Task.description`` and ``Task.origin["skipped_missing_images"]``;
4. draws the stratified subset of ``n`` rows (as even per class as the class sizes allow, seeded);
5. opens only those rows' images (a file path stays a path, decoded later by the extraction; an embedded image is
   decoded here; InstaOrder draws its marks here).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sn_core.data.choices import ChoiceError, MC_INSTRUCTION, mc_example
from sn_core.data.manifest import ManifestError, check_distinct_labels
from sn_core.data.tasks import Example, Task


class BenchmarkError(ManifestError):
    """A benchmark folder or file that cannot be turned into a task; the message names the file, row or field."""


@dataclass(slots=True)
class Row:
    """One usable question of a benchmark, before any image is opened."""

    question: str
    label: object  # the class label; for multiple choice the correct choice's text or index
    image: object  # a file path (str), or a loader-specific key its ImageSource opens
    where: str  # "<file> row <n>" for messages
    choices: object = None  # multiple choice: the option texts
    meta: dict | None = None


class FileImages:
    """Images that are files: ``Row.image`` is a path. ``open`` returns the path (the extraction decodes it)."""

    def missing(self, rows: list[Row]) -> list[int]:
        """Indices of rows whose image file is not there (one ``stat`` per distinct file)."""
        seen: dict[str, bool] = {}
        out = []
        for i, r in enumerate(rows):
            ok = seen.get(r.image)
            if ok is None:
                ok = seen[r.image] = Path(r.image).is_file()
            if not ok:
                out.append(i)
        return out

    def open(self, rows: list[Row]) -> list:
        return [r.image for r in rows]


@dataclass
class Index:
    """A benchmark's annotations, read once: the usable rows of one subset and how to open their images."""

    format: str
    subset: str | None
    name: str  # the task name, e.g. "clevr-color"
    rows: list[Row]
    instruction: str
    n_read: int  # annotation records read (before the subset and the casting dropped any)
    images: object = field(default_factory=FileImages)  # FileImages or a loader's own source
    answer_set: tuple[str, ...] | None = None  # labels a row may have; None: any
    description: str = ""
    notes: list[str] = field(default_factory=list)  # what the casting dropped, said in Task.description

    @property
    def multiple_choice(self) -> bool:
        return bool(self.rows) and self.rows[0].choices is not None


def balanced_sample(labels: list[str], n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` rows (all when there are fewer), as even per class as the class sizes allow: a class
    smaller than its share gives all its rows and the rest is shared by the others (seeded)."""
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng([seed, 0xBE9C])
    y = np.asarray(labels)
    classes = sorted(set(labels))
    by = {c: rng.permutation(np.flatnonzero(y == c)) for c in classes}
    quota, left = {}, n
    order = sorted(classes, key=lambda c: len(by[c]))
    for i, c in enumerate(order):
        quota[c] = min(len(by[c]), left // (len(order) - i))
        left -= quota[c]
    for c in (classes[j] for j in rng.permutation(len(classes))):  # the floor division's remainder, one each
        if left and quota[c] < len(by[c]):
            quota[c] += 1
            left -= 1
    return np.sort(np.concatenate([by[c][:quota[c]] for c in classes]))


def _cast(index: Index) -> tuple[list[tuple[str, str, dict]], str]:
    """(question, label, meta) of every row (multiple choice lettered) and the task instruction."""
    out = []
    mc = index.multiple_choice
    for r in index.rows:
        meta = dict(r.meta or {})
        meta["where"] = r.where
        if mc:
            if r.choices is None:
                raise BenchmarkError(f"{r.where}: has no choices, unlike the rows before")
            try:
                q, lbl, extra = mc_example(r.question, r.choices, r.label, r.where)
            except ChoiceError as e:
                raise BenchmarkError(str(e)) from None
            meta.update(extra)
        else:
            q, lbl = r.question, str(r.label).strip()
            if not lbl:
                raise BenchmarkError(f"{r.where}: the label is blank")
            if index.answer_set is not None and lbl not in index.answer_set:
                raise BenchmarkError(f"{r.where}: label {lbl!r} is not in the answer set "
                                     f"{list(index.answer_set)} of {index.format}")
        if not q.strip():
            raise BenchmarkError(f"{r.where}: the question is blank")
        out.append((q, lbl, meta))
    instruction = MC_INSTRUCTION if mc else index.instruction
    return out, instruction


def build_task(index: Index, n: int, seed: int = 0, skip_missing_images: bool = False, source: str = "",
               min_classes: int = 2, on_images: Callable[[int, int], None] | None = None) -> Task:
    """The task of ``n`` rows of ``index`` (see the module docstring); ``source`` is the task argument that
    rebuilds it."""
    if not index.rows:
        raise BenchmarkError(f"{index.name}: no usable rows ({index.n_read:,} annotation record(s) read"
                             + (f"; {'; '.join(index.notes)}" if index.notes else "") + ")")
    cast, instruction = _cast(index)
    rows = index.rows
    notes = list(index.notes)
    skipped = 0
    missing = index.images.missing(rows)
    if missing:
        first = rows[missing[0]]
        n_files = len({str(rows[i].image) for i in missing})
        if not skip_missing_images:
            raise BenchmarkError(f"{index.name}: {n_files:,} image file(s) missing for {len(missing):,} of "
                                 f"{len(rows):,} rows (first: {str(first.image)!r}, {first.where}); put the "
                                 "images where the layout expects them (docs/datasets.md), point --images at "
                                 "them, or pass --skip-missing-images to leave those rows out")
        drop = set(missing)
        keep = [i for i in range(len(rows)) if i not in drop]
        rows, cast = [rows[i] for i in keep], [cast[i] for i in keep]
        skipped = len(missing)
        notes.append(f"{skipped:,} row(s) skipped: image file missing (first: {str(first.image)!r})")
        if not rows:
            raise BenchmarkError(f"{index.name}: every row's image file is missing")
    labels = [c[1] for c in cast]
    check_distinct_labels(sorted(set(labels)), index.name)
    if len(set(labels)) < min_classes:
        raise BenchmarkError(f"{index.name}: every usable row has the label {labels[0]!r}; a task needs at least "
                             "two classes")
    pick = balanced_sample(labels, n, seed)
    chosen = [rows[i] for i in pick]
    images = index.images.open(chosen)
    examples = [Example(img, cast[i][0], cast[i][1], cast[i][2]) for img, i in zip(images, pick)]
    desc = index.description + (" " + "; ".join(notes) + "." if notes else "")
    return Task(index.name, tuple(sorted(set(labels))), examples, instruction=instruction, description=desc.strip(),
                source=source, origin={"benchmark": source, "n": int(n), "seed": int(seed), "rows": len(rows),
                                       "skipped_missing_images": skipped, "format": index.format,
                                       "subset": index.subset})


__all__ = ["BenchmarkError", "FileImages", "Index", "Row", "balanced_sample", "build_task"]
