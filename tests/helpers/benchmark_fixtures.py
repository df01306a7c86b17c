"""Small fixtures of the six benchmarks and of two Hugging Face dataset layouts, written in their published schemas
(docs/datasets.md) with images drawn by Pillow: nothing is downloaded, nothing large is committed.

Every writer takes a folder and returns the path a task argument names (``pope:<path>``, ...). Images are the demo
model's 48 px coloured-shape scenes (``sn_core.data.bundled.shapes.draw_scene``), coloured by the row's class where the
benchmark allows, so a search on the demo model has something to find. Row counts are small on purpose: the suite
runs on 2 CPU cores.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sn_core.data.bundled.shapes import SHAPES, draw_scene

CLASS_COLOUR = {"yes": "red", "no": "blue", "red": "red", "blue": "blue", "answerable": "green",
                "unanswerable": "yellow"}


def scene(colour: str, seed: int, shape: str | None = None):
    rng = np.random.default_rng(seed)
    return draw_scene([(colour, shape or SHAPES[seed % len(SHAPES)])], rng)


def png(colour: str, seed: int) -> bytes:
    buf = io.BytesIO()
    scene(colour, seed).save(buf, "PNG")
    return buf.getvalue()


def _save(img, path: Path, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt)


IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _hf_meta(features: dict) -> dict:
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode()}


def _image_feature() -> dict:
    return {"_type": "Image"}


def _value(dtype: str = "string") -> dict:
    return {"dtype": dtype, "_type": "Value"}


# ---------------------------------------------------------------------------------------------------- POPE
def write_pope(root: Path, per_category: int = 12) -> Path:
    """lmms-lab/POPE's parquet layout: ``data/test-00000-of-00001.parquet``."""
    rows = {k: [] for k in ("question_id", "question", "answer", "image_source", "image", "category")}
    i = 0
    for cat in ("adversarial", "popular", "random"):
        for k in range(per_category):
            ans = "yes" if k % 2 == 0 else "no"
            rows["question_id"].append(str(i + 1))
            rows["question"].append("Is there a red shape in the image?")
            rows["answer"].append(ans)
            rows["image_source"].append(f"COCO_val2014_{i:012d}")
            rows["image"].append({"bytes": png(CLASS_COLOUR[ans], i), "path": None})
            rows["category"].append(cat)
            i += 1
    feats = {k: _value() for k in rows}
    feats["image"] = _image_feature()
    schema = pa.schema([(k, IMAGE_TYPE if k == "image" else pa.string()) for k in rows], metadata=_hf_meta(feats))
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows, schema=schema), root / "data" / "test-00000-of-00001.parquet", row_group_size=8)
    return root


# ---------------------------------------------------------------------------------------------------- CLEVR
def write_clevr(root: Path, n_images: int = 16) -> Path:
    """``CLEVR_v1.0/questions/CLEVR_val_questions.json`` + ``images/val/CLEVR_val_%06d.png``."""
    base = root / "CLEVR_v1.0"
    qs = []
    colours = ["red", "blue", "green", "yellow"]
    for i in range(n_images):
        fn = f"CLEVR_val_{i:06d}.png"
        colour = colours[i % 4]
        _save(scene(colour, i, "circle"), base / "images" / "val" / fn)
        for text, ans in (("Is there a red thing?", "yes" if colour == "red" else "no"),
                          ("What color is the large sphere?", colour),
                          ("How many spheres are there?", str(1 + i % 3)),
                          ("What shape is the small object?", "sphere")):
            qs.append({"image_index": i, "program": [{"inputs": [], "function": "scene", "value_inputs": []}],
                       "question_index": len(qs), "image_filename": fn, "question_family_index": 0,
                       "split": "val", "answer": ans, "question": text})
    (base / "questions").mkdir(parents=True, exist_ok=True)
    doc = {"info": {"split": "val", "license": "Creative Commons Attribution (CC BY 4.0)", "version": "1.0",
                    "date": "2/14/2017"}, "questions": qs}
    (base / "questions" / "CLEVR_val_questions.json").write_text(json.dumps(doc))
    return base


def write_clevr_questions(path: Path, n: int, n_images: int = 15000) -> Path:
    """A CLEVR-shaped questions file of ``n`` questions (programs included, as the real file), no images: the
    input of bench/datasets.py."""
    rng = np.random.default_rng(0)
    answers = ["yes", "no", "red", "blue", "cube", "sphere", "metal", "rubber", "large", "small"] + \
        [str(i) for i in range(11)]
    prog = [{"inputs": [], "function": "scene", "value_inputs": []},
            {"inputs": [0], "function": "filter_size", "value_inputs": ["large"]},
            {"inputs": [1], "function": "filter_color", "value_inputs": ["red"]},
            {"inputs": [2], "function": "unique", "value_inputs": []},
            {"inputs": [3], "function": "same_shape", "value_inputs": []},
            {"inputs": [4], "function": "count", "value_inputs": []}]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write('{"info": {"split": "val", "version": "1.0"}, "questions": [')
        for i in range(n):
            img = int(rng.integers(n_images))
            q = {"image_index": img, "program": prog, "question_index": i,
                 "image_filename": f"CLEVR_val_{img:06d}.png", "question_family_index": int(rng.integers(90)),
                 "split": "val", "answer": answers[int(rng.integers(len(answers)))],
                 "question": "Are there any other things that have the same size as the large red metal cube?"}
            f.write(("," if i else "") + json.dumps(q))
        f.write("]}")
    return path


# ---------------------------------------------------------------------------------------------------- A-OKVQA
AOKVQA_CHOICES = ["red", "blue", "green", "yellow"]


def write_aokvqa(root: Path, n: int = 24) -> tuple[Path, Path]:
    """``aokvqa/aokvqa_v1p0_val.json`` and COCO 2017 images ``coco/val2017/<image_id:012d>.jpg``; returns (annotation
    folder, COCO folder)."""
    ann, coco = root / "aokvqa", root / "coco"
    recs = []
    for i in range(n):
        image_id = 100 + i
        correct = i % 4
        choices = AOKVQA_CHOICES[i % 4:] + AOKVQA_CHOICES[:i % 4]  # rotated: the answer is not always one letter
        answer = choices[correct]
        _save(scene(answer, i), coco / "val2017" / f"{image_id:012d}.jpg", "JPEG")
        recs.append({"split": "val", "image_id": image_id, "question_id": f"q{i}",
                     "question": "What color is the shape?", "choices": choices, "correct_choice_idx": correct,
                     "direct_answers": [answer] * 10, "difficult_direct_answer": False,
                     "rationales": ["It is that color."] * 3})
    ann.mkdir(parents=True, exist_ok=True)
    (ann / "aokvqa_v1p0_val.json").write_text(json.dumps(recs))
    return ann, coco


# ---------------------------------------------------------------------------------------------------- ScienceQA
def write_scienceqa(root: Path, n: int = 24) -> Path:
    """Official ``problems.json`` + ``images/<split>/<pid>/image.png``; a quarter of the test questions have no
    image and some questions are in the train split (both left out)."""
    problems = {}
    for i in range(n + n // 3 + 4):
        pid = str(i + 1)
        split = "train" if i >= n + n // 3 else "test"
        has_image = i % 4 != 3 or split == "train"
        colour = ["red", "blue", "green"][i % 3]
        choices = ["red", "blue", "green"] if i % 2 else ["blue", "red", "green"]
        problems[pid] = {"question": "Which color is the shape?", "choices": choices,
                         "answer": choices.index(colour), "hint": "" if i % 2 else "Look at it.",
                         "image": "image.png" if has_image else None, "task": "closed choice", "grade": "grade2",
                         "subject": "natural science", "topic": "science-and-engineering-practices",
                         "category": "Colors", "skill": "Identify colors", "lecture": "", "solution": "",
                         "split": split}
        if has_image:
            _save(scene(colour, i), root / "images" / split / pid / "image.png")
    root.mkdir(parents=True, exist_ok=True)
    (root / "problems.json").write_text(json.dumps(problems))
    (root / "pid_splits.json").write_text(json.dumps({
        s: [p for p, v in problems.items() if v["split"] == s] for s in ("train", "test")}))
    return root


def write_scienceqa_parquet(root: Path, n: int = 20) -> Path:
    """derek-thomas/ScienceQA's parquet copy: ``data/test-00000-of-00001.parquet`` (image null for text-only)."""
    cols = {k: [] for k in ("image", "question", "choices", "answer", "hint", "task", "grade", "subject", "topic",
                            "category", "skill", "lecture", "solution")}
    for i in range(n):
        colour = ["red", "blue"][i % 2]
        cols["image"].append(None if i % 5 == 4 else {"bytes": png(colour, i), "path": None})
        cols["question"].append("Which color is the shape?")
        cols["choices"].append(["red", "blue"])
        cols["answer"].append(i % 2)
        for k in ("hint", "task", "grade", "subject", "topic", "category", "skill", "lecture", "solution"):
            cols[k].append("")
    types = {"image": IMAGE_TYPE, "choices": pa.list_(pa.string()), "answer": pa.int8()}
    schema = pa.schema([(k, types.get(k, pa.string())) for k in cols])
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols, schema=schema), root / "data" / "test-00000-of-00001-abc.parquet",
                   row_group_size=4)
    return root


# ---------------------------------------------------------------------------------------------------- VizWiz
def write_vizwiz(root: Path, n: int = 32) -> Path:
    """``Annotations/val.json`` (10 answers, answerable flag) + ``val/VizWiz_val_%08d.jpg``."""
    recs = []
    for i in range(n):
        fn = f"VizWiz_val_{i:08d}.jpg"
        answerable = i % 2
        if not answerable:
            answers, atype = ["unanswerable"] * 7 + ["blue"] * 3, "unanswerable"
        elif i % 4 == 1:
            answers, atype = ["yes"] * 6 + ["no"] * 4, "yes/no"
        else:
            answers, atype = ["no"] * 5 + ["yes"] * 3 + ["unsuitable"] * 2, "yes/no"
        colour = CLASS_COLOUR["answerable" if answerable else "unanswerable"]
        _save(scene(colour, i), root / "val" / fn, "JPEG")
        recs.append({"image": fn, "question": "Is this shape red?",
                     "answers": [{"answer": a, "answer_confidence": "yes"} for a in answers],
                     "answer_type": atype, "answerable": answerable})
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "Annotations" / "val.json").write_text(json.dumps(recs))
    return root


# ---------------------------------------------------------------------------------------------------- InstaOrder
def write_instaorder(root: Path, n_images: int = 12) -> Path:
    """``COCO/annotations/InstaOrder_val2017.json`` + ``instances_val2017.json`` + ``COCO/val2017/*.jpg``; returns
    the COCO folder."""
    coco = root / "COCO"
    images, anns, orders = [], [], []
    ann_id = 1000
    for i in range(n_images):
        image_id = 500 + i
        fn = f"{image_id:012d}.jpg"
        _save(scene("green", i), coco / "val2017" / fn, "JPEG")
        images.append({"id": image_id, "file_name": fn, "width": 48, "height": 48})
        ids = []
        for k, box in enumerate(([2, 2, 20, 20], [24, 24, 20, 20], [4, 26, 16, 16])):
            anns.append({"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": box, "area": 400,
                         "iscrowd": 0, "segmentation": [[box[0], box[1], box[0] + box[2], box[1], box[0] + box[2],
                                                         box[1] + box[3]]]})
            ids.append(ann_id)
            ann_id += 1
        orders.append({"image_id": image_id, "instance_ids": ids,
                       "occlusion": [{"order": "0<1", "count": 2}, {"order": "1<2", "count": 2},
                                     {"order": "0<2 & 2<0", "count": 3}],
                       "depth": [{"order": "0<1", "count": 2, "overlap": False},
                                 {"order": "2<1", "count": 2, "overlap": True},
                                 {"order": "0=2", "count": 2, "overlap": False}]})
    (coco / "annotations").mkdir(parents=True, exist_ok=True)
    (coco / "annotations" / "instances_val2017.json").write_text(json.dumps(
        {"info": {}, "licenses": [], "images": images, "annotations": anns,
         "categories": [{"id": 1, "name": "thing", "supercategory": "thing"}]}))
    (coco / "annotations" / "InstaOrder_val2017.json").write_text(json.dumps({"annotations": orders}))
    return coco


# ---------------------------------------------------------------------------------------------------- generic HF
HF_NAMES = ["red", "green", "blue"]


def _hf_table(n: int, seed: int = 0) -> pa.Table:
    labels = [i % 3 for i in range(n)]
    feats = {"image": _image_feature(), "question": _value(),
             "label": {"names": HF_NAMES, "_type": "ClassLabel"}}
    schema = pa.schema([("image", IMAGE_TYPE), ("question", pa.string()), ("label", pa.int64())],
                       metadata=_hf_meta(feats))
    return pa.table({"image": [{"bytes": png(HF_NAMES[l], seed + i), "path": None} for i, l in enumerate(labels)],
                     "question": ["What color is the shape?"] * n, "label": labels}, schema=schema)


def write_hf_parquet(root: Path, n: int = 24) -> Path:
    """A Hub-layout parquet dataset: ``data/validation-*.parquet`` and ``data/train-*.parquet`` (ClassLabel
    label)."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(_hf_table(n, 0), root / "data" / "validation-00000-of-00001.parquet", row_group_size=6)
    pq.write_table(_hf_table(9, 1000), root / "data" / "train-00000-of-00001.parquet")
    return root


def write_hf_save_to_disk(root: Path, n: int = 24) -> Path:
    """``Dataset.save_to_disk``'s layout: ``data-00000-of-00001.arrow`` (Arrow stream), ``dataset_info.json``,
    ``state.json``."""
    root.mkdir(parents=True, exist_ok=True)
    table = _hf_table(n, 0)
    with pa.OSFile(str(root / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table, max_chunksize=8)
    (root / "dataset_info.json").write_text(json.dumps({"features": json.loads(
        table.schema.metadata[b"huggingface"])["info"]["features"]}))
    (root / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}],
                                                 "_fingerprint": "0", "_format_columns": None,
                                                 "_format_kwargs": {}, "_format_type": None,
                                                 "_output_all_columns": False, "_split": "validation"}))
    return root


def write_all(root: Path) -> dict[str, str]:
    """Every fixture under ``root``: name -> task argument."""
    root = Path(root)
    ann, coco = write_aokvqa(root / "aokvqa-official")
    return {
        "pope": f"pope:{write_pope(root / 'POPE')}",
        "clevr": f"clevr:{write_clevr(root / 'clevr')}:color",
        "aokvqa": f"aokvqa:{ann};images={coco}",
        "scienceqa": f"scienceqa:{write_scienceqa(root / 'ScienceQA')}",
        "vizwiz": f"vizwiz:{write_vizwiz(root / 'VizWiz')}",
        "instaorder": f"instaorder-depth:{write_instaorder(root / 'insta')}",
        "hf-parquet": f"hf:{write_hf_parquet(root / 'hf-parquet')}",
        "hf-disk": f"hf:{write_hf_save_to_disk(root / 'hf-disk')}",
    }


__all__ = ["write_aokvqa", "write_all", "write_clevr", "write_clevr_questions", "write_hf_parquet",
           "write_hf_save_to_disk", "write_instaorder", "write_pope", "write_scienceqa", "write_scienceqa_parquet",
           "write_vizwiz"]


def write_pope_official(root: Path, per_subset: int = 8) -> Path:
    """RUCAIBox/POPE's files: ``output/coco/coco_pope_<subset>.json`` (a JSON object a line) and COCO val2014 images
    in ``val2014/`` beside ``output/``; returns the root."""
    out = root / "output" / "coco"
    out.mkdir(parents=True, exist_ok=True)
    k = 0
    for s in ("random", "popular", "adversarial"):
        lines = []
        for i in range(per_subset):
            ans = "yes" if i % 2 == 0 else "no"
            fn = f"COCO_val2014_{k:012d}.jpg"
            _save(scene(CLASS_COLOUR[ans], k), root / "val2014" / fn, "JPEG")
            lines.append(json.dumps({"question_id": i + 1, "image": fn, "text": "Is there a red shape in the image?",
                                     "label": ans}))
            k += 1
        (out / f"coco_pope_{s}.json").write_text("\n".join(lines) + "\n")
    return root


def write_aokvqa_parquet(root: Path, n: int = 12) -> Path:
    """HuggingFaceM4/A-OKVQA's parquet layout (``data/validation-*.parquet`` with an ``image`` column)."""
    cols = {k: [] for k in ("image", "question_id", "question", "choices", "correct_choice_idx", "direct_answers",
                            "difficult_direct_answer", "rationales")}
    for i in range(n):
        choices = AOKVQA_CHOICES[i % 4:] + AOKVQA_CHOICES[:i % 4]
        correct = (i * 3) % 4
        cols["image"].append({"bytes": png(choices[correct], i), "path": None})
        cols["question_id"].append(f"q{i}")
        cols["question"].append("What color is the shape?")
        cols["choices"].append(choices)
        cols["correct_choice_idx"].append(correct)
        cols["direct_answers"].append([choices[correct]] * 10)
        cols["difficult_direct_answer"].append(False)
        cols["rationales"].append(["It is."])
    types = {"image": IMAGE_TYPE, "choices": pa.list_(pa.string()), "correct_choice_idx": pa.int64(),
             "direct_answers": pa.list_(pa.string()), "difficult_direct_answer": pa.bool_(),
             "rationales": pa.list_(pa.string())}
    schema = pa.schema([(k, types.get(k, pa.string())) for k in cols])
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols, schema=schema), root / "data" / "validation-00000-of-00001.parquet")
    return root
