"""POPE (Li et al. 2023, object hallucination): "Is there a <object> in the image?" answered yes or no.

Layouts:
- the Hugging Face copy ``lmms-lab/POPE`` (parquet, split ``test``: ``question_id``, ``question``, ``answer``,
  ``image_source``, ``image``, ``category``), a folder or a cached dataset id;
- the official RUCAIBox/POPE files ``coco_pope_{random,popular,adversarial}.json`` (one JSON object a line:
  ``question_id``, ``image``, ``text``, ``label``) with the COCO val2014 images (``;images=DIR``, default a
  ``val2014`` folder beside the files or above them).

Subsets: ``random``, ``popular``, ``adversarial`` (the ``category`` column / the file), or all (default).
Classes: ``yes``, ``no``; a row whose answer is anything else is refused. Prompt: the question, then
"Answer with Yes or No." (SAVs' convention).
"""
from __future__ import annotations

import json
from pathlib import Path

from sn_core.data.benchmarks.arrow import data_files, source_for
from sn_core.data.benchmarks.base import BenchmarkError, Index, Row

SUBSETS = ("random", "popular", "adversarial")
INSTRUCTION = "Answer with Yes or No."
COLUMNS = ("question", "answer", "image", "category")


def official_files(root: Path) -> dict[str, Path]:
    if root.is_file():
        root = root.parent
    found = {}
    for s in SUBSETS:  # the official repository keeps them in output/coco/
        hits = [p for pat in (f"*_pope_{s}.json", f"*/*_pope_{s}.json", f"*/*/*_pope_{s}.json")
                for p in sorted(root.glob(pat))]
        if hits:
            found[s] = hits[0]
    return found


def detect(root: Path) -> str | None:
    """None when ``root`` is a POPE folder, else what it lacks."""
    if official_files(root):
        return None
    try:
        files = [f for fs in data_files(root).values() for f in fs if f.suffix == ".parquet"]
    except BenchmarkError:
        files = []
    import pyarrow.parquet as pq

    for f in files[:1]:
        try:
            names = pq.read_schema(f).names
        except Exception:  # noqa: BLE001 - an unreadable file is simply not POPE
            continue
        if all(c in names for c in COLUMNS):
            return None
    return "no parquet file with columns " + ", ".join(COLUMNS) + " and no coco_pope_<subset>.json file"


def index(location: str, subset: str | None, options: dict) -> Index:
    root = Path(location).expanduser()
    official = official_files(root) if root.exists() else {}
    name = f"pope-{subset or 'all'}"
    if official:
        return _index_official(root, official, subset, options, name)
    src, split, _ = source_for(location, options.get("split"), "POPE")
    missing = [c for c in COLUMNS if c not in src.names]
    if missing:
        raise BenchmarkError(f"POPE {location!r}: no column(s) {', '.join(missing)} (columns: {', '.join(src.names)})")
    src.image_column = "image"
    cats, qs, ans = src.read("category"), src.read("question"), src.read("answer")
    rows = [Row(str(q), str(a).strip().lower() if a is not None else "", i, src.where(i))
            for i, (c, q, a) in enumerate(zip(cats, qs, ans)) if subset is None or c == subset]
    desc = f"POPE ({subset or 'all categories'}), {split} split of {location}: is the object in the image?"
    return Index("pope", subset, name, rows, INSTRUCTION, src.n, images=src, answer_set=("no", "yes"),
                 description=desc)


def _index_official(root: Path, files: dict, subset, options, name) -> Index:
    base = root if root.is_dir() else root.parent
    img_dir = Path(options["images"]).expanduser() if options.get("images") else next(
        (d for d in (base / "val2014", base.parent / "val2014", base.parent.parent / "val2014") if d.is_dir()),
        base / "val2014")
    rows, n_read = [], 0
    for s, path in files.items():
        if subset is not None and s != subset:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            n_read += 1
            where = f"{path.name} row {n}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise BenchmarkError(f"{where}: not valid JSON ({e.msg})") from None
            miss = [k for k in ("image", "text", "label") if not rec.get(k)]
            if miss:
                raise BenchmarkError(f"{where}: missing field(s) {', '.join(miss)}")
            rows.append(Row(str(rec["text"]), str(rec["label"]).strip().lower(), str(img_dir / rec["image"]), where,
                            meta={"subset": s}))
    if subset is not None and subset not in files:
        raise BenchmarkError(f"POPE {str(root)!r}: no coco_pope_{subset}.json")
    return Index("pope", subset, name, rows, INSTRUCTION, n_read, answer_set=("no", "yes"),
                 description=f"POPE ({subset or 'all subsets'}), official files in {base}, images {img_dir}.")
