"""ScienceQA (Lu et al. 2022), image questions only, multiple choice (2-5 ``choices``, ``answer`` = correct index).

Layouts:
- the official ``problems.json`` (``{pid: {"question", "choices", "answer", "hint", "image", "split", ...}}``,
  lupantech/ScienceQA) with ``images/<split>/<pid>/<image>`` beside it (or ``;images=DIR`` holding
  ``<split>/<pid>/``);
- the Hugging Face parquet copy (``derek-thomas/ScienceQA``: ``image``, ``question``, ``choices``, ``answer``,
  ``hint``, ...; splits train / validation / test).

Only questions with an image are kept (``image`` set). Split: ``test`` by default (the split papers report).
Cast: multiple choice; a non-empty ``hint`` is put before the question as ``Context: <hint>``; classes are the
letters; prompt "Answer with the option's letter from the given choices directly."
"""
from __future__ import annotations

import json
from pathlib import Path

from sn_core.data.benchmarks.arrow import source_for
from sn_core.data.benchmarks.base import BenchmarkError, Index, Row

SUBSETS: tuple[str, ...] = ()


def problems_file(root: Path) -> Path | None:
    if root.is_file() and root.name == "problems.json":
        return root
    for cand in (root / "problems.json", root / "data" / "scienceqa" / "problems.json",
                 root / "scienceqa" / "problems.json"):
        if cand.is_file():
            return cand
    return None


def detect(root: Path) -> str | None:
    if problems_file(root):
        return None
    try:
        src, _, _ = source_for(str(root), None, "ScienceQA")
        if all(c in src.names for c in ("question", "choices", "answer", "hint", "image")):
            return None
    except BenchmarkError:
        pass
    return "no problems.json and no parquet with columns question, choices, answer, hint, image"


def _question(q: str, hint) -> str:
    hint = str(hint or "").strip()
    return f"Context: {hint}\n{q}" if hint else q


def index(location: str, subset: str | None, options: dict) -> Index:
    root = Path(location).expanduser()
    prob = problems_file(root) if root.exists() else None
    if prob is None:
        src, split, _ = source_for(location, options.get("split") or subset, "ScienceQA")
        miss = [c for c in ("question", "choices", "answer", "image") if c not in src.names]
        if miss:
            raise BenchmarkError(f"ScienceQA {location!r}: no problems.json and no column(s) {', '.join(miss)}")
        src.image_column = "image"
        has = src.has_image()
        hints = src.read("hint") if "hint" in src.names else [None] * src.n
        rows = [Row(_question(str(q), h), a, i, src.where(i), ch) for i, (q, ch, a, h, ok) in
                enumerate(zip(src.read("question"), src.read("choices"), src.read("answer"), hints, has)) if ok]
        return Index("scienceqa", split, "scienceqa-img", rows, "", src.n, images=src,
                     notes=[f"{src.n - len(rows):,} question(s) without an image left out"],
                     description=f"ScienceQA image questions, {split} split (parquet {location}).")
    split = options.get("split") or "test"
    img_root = Path(options["images"]).expanduser() if options.get("images") else prob.parent / "images"
    try:
        problems = json.loads(prob.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BenchmarkError(f"{prob.name}: not valid JSON ({e})") from None
    if not isinstance(problems, dict):
        raise BenchmarkError(f"{prob.name}: expected an object of problems by id")
    rows, n_split = [], 0
    for pid, p in problems.items():
        where = f"{prob.name} problem {pid}"
        if not isinstance(p, dict):
            raise BenchmarkError(f"{where}: not an object")
        if p.get("split") != split:
            continue
        n_split += 1
        if not p.get("image"):
            continue
        miss = [k for k in ("question", "choices", "answer") if p.get(k) is None]
        if miss:
            raise BenchmarkError(f"{where}: missing field(s) {', '.join(miss)}")
        rows.append(Row(_question(str(p["question"]), p.get("hint")), p["answer"],
                        str(img_root / split / str(pid) / str(p["image"])), where, p["choices"], {"pid": pid}))
    return Index("scienceqa", split, "scienceqa-img", rows, "", len(problems),
                 notes=[f"{n_split - len(rows):,} {split} question(s) without an image left out"],
                 description=f"ScienceQA image questions, {split} split ({prob}), images from {img_root}.")
