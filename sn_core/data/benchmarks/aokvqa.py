"""A-OKVQA (Schwenk et al. 2022), multiple choice: four ``choices`` per question and ``correct_choice_idx``.

Layouts:
- the official annotations ``aokvqa_v1p0_<split>.json`` (a JSON list: ``question_id``, ``image_id``, ``question``,
  ``choices``, ``correct_choice_idx``, ``direct_answers``, ...; allenai/aokvqa) with the COCO 2017 images given by
  ``;images=COCO_DIR`` (``--images``): ``COCO_DIR/<split>2017/<image_id:012d>.jpg`` as the official loader builds it,
  or ``COCO_DIR/<image_id:012d>.jpg`` when COCO_DIR is that split folder itself; default a ``coco`` folder beside
  the annotations;
- the Hugging Face parquet copy (``HuggingFaceM4/A-OKVQA``: the same fields plus an ``image`` column).

Split: ``val`` by default (the test split has no answers). Cast: multiple choice (``sn_core.data.choices``):
the question with the options lettered A-D; classes are the letters; prompt "Answer with the option's letter from
the given choices directly."
"""
from __future__ import annotations

import json
from pathlib import Path

from sn_core.data.benchmarks.arrow import source_for
from sn_core.data.benchmarks.base import BenchmarkError, Index, Row

SUBSETS: tuple[str, ...] = ()
FIELDS = ("image_id", "question", "choices", "correct_choice_idx")


def ann_file(root: Path, split: str) -> Path | None:
    if root.is_file():
        return root
    hits = sorted(root.glob(f"aokvqa_v*_{split}.json")) or sorted(root.glob(f"*/aokvqa_v*_{split}.json"))
    return hits[-1] if hits else None


def detect(root: Path) -> str | None:
    if root.is_file() and root.name.startswith("aokvqa_") or root.is_dir() and (
            any(root.glob("aokvqa_v*_*.json")) or any(root.glob("*/aokvqa_v*_*.json"))):
        return None
    try:
        src, _, _ = source_for(str(root), None, "A-OKVQA")
        if all(c in src.names for c in ("question", "choices", "correct_choice_idx", "image")):
            return None
    except BenchmarkError:
        pass
    return "no aokvqa_v1p0_<split>.json and no parquet with columns question, choices, correct_choice_idx, image"


def coco_path(coco: Path, split: str, image_id: int) -> Path:
    name = f"{int(image_id):012d}.jpg"
    sub = coco / f"{split}2017" / name
    return sub if (coco / f"{split}2017").is_dir() else coco / name


def index(location: str, subset: str | None, options: dict) -> Index:
    root = Path(location).expanduser()
    split = options.get("split") or "val"
    ann = ann_file(root, split) if root.exists() else None
    instruction = "Answer with one word."
    if ann is None:  # the parquet copy
        src, split, _ = source_for(location, options.get("split"), "A-OKVQA")
        miss = [c for c in ("question", "choices", "correct_choice_idx", "image") if c not in src.names]
        if miss:
            raise BenchmarkError(f"A-OKVQA {location!r}: no aokvqa_v1p0_{split}.json and no column(s) "
                                 f"{', '.join(miss)}")
        src.image_column = "image"
        rows = [Row(str(q), c, i, src.where(i), ch) for i, (q, ch, c) in
                enumerate(zip(src.read("question"), src.read("choices"), src.read("correct_choice_idx")))]
        return Index("aokvqa", split, "aokvqa", rows, instruction, src.n, images=src,
                     description=f"A-OKVQA multiple choice, {split} split (parquet {location}).")
    base = ann.parent
    coco = Path(options["images"]).expanduser() if options.get("images") else base / "coco"
    try:
        records = json.loads(ann.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BenchmarkError(f"{ann.name}: not valid JSON ({e})") from None
    if not isinstance(records, list):
        raise BenchmarkError(f"{ann.name}: expected a JSON list of questions")
    rows = []
    for n, r in enumerate(records, start=1):
        where = f"{ann.name} question {n}"
        miss = [k for k in FIELDS if not isinstance(r, dict) or r.get(k) is None]
        if miss:
            if isinstance(r, dict) and miss == ["correct_choice_idx"]:
                raise BenchmarkError(f"{where}: no correct_choice_idx (the test split has no answers; use "
                                     "split=val or train)")
            raise BenchmarkError(f"{where}: missing field(s) {', '.join(miss)}")
        rows.append(Row(str(r["question"]), r["correct_choice_idx"],
                        str(coco_path(coco, split, r["image_id"])), where, r["choices"],
                        {"question_id": r.get("question_id")}))
    return Index("aokvqa", split, "aokvqa", rows, instruction, len(records),
                 description=f"A-OKVQA multiple choice, {split} split ({ann.name}), COCO 2017 images from {coco}.")
