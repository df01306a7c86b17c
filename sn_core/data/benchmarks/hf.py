"""Any Hugging Face dataset on disk (``arrow.py`` reads it) as a categorical or multiple-choice task, with its
columns found by their usual names or given as options (``;image=COL;question=COL;label=COL;choices=COL``).

- image: the first of :data:`IMAGE_NAMES` present, else the only image-typed column (``Image`` feature: a struct
  of ``bytes`` and ``path``; raw bytes; a list of images takes the first);
- question: the first of :data:`QUESTION_NAMES`, else the ``question`` given with the task (``--question``: one
  question asked of every image, as for an image folder);
- label: the first of :data:`LABEL_NAMES`; an integer column with ``ClassLabel`` names reads as those names;
- choices: the first of :data:`CHOICES_NAMES`; when present the task is multiple choice and the label is the
  correct choice's text or index.
"""
from __future__ import annotations

from sn_core.data.benchmarks.arrow import is_image_type, source_for
from sn_core.data.benchmarks.base import BenchmarkError, Index, Row

IMAGE_NAMES = ("image", "img", "images", "picture", "photo", "image_bytes")
QUESTION_NAMES = ("question", "query", "prompt", "question_text", "instruction", "text")
LABEL_NAMES = ("label", "answer", "labels", "gt_answer", "target", "class", "correct_choice_idx", "answer_idx",
               "correct_answer", "multiple_choice_answer")
CHOICES_NAMES = ("choices", "options", "candidates", "answer_choices")
SUBSETS: tuple[str, ...] = ()  # the split is given as the subset: hf:ID:SPLIT


def find_columns(src, given: dict, where: str) -> dict:
    """Role -> column name, from ``given`` (options) or the usual names; a missing role names what was looked for."""
    names = src.names
    out = {}
    for role, usual in (("image", IMAGE_NAMES), ("question", QUESTION_NAMES), ("label", LABEL_NAMES),
                        ("choices", CHOICES_NAMES)):
        if given.get(role):
            if given[role] not in names:
                raise BenchmarkError(f"{where}: no column {given[role]!r} (given as the {role} column); columns: "
                                     f"{', '.join(names)}")
            out[role] = given[role]
            continue
        hit = next((n for n in usual if n in names), None)
        if hit is None:
            lower = {n.lower(): n for n in names}
            hit = next((lower[n] for n in usual if n in lower), None)
        if role == "image" and hit is None:
            typed = [n for n in names if is_image_type(src.schema.field(n).type)]
            hit = typed[0] if len(typed) == 1 else None
        if role == "image" and hit is not None and not is_image_type(src.schema.field(hit).type) and not (
                str(src.schema.field(hit).type) == "string"):
            hit = None
        out[role] = hit
    return out


def index_hf(location: str, subset: str | None, options: dict, question: str | None = None,
             name: str | None = None) -> Index:
    src, split, root = source_for(location, options.get("split") or subset, "dataset")
    where = f"dataset {location!r} (split {split.lstrip('_') or 'the only one'})"
    cols = find_columns(src, options, where)
    if cols["image"] is None:
        raise BenchmarkError(f"{where}: no image column (looked for {', '.join(IMAGE_NAMES)} and image-typed "
                             f"columns; columns: {', '.join(src.names)}); name it with ;image=COLUMN (--columns)")
    if cols["label"] is None:
        raise BenchmarkError(f"{where}: no label column (looked for {', '.join(LABEL_NAMES)}; columns: "
                             f"{', '.join(src.names)}); name it with ;label=COLUMN (--columns)")
    if cols["question"] is None and not question:
        raise BenchmarkError(f"{where}: no question column (looked for {', '.join(QUESTION_NAMES)}); name it with "
                             ";question=COLUMN (--columns), or give one question for every image (--question)")
    src.image_column = cols["image"]
    labels = src.read(cols["label"])
    names = src.class_names(cols["label"])
    questions = src.read(cols["question"]) if cols["question"] else [question] * src.n
    choices = src.read(cols["choices"]) if cols["choices"] else None
    rows = []
    for i, (q, lbl) in enumerate(zip(questions, labels)):
        w = src.where(i)
        if lbl is None:
            raise BenchmarkError(f"{w}: the label column {cols['label']!r} is empty")
        if isinstance(lbl, (list, dict)):
            raise BenchmarkError(f"{w}: the label column {cols['label']!r} holds a {type(lbl).__name__}, not one "
                                 "label; name a single-label column with ;label=COLUMN (--columns)")
        if names is not None and choices is None:
            if not isinstance(lbl, int) or not 0 <= lbl < len(names):
                raise BenchmarkError(f"{w}: label {lbl!r} is not one of the {len(names)} class names of "
                                     f"{cols['label']!r}")
            lbl = names[lbl]
        if q is None or not str(q).strip():
            raise BenchmarkError(f"{w}: the question column {cols['question']!r} is empty")
        rows.append(Row(str(q).strip(), lbl if choices is not None else str(lbl), i, w,
                        choices[i] if choices is not None else None))
    base = name or root.name.replace("datasets--", "").replace("___", "-")
    desc = (f"Hugging Face dataset {location!r}, split {split.lstrip('_') or '(one)'}: image column "
            f"{cols['image']!r}, question {cols['question'] or '(given)'!r}, label {cols['label']!r}"
            + (f", choices {cols['choices']!r}" if cols["choices"] else "") + ".")
    return Index("hf", split, base, rows, "Answer with one word.", src.n, images=src, description=desc)


__all__ = ["CHOICES_NAMES", "IMAGE_NAMES", "LABEL_NAMES", "QUESTION_NAMES", "find_columns", "index_hf"]
