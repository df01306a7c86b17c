"""VizWiz-VQA (Gurari et al. 2018): questions by blind people about their photos; ``Annotations/<split>.json`` is a
JSON list of ``{"image", "question", "answers": [10 x {"answer", "answer_confidence"}], "answer_type",
"answerable"}`` with the images in ``<split>/`` (the official ``train.zip`` / ``val.zip`` folders).

Subsets:
- ``answerable`` (default): classes ``answerable`` / ``unanswerable`` from the ``answerable`` flag (1 / 0). The
  question is followed by "When the provided information is insufficient, respond with Unanswerable." (SAVs'
  VizWiz prompt). The base model's generated answer is read as ``unanswerable`` when it says so; any other answer
  matches neither label word, so its baseline counts only its "unanswerable" answers right.
- ``yesno``: answerable questions whose majority answer (most frequent of the ten; ties: first in order) is yes
  or no; classes ``no`` / ``yes``; prompt "Answer with Yes or No."

Split: ``val`` by default (the test split has no answers).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from sn_core.data.benchmarks.base import BenchmarkError, Index, Row
from sn_core.data.benchmarks.jsonscan import JsonScanError, iter_records

SUBSETS = ("answerable", "yesno")
UNANSWERABLE_PROMPT = "When the provided information is insufficient, respond with Unanswerable."


def ann_file(root: Path, split: str) -> Path | None:
    if root.is_file():
        return root
    for cand in (root / "Annotations" / f"{split}.json", root / "annotations" / f"{split}.json",
                 root / f"{split}.json"):
        if cand.is_file():
            return cand
    return None


def detect(root: Path) -> str | None:
    for split in ("val", "train"):
        f = ann_file(root, split) if root.is_dir() else (root if root.suffix == ".json" else None)
        if f is not None:
            with open(f, encoding="utf-8", errors="replace") as fh:
                head = fh.read(65536)
            if '"answerable"' in head:
                return None
            return f"{f.name} has no answerable field"
    return "no Annotations/val.json (or train.json) with the answerable field"


def majority(answers) -> str | None:
    words = [str(a.get("answer", "")).strip().lower() for a in answers or [] if isinstance(a, dict)]
    if not words:
        return None
    counts = Counter(words)
    top = max(counts.values())
    return next(w for w in words if counts[w] == top)


def index(location: str, subset: str | None, options: dict) -> Index:
    root = Path(location).expanduser()
    split = options.get("split") or "val"
    ann = ann_file(root, split)
    if ann is None:
        raise BenchmarkError(f"VizWiz {location!r}: no Annotations/{split}.json")
    base = ann.parent.parent if ann.parent.name.lower() == "annotations" else ann.parent
    img_dir = Path(options["images"]).expanduser() if options.get("images") else base / split
    sub = subset or "answerable"
    rows, n = [], 0
    try:
        for n, r in enumerate(iter_records(ann), start=1):
            where = f"{ann.name} question {n}"
            if not r.get("image") or not r.get("question"):
                raise BenchmarkError(f"{where}: missing image or question")
            if "answerable" not in r:
                raise BenchmarkError(f"{where}: no answerable flag (the test split has no answers; use split=val)")
            flag = r["answerable"]
            if flag not in (0, 1, True, False):
                raise BenchmarkError(f"{where}: answerable is {flag!r}, expected 0 or 1")
            img = str(img_dir / r["image"])
            q = str(r["question"]).strip()
            if sub == "answerable":
                rows.append(Row(f"{q} {UNANSWERABLE_PROMPT}", "answerable" if flag else "unanswerable", img, where))
            elif flag:
                m = majority(r.get("answers"))
                if m in ("yes", "no"):
                    rows.append(Row(q, m, img, where))
    except JsonScanError as e:
        raise BenchmarkError(str(e)) from None
    if sub == "answerable":
        return Index("vizwiz", sub, "vizwiz-answerable", rows, "", n, answer_set=("answerable", "unanswerable"),
                     description=f"VizWiz {split}: can the question be answered from the photo?")
    return Index("vizwiz", sub, "vizwiz-yesno", rows, "Answer with Yes or No.", n, answer_set=("no", "yes"),
                 description=f"VizWiz {split}: answerable questions whose majority answer is yes or no.")
