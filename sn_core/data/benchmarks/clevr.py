"""CLEVR v1.0 (Johnson et al. 2017): the official download ``CLEVR_v1.0/`` with
``questions/CLEVR_<split>_questions.json``
(``{"info": ..., "questions": [{"image_filename", "question", "answer", ...}]}``) and ``images/<split>/``.

The questions file is read one record at a time (``jsonscan``), keeping only image file, question and answer.
Answer families, each its own task (``SUBSET``): ``yesno`` (default; classes no, yes), ``color`` (the 8 colours),
``shape`` (cube, cylinder, sphere), ``material`` (metal, rubber), ``size`` (large, small), ``count`` (0-10). A
question belongs to the family of its answer. Split: ``val`` by default (the test split has no answers).
Prompt: the question, then "Answer with Yes or No." for ``yesno`` and "Answer with one word." otherwise.
"""
from __future__ import annotations

from pathlib import Path

from sn_core.data.benchmarks.base import BenchmarkError, Index, Row
from sn_core.data.benchmarks.jsonscan import JsonScanError, iter_records

FAMILIES = {
    "yesno": ("no", "yes"),
    "color": ("blue", "brown", "cyan", "gray", "green", "purple", "red", "yellow"),
    "shape": ("cube", "cylinder", "sphere"),
    "material": ("metal", "rubber"),
    "size": ("large", "small"),
    "count": tuple(str(i) for i in range(11)),
}
SUBSETS = tuple(FAMILIES)
FAMILY_OF = {a: f for f, answers in FAMILIES.items() for a in answers}


def _root(p: Path) -> Path:
    if p.is_file():  # the questions file itself
        return p.parent.parent if p.parent.name == "questions" else p.parent
    if (p / "CLEVR_v1.0").is_dir():
        return p / "CLEVR_v1.0"
    return p


def questions_file(root: Path, split: str) -> Path:
    for cand in (root / "questions" / f"CLEVR_{split}_questions.json", root / f"CLEVR_{split}_questions.json"):
        if cand.is_file():
            return cand
    return root / "questions" / f"CLEVR_{split}_questions.json"


def detect(path: Path) -> str | None:
    root = _root(path)
    if not any(root.glob("questions/CLEVR_*_questions.json")) and not any(root.glob("CLEVR_*_questions.json")):
        return "no questions/CLEVR_<split>_questions.json"
    if not (root / "images").is_dir():
        return "a CLEVR questions file but no images/ folder"
    return None


def index(location: str, subset: str | None, options: dict) -> Index:
    p = Path(location).expanduser()
    root = _root(p)
    split = options.get("split") or "val"
    qfile = p if p.is_file() else questions_file(root, split)
    if not qfile.is_file():
        raise BenchmarkError(f"CLEVR {location!r}: no questions file {str(qfile)!r}")
    family = subset or "yesno"
    img_dir = Path(options["images"]).expanduser() if options.get("images") else root / "images" / split
    rows, n = [], 0
    try:
        for n, q in enumerate(iter_records(qfile, "questions"), start=1):
            ans = q.get("answer")
            if ans is None:
                raise BenchmarkError(f"{qfile.name} question {n}: no answer (the test split has none; use "
                                     "split=val or train)")
            ans = str(ans).strip().lower()
            if FAMILY_OF.get(ans) != family:
                continue
            fn, text = q.get("image_filename"), q.get("question")
            if not fn or not text:
                raise BenchmarkError(f"{qfile.name} question {n}: missing image_filename or question")
            rows.append(Row(str(text), ans, str(img_dir / fn), f"{qfile.name} question {n}"))
    except JsonScanError as e:
        raise BenchmarkError(str(e)) from None
    instruction = "Answer with Yes or No." if family == "yesno" else "Answer with one word."
    return Index("clevr", family, f"clevr-{family}", rows, instruction, n, answer_set=FAMILIES[family],
                 description=f"CLEVR {split} questions whose answer is a {family} ({', '.join(FAMILIES[family])}).")
