"""InstaOrder (Lee & Park, CVPR 2022): pairwise depth and occlusion order of COCO 2017 instances.

Layout (POSTECH-CVLab/InstaOrder's README): ``annotations/InstaOrder_<split>2017.json`` beside COCO's
``annotations/instances_<split>2017.json`` (the instance boxes) and the images ``<split>2017/`` next to
``annotations/`` (or ``;images=DIR``). ``InstaOrder_*.json`` holds ``{"annotations": [{"image_id", "instance_ids",
"occlusion": [{"order": "0<2"|"0<2 & 2<0", "count"}], "depth": [{"order": "1<2"|"0=1", "overlap", "count"}]}]}``;
the indices in ``order`` point into ``instance_ids`` (COCO annotation ids). As the official reader
(``datasets/reader.py``) and visualiser read them: depth ``A<B`` means A is nearer the camera than B, ``A=B`` the
same depth; occlusion ``A<B`` means A occludes B, ``A<B & B<A`` both occlude each other.

Cast: each ordered pair is one question with the two instances' boxes drawn on the image, one red and one blue
(outline width 1% of the shorter image side, at least 3 px); which instance gets red is fixed per pair by a hash of
(image id, order text), so both classes occur. Subsets:
- ``depth``: "Which of the two marked objects is closer to the camera, the red one or the blue one?"; classes
  ``red`` / ``blue``; equal-depth pairs (``A=B``) are left out;
- ``occlusion``: "Which of the two marked objects is in front, hiding part of the other: the red one or the blue
  one?"; classes ``red`` / ``blue``; mutual occlusion (``&``) is left out.
Prompt: the question, then "Answer with Red or Blue." Split: ``val`` by default.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from sn_core.data.images import ImageError, load_image
from sn_core.data.benchmarks.base import BenchmarkError, FileImages, Index, Row
from sn_core.data.benchmarks.jsonscan import JsonScanError, iter_records

SUBSETS = ("depth", "occlusion")
QUESTIONS = {"depth": "Which of the two marked objects is closer to the camera, the red one or the blue one?",
             "occlusion": "Which of the two marked objects is in front, hiding part of the other: the red one or "
                          "the blue one?"}
INSTRUCTION = "Answer with Red or Blue."
RED, BLUE = (255, 0, 0), (0, 0, 255)


def ann_dir(root: Path) -> Path:
    if root.is_file():
        return root.parent
    return root / "annotations" if (root / "annotations").is_dir() else root


def detect(root: Path) -> str | None:
    d = ann_dir(root)
    if not any(d.glob("InstaOrder_*.json")):
        return "no annotations/InstaOrder_<split>2017.json"
    if not any(d.glob("instances_*.json")):
        return "InstaOrder annotations but no COCO instances_<split>2017.json beside them (the instance boxes)"
    return None


class MarkedImages(FileImages):
    """COCO image files with the pair's two boxes drawn (only for the sampled rows)."""

    def open(self, rows):
        from PIL import ImageDraw

        out = []
        for r in rows:
            try:
                img = load_image(r.image, name=Path(r.image).name).copy()
            except ImageError as e:
                raise BenchmarkError(f"{r.where}: {e}") from None
            draw = ImageDraw.Draw(img)
            w = max(3, round(min(img.size) / 100))
            for box, colour in ((r.meta["red_box"], RED), (r.meta["blue_box"], BLUE)):
                x, y, bw, bh = box
                draw.rectangle([x, y, x + bw, y + bh], outline=colour, width=w)
            out.append(img)
        return out


def _red_first(image_id, order: str) -> bool:
    return hashlib.sha256(f"{image_id}:{order}".encode()).digest()[0] % 2 == 0


def index(location: str, subset: str | None, options: dict) -> Index:
    root = Path(location).expanduser()
    kind = subset or "depth"
    split = options.get("split") or "val"
    d = ann_dir(root)
    order_file = root if root.is_file() else d / f"InstaOrder_{split}2017.json"
    inst_file = d / f"instances_{split}2017.json"
    for f in (order_file, inst_file):
        if not f.is_file():
            raise BenchmarkError(f"InstaOrder {location!r}: no {f.name} in {str(d)!r}")
    img_dir = Path(options["images"]).expanduser() if options.get("images") else d.parent / f"{split}2017"
    pairs, n = [], 0
    try:
        for n, a in enumerate(iter_records(order_file, "annotations"), start=1):
            where = f"{order_file.name} image {n}"
            ids = a.get("instance_ids")
            if a.get("image_id") is None or not isinstance(ids, list):
                raise BenchmarkError(f"{where}: missing image_id or instance_ids")
            for k, o in enumerate(a.get(kind) or []):
                order = str(o.get("order", "")) if isinstance(o, dict) else ""
                if "&" in order or "=" in order:
                    continue
                try:
                    i, j = (int(v) for v in order.split("<"))
                    first, second = ids[i], ids[j]
                except (ValueError, IndexError):
                    raise BenchmarkError(f"{where}: {kind} order {order!r} does not name two of its "
                                         f"{len(ids)} instances") from None
                pairs.append((a["image_id"], order, first, second, f"{where} {kind} {k + 1}"))
        wanted = {p[2] for p in pairs} | {p[3] for p in pairs}
        images = {int(r["id"]): r.get("file_name") for r in iter_records(inst_file, "images")}
        boxes = {int(r["id"]): r.get("bbox") for r in iter_records(inst_file, "annotations")
                 if int(r.get("id", -1)) in wanted}
    except JsonScanError as e:
        raise BenchmarkError(str(e)) from None
    rows = []
    question = QUESTIONS[kind]
    for image_id, order, first, second, where in pairs:
        if int(image_id) not in images:
            raise BenchmarkError(f"{where}: image {image_id} is not in {inst_file.name}")
        for inst in (first, second):
            if boxes.get(int(inst)) is None:
                raise BenchmarkError(f"{where}: instance {inst} has no box in {inst_file.name}")
        red = _red_first(image_id, order)
        meta = {"red_box": boxes[int(first if red else second)], "blue_box": boxes[int(second if red else first)],
                "image_id": image_id, "order": order}
        rows.append(Row(question, "red" if red else "blue", str(img_dir / images[int(image_id)]), where, meta=meta))
    return Index("instaorder", kind, f"instaorder-{kind}", rows, INSTRUCTION, n, images=MarkedImages(),
                 answer_set=("blue", "red"),
                 notes=[f"{'equal-depth' if kind == 'depth' else 'mutual-occlusion'} pairs left out"],
                 description=f"InstaOrder {kind} order, {split}2017: two COCO instances marked red and blue.")
