"""User tasks: a JSONL or CSV manifest with ``image``, ``question``, ``label`` fields (the SAVs format), or an
image folder with one subfolder per class plus a question template.

Image paths resolve relative to the manifest's folder; a path that escapes that folder (``..``, absolute, or a
symlink resolving outside) is refused unless ``allow_outside=True``; an image folder refuses image files and class
folders that are symlinks resolving outside it the same way. Labels and questions must not be blank, questions are
at most ``MAX_QUESTION_CHARS`` characters, and two labels the base model's answer matcher reads as one answer
("Red" / "red", "light-blue" / "light blue": ``sn_core.models.prompts.normalise_answer``) are refused. Every problem
raises :class:`ManifestError` naming the row (1-based, header excluded) or the path.

A row may carry ``choices`` (a JSON list; in CSV a JSON array or ``|``-separated text): the task is then multiple
choice (``choices.py``): the options are listed under the question, the label (a choice or its 0-based index)
becomes its letter, and the instruction asks for the letter. Every row of a task has choices, or none has.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from sn_core.data.answers import normalise_answer
from sn_core.data.choices import MC_INSTRUCTION, ChoiceError, mc_example
from sn_core.data.tasks import DEFAULT_INSTRUCTION, Example, Task

MAX_QUESTION_CHARS = 1000  # as the playground: a categorical question is a sentence
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
REQUIRED = ("image", "question", "label")


class ManifestError(ValueError):
    """A manifest or image folder that cannot be turned into a task; the message names the row or path."""


def _resolve(root: Path, raw: str, where: str, allow_outside: bool) -> Path:
    if "\0" in raw:
        raise ManifestError(f"{where}: image path {raw!r} contains a NUL byte; no file can have that name")
    p = Path(raw)
    try:
        full = (p if p.is_absolute() else root / p).resolve()
    except (OSError, RuntimeError, ValueError) as e:  # a symlink loop, a name too long for the file system
        raise ManifestError(f"{where}: image path {raw!r} cannot be resolved ({e})") from None
    if not allow_outside and not full.is_relative_to(root.resolve()):
        raise ManifestError(f"{where}: image path {raw!r} points outside the manifest's folder {str(root)!r}; "
                            "refused: put the images in or under the manifest's folder (from Python, "
                            "load_manifest(..., allow_outside=True) accepts such paths)")
    if not full.is_file():
        raise ManifestError(f"{where}: image file {raw!r} not found (looked for {str(full)!r})")
    return full


def _text_field(row: dict, key: str, where: str) -> str:
    """``row[key]`` as a stripped string; blank or not a scalar is a ManifestError."""
    v = row[key]
    if isinstance(v, (dict, list)):
        raise ManifestError(f"{where}: {key} must be a string, got a JSON {type(v).__name__}")
    text = str(v).strip()
    if not text:
        raise ManifestError(f"{where}: {key} is blank (only spaces)")
    return text


def check_question(question: str, where: str) -> str:
    """``question`` stripped; blank or longer than ``MAX_QUESTION_CHARS`` is a ManifestError."""
    q = question.strip()
    if not q:
        raise ManifestError(f"{where}: the question is blank (only spaces)")
    if len(q) > MAX_QUESTION_CHARS:
        raise ManifestError(f"{where}: question is {len(q):,} characters, more than {MAX_QUESTION_CHARS:,}; a "
                            "categorical question is one sentence")
    return q


def check_distinct_labels(labels, where: str) -> None:
    """Refuse two labels the base model's answer matcher cannot tell apart (same after lower-casing and dropping
    punctuation: ``sn_core.models.prompts.normalise_answer``): they would be two classes for the Super Neuron but one
    answer for the base model."""
    seen: dict[str, str] = {}
    for lbl in labels:
        key = normalise_answer(lbl)
        if key in seen and seen[key] != lbl:
            raise ManifestError(f"{where}: labels {seen[key]!r} and {lbl!r} differ only in case or punctuation, "
                                "which the base model's answer matcher reads as one answer; use one spelling")
        seen.setdefault(key, lbl)


def _read_rows(path: Path) -> list[dict]:
    """(row number, row dict) pairs; a binary or malformed file is a ManifestError naming the file."""
    try:
        return _read_rows_raw(path)
    except UnicodeDecodeError as e:
        raise ManifestError(f"{path.name}: not a UTF-8 text file (byte {e.start}); a manifest is JSONL or CSV "
                            "text") from None
    except csv.Error as e:
        raise ManifestError(f"{path.name}: not a valid CSV file ({e})") from None


def _read_rows_raw(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{path.name} row {n}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{path.name} row {n}: expected a JSON object, got {type(row).__name__}")
            rows.append((n, row))
        return rows
    if suffix == ".csv":
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark. Header names are matched case- and
        # space-insensitively ("Image", " label ").
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames:
                reader.fieldnames = [str(h).strip().lower() for h in reader.fieldnames]
            return list(enumerate(reader, start=1))
    raise ManifestError(f"{path.name}: unsupported manifest type {suffix!r}; use .jsonl or .csv")


def load_manifest(path: str | Path, name: str | None = None, labels: list[str] | None = None,
                  instruction: str = DEFAULT_INSTRUCTION, allow_outside: bool = False, min_classes: int = 2) -> Task:
    """Read a JSONL/CSV manifest into a :class:`Task`. ``labels`` fixes the label set (rows outside it are
    refused); by default it is the sorted set of labels seen. Exact duplicate rows are refused. Rows of fewer
    than ``min_classes`` labels are refused (a search needs two; evaluating a classifier on one class is fine)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {str(path)!r} not found")
    if labels is not None:
        labels = [str(lbl) for lbl in labels]
        if any(not lbl.strip() for lbl in labels):
            raise ManifestError(f"{path.name}: the label set {labels} holds a blank label")
        check_distinct_labels(labels, path.name)
    root = path.parent
    examples, seen, mc = [], {}, None
    for n, row in _read_rows(path):
        where = f"{path.name} row {n}"
        missing = [k for k in REQUIRED if row.get(k) in (None, "")]
        if missing:
            found = ", ".join(repr(k) for k in row if k is not None) or "none"
            raise ManifestError(f"{where}: missing field(s) {', '.join(missing)} (need {', '.join(REQUIRED)}; "
                                f"found {found})")
        if isinstance(row["image"], (dict, list)):
            raise ManifestError(f"{where}: image must be a path string, got a JSON {type(row['image']).__name__}")
        question = _text_field(row, "question", where)
        check_question(question, where)
        meta = {"row": n}
        has_choices = row.get("choices") not in (None, "", [])
        if mc is None:
            mc = has_choices
        elif mc != has_choices:
            raise ManifestError(f"{where}: {'has' if has_choices else 'has no'} choices, unlike the rows before; "
                                "a task is either multiple choice (every row has choices) or not")
        if has_choices:
            try:
                question, label, extra = mc_example(question, row["choices"], row["label"], where)
            except ChoiceError as e:
                raise ManifestError(str(e)) from None
            meta.update(extra)
        else:
            label = _text_field(row, "label", where)
        if labels is not None and label not in labels:
            raise ManifestError(f"{where}: label {label!r} is not in the label set {labels}")
        img = _resolve(root, str(row["image"]), where, allow_outside)
        key = (str(img), question, label)
        if key in seen:
            raise ManifestError(f"{where}: duplicate of row {seen[key]} (same image, question and label)")
        seen[key] = n
        examples.append(Example(str(img), question, label, meta))
    if not examples:
        raise ManifestError(f"{path.name}: no rows")
    label_set = tuple(labels) if labels is not None else tuple(sorted({e.label for e in examples}))
    check_distinct_labels(label_set, path.name)
    if len(set(e.label for e in examples)) < min_classes:
        raise ManifestError(f"{path.name}: all rows have the label {examples[0].label!r}; "
                            "a task needs at least two classes")
    if mc and instruction == DEFAULT_INSTRUCTION:  # lettered options: ask for the letter
        instruction = MC_INSTRUCTION
    return Task(name or path.stem, label_set, examples, instruction=instruction, source=str(path))


def load_image_folder(path: str | Path, question: str, name: str | None = None,
                      instruction: str = DEFAULT_INSTRUCTION, allow_outside: bool = False,
                      min_classes: int = 2) -> Task:
    """One subfolder per class (the subfolder name is the label), every image in it asked ``question``; at least
    ``min_classes`` classes with images (a search needs two; evaluating a classifier on one class is fine).

    A class folder or image that is a symlink resolving outside ``path`` is refused unless ``allow_outside``."""
    path = Path(path)
    if not path.is_dir():
        raise ManifestError(f"image folder {str(path)!r} not found")
    if not question.strip():
        raise ManifestError("an image-folder task needs a question")
    question = check_question(question, f"image folder {path.name!r}")
    top = path.resolve()

    def inside(p: Path) -> Path:
        full = p.resolve()
        if not allow_outside and not full.is_relative_to(top):
            raise ManifestError(f"image folder {path.name!r}: {str(p.relative_to(path))!r} points outside the image "
                                "folder; refused: copy the images into it (from Python, "
                                "load_image_folder(..., allow_outside=True) accepts such links)")
        return full

    examples = []
    # hidden folders (.ipynb_checkpoints, .git) and macOS ZIP debris are not classes
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX")))
    for cls in classes:
        inside(cls)
        if not cls.name.strip():
            raise ManifestError(f"image folder {path.name!r}: class folder {cls.name!r} has a blank name (only "
                                "spaces); the folder name is the label")
        for img in sorted(cls.iterdir()):
            if img.suffix.lower() in IMAGE_SUFFIXES and img.is_file():
                examples.append(Example(str(inside(img)), question, cls.name, {"file": img.name}))
    labels = tuple(c.name for c in classes if any(e.label == c.name for e in examples))
    check_distinct_labels(labels, f"image folder {path.name!r}")
    if len(labels) < max(1, min_classes):
        raise ManifestError(f"image folder {str(path)!r} has images in {len(labels)} class subfolder(s); "
                            + ("a task needs at least two classes" if min_classes >= 2 else "no images found"))
    return Task(name or path.name, labels, examples, instruction=instruction, source=str(path))
