"""Benchmark loaders and Hugging Face datasets (sn_core.data.benchmarks) on fixtures written in the published
schemas (tests/helpers/benchmark_fixtures.py): casting, subsets, detection, stratified sampling before any image is
opened, and bad input named by row."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from sn_core.data.benchmarks import (BenchmarkError, balanced_sample, describe, detect, load_benchmark, parse,
                                     subsets_of)
from sn_core.data.benchmarks.jsonscan import JsonScanError, iter_records
from tests.helpers import benchmark_fixtures as fx


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return root, fx.write_all(root)


EXPECTED = {  # name -> (task name, labels, instruction starts with, image kind)
    "pope": ("pope-all", ("no", "yes"), "Answer with Yes or No.", Image.Image),
    "clevr": ("clevr-color", ("blue", "green", "red", "yellow"), "Answer with one word.", str),
    "aokvqa": ("aokvqa", ("A", "B", "C", "D"), "Answer with the option's letter", str),
    "scienceqa": ("scienceqa-img", ("A", "B", "C"), "Answer with the option's letter", str),
    "vizwiz": ("vizwiz-answerable", ("answerable", "unanswerable"), "", str),
    "instaorder": ("instaorder-depth", ("blue", "red"), "Answer with Red or Blue.", Image.Image),
    "hf-parquet": ("hf-parquet", ("blue", "green", "red"), "Answer with one word.", Image.Image),
    "hf-disk": ("hf-disk", ("blue", "green", "red"), "Answer with one word.", Image.Image),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_loads_as_its_task(fixtures, name):
    _, args = fixtures
    task = load_benchmark(args[name], n=12, seed=0)
    tname, labels, instr, kind = EXPECTED[name]
    assert task.name == tname and task.labels == labels and task.instruction.startswith(instr)
    assert len(task) == 12 and all(isinstance(e.image, kind) for e in task.examples)
    counts = [task.y.count(lbl) for lbl in labels]
    assert max(counts) - min(counts) <= 1  # as even per class as the class sizes allow
    assert task.origin["benchmark"] and task.origin["n"] == 12
    again = load_benchmark(task.origin["benchmark"], n=12, seed=0)  # the canonical argument rebuilds it
    assert [e.question for e in again.examples] == [e.question for e in task.examples] and again.y == task.y
    assert detect(args[name].split(":", 1)[1].split(";")[0].removesuffix(":color"))[0] == (
        "hf" if name.startswith("hf") else name)


def test_multiple_choice_letters_follow_the_correct_choice(fixtures):
    _, args = fixtures
    task = load_benchmark(args["aokvqa"], n=24)
    for ex in task.examples:
        lines = ex.question.split("\n")
        assert lines[0] == "What color is the shape?" and [ln[:3] for ln in lines[1:]] == ["A. ", "B. ", "C. ", "D. "]
        assert ex.meta["choices"][" ABCD".index(ex.label) - 1] == ex.meta["answer"]
        assert f"{ex.label}. {ex.meta['answer']}" in lines
    assert set(task.y) == {"A", "B", "C", "D"}  # rotated choices: every letter is right somewhere


def test_subsets(fixtures):
    root, args = fixtures
    for cat in ("adversarial", "popular", "random"):
        t = load_benchmark(f"pope:{root / 'POPE'}:{cat}", n=100)
        assert t.name == f"pope-{cat}" and len(t) == 12
    assert len(load_benchmark(f"pope:{root / 'POPE'}", n=100)) == 36
    clevr = root / "clevr" / "CLEVR_v1.0"
    assert load_benchmark(f"clevr:{clevr}", n=100).labels == ("no", "yes")  # default subset: yes/no
    assert load_benchmark(f"clevr:{clevr}:count", n=100).labels == ("1", "2", "3")
    with pytest.raises(BenchmarkError, match="every usable row has the label 'sphere'"):
        load_benchmark(f"clevr:{clevr}:shape", n=100)
    yn = load_benchmark(f"vizwiz:{root / 'VizWiz'}:yesno", n=100)
    assert yn.labels == ("no", "yes") and len(yn) == 16  # answerable rows only, majority answer
    assert yn.instruction == "Answer with Yes or No."
    vz = load_benchmark(args["vizwiz"], n=100)
    assert all(e.question.endswith("When the provided information is insufficient, respond with Unanswerable.")
               for e in vz.examples)
    occ = load_benchmark(f"instaorder-occlusion:{root / 'insta' / 'COCO'}", n=100)
    assert len(occ) == 24  # two one-way occlusions per image; the mutual one left out
    depth = load_benchmark(f"instaorder:{root / 'insta' / 'COCO'}:depth", n=100)
    assert len(depth) == 24 and "equal-depth pairs left out" in depth.description
    with pytest.raises(BenchmarkError, match="no subset 'nope'"):
        load_benchmark(f"vizwiz:{root / 'VizWiz'}:nope")
    with pytest.raises(BenchmarkError, match="no subset 'nope'"):
        load_benchmark(f"auto:{root / 'VizWiz'}:nope")


def test_instaorder_marks_the_pair_it_asks_about(fixtures):
    root, _ = fixtures
    task = load_benchmark(f"instaorder-depth:{root / 'insta' / 'COCO'}", n=24)
    for ex in task.examples:
        arr = np.asarray(ex.image)
        for key, colour in (("red_box", (255, 0, 0)), ("blue_box", (0, 0, 255))):
            x, y, _, _ = ex.meta[key]
            assert tuple(arr[y + 1, x + 1]) == colour  # the box outline is drawn at its corner
        # depth "A<B": A is nearer; the label is the colour of A's box (the fixture's boxes differ per index)
        near = int(ex.meta["order"].split("<")[0])
        assert ex.meta[f"{ex.label}_box"] == [[2, 2, 20, 20], [24, 24, 20, 20], [4, 26, 16, 16]][near]
    assert set(task.y) == {"red", "blue"}


def test_scienceqa_keeps_image_questions_of_its_split(fixtures, tmp_path):
    root, args = fixtures
    t = load_benchmark(args["scienceqa"], n=1000)
    probs = json.loads((root / "ScienceQA" / "problems.json").read_text())
    want = [p for p, v in probs.items() if v["split"] == "test" and v["image"]]
    assert sorted(e.meta["pid"] for e in t.examples) == sorted(want)
    assert "without an image left out" in t.description
    pq_root = fx.write_scienceqa_parquet(tmp_path / "sqa-hf")
    t2 = load_benchmark(f"scienceqa:{pq_root}", n=1000)
    assert len(t2) == 16 and t2.labels == ("A", "B")  # 4 of 20 rows have no image


def test_stratified_subset_is_drawn_before_any_image_is_opened(fixtures, monkeypatch):
    from sn_core.data.benchmarks import arrow

    _, args = fixtures
    opened = []
    real = arrow._File.cells
    monkeypatch.setattr(arrow._File, "cells", lambda self, name, rows: opened.extend(rows) or real(self, name, rows))
    read = []
    real_col = arrow._File.column
    monkeypatch.setattr(arrow._File, "column", lambda self, name: read.append(name) or real_col(self, name))
    task = load_benchmark(args["pope"], n=10, seed=3)
    assert len(opened) == 10 and "image" not in read  # the index reads text columns; 10 image cells decoded
    other = load_benchmark(args["pope"], n=10, seed=4)
    assert [e.meta["where"] for e in other.examples] != [e.meta["where"] for e in task.examples]


def test_balanced_sample():
    y = ["a"] * 50 + ["b"] * 5 + ["c"] * 45
    idx = balanced_sample(y, 30, seed=0)
    got = {c: sum(y[i] == c for i in idx) for c in "abc"}
    assert got == {"a": 12, "b": 5, "c": 13} or got == {"a": 13, "b": 5, "c": 12}
    assert list(idx) == sorted(idx) and len(set(idx)) == 30
    assert np.array_equal(idx, balanced_sample(y, 30, seed=0))
    assert len(balanced_sample(y, 1000, 0)) == 100


def test_task_argument_syntax():
    a = parse("instaorder-depth:/d/COCO;images=/d/val2017;skip-missing-images", subsets_of)
    assert (a.format, a.location, a.subset, a.images, a.skip_missing_images) == (
        "instaorder", "/d/COCO", "depth", "/d/val2017", True)
    assert parse(a.text(), subsets_of) == a
    b = parse("clevr:/x:y/CLEVR:color", subsets_of)
    assert (b.location, b.subset) == ("/x:y/CLEVR", "color")
    assert parse("hf:lmms-lab/POPE:test", subsets_of).subset == "test"
    for bad, msg in (("pope:", "expected FORMAT"), ("nope:/x", "unknown format"),
                     ("pope:/x;colour=1", "unknown option"), ("pope:/x;images=", "needs a value")):
        with pytest.raises(ValueError, match=msg):
            parse(bad, subsets_of)


def test_folder_matching_no_format_names_what_each_lacked(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hi")
    with pytest.raises(BenchmarkError) as e:
        load_benchmark(f"auto:{tmp_path / 'stuff'}")
    msg = str(e.value)
    for fmt, lacks in (("POPE", "coco_pope_"), ("CLEVR", "questions/CLEVR_"), ("A-OKVQA", "aokvqa_v1p0_"),
                       ("ScienceQA", "problems.json"), ("VizWiz", "Annotations/val.json"),
                       ("InstaOrder", "InstaOrder_"), ("Hugging Face dataset", "no parquet or Arrow")):
        assert f"{fmt}: " in msg and lacks in msg, (fmt, msg)
    assert "--question" in msg and "\n" not in msg


@pytest.mark.reliability
def test_missing_images_refused_or_skipped(fixtures, tmp_path):
    root, _ = fixtures
    clevr = tmp_path / "clevr"
    shutil.copytree(root / "clevr" / "CLEVR_v1.0", clevr)
    (clevr / "images" / "val" / "CLEVR_val_000002.png").unlink()
    (clevr / "images" / "val" / "CLEVR_val_000005.png").unlink()
    with pytest.raises(BenchmarkError) as e:
        load_benchmark(f"clevr:{clevr}:color", n=8)
    msg = str(e.value)
    assert "2 image file(s) missing for 2 of 16 rows" in msg and "CLEVR_val_000002.png" in msg
    assert "CLEVR_val_questions.json question 10" in msg and "--skip-missing-images" in msg
    t = load_benchmark(f"clevr:{clevr}:color;skip-missing-images", n=100)
    assert len(t) == 14 and t.origin["skipped_missing_images"] == 2
    assert "2 row(s) skipped: image file missing (first: " in t.description


@pytest.mark.reliability
def test_bad_rows_named(tmp_path):
    # POPE: an answer outside yes/no
    pope = fx.write_pope(tmp_path / "pope", per_category=2)
    f = next((pope / "data").glob("*.parquet"))
    t = pq.read_table(f)
    answers = t.column("answer").to_pylist()
    answers[3] = "maybe"
    pq.write_table(t.set_column(t.schema.get_field_index("answer"), "answer", pa.array(answers)), f)
    with pytest.raises(BenchmarkError, match=r"test-00000-of-00001.parquet row 4: label 'maybe' is not in the "
                                             r"answer set \['no', 'yes'\] of pope"):
        load_benchmark(f"pope:{pope}")
    # A-OKVQA: a correct_choice_idx outside the choices
    ann, coco = fx.write_aokvqa(tmp_path / "ao", n=8)
    recs = json.loads((ann / "aokvqa_v1p0_val.json").read_text())
    recs[5]["correct_choice_idx"] = 7
    (ann / "aokvqa_v1p0_val.json").write_text(json.dumps(recs))
    with pytest.raises(BenchmarkError, match=r"aokvqa_v1p0_val.json question 6: label index 7 is outside the 4 "
                                             "choices"):
        load_benchmark(f"aokvqa:{ann};images={coco}")
    # a Hugging Face image column holding no image, on a sampled row
    hf = fx.write_hf_parquet(tmp_path / "hf", n=6)
    f = hf / "data" / "validation-00000-of-00001.parquet"
    t = pq.read_table(f)
    imgs = t.column("image").to_pylist()
    imgs[2] = None
    pq.write_table(t.set_column(0, pa.field("image", fx.IMAGE_TYPE), pa.array(imgs, fx.IMAGE_TYPE)), f)
    with pytest.raises(BenchmarkError, match=r"validation-00000-of-00001.parquet row 3: the image column 'image' "
                                             "holds no image"):
        load_benchmark(f"hf:{hf}", n=6)
    # a Hugging Face label column holding lists (VQA's answers): name a single-label column
    tb = pa.table({"image": pa.array([{"bytes": fx.png("red", 0), "path": None}] * 2, fx.IMAGE_TYPE),
                   "question": ["q", "q"], "answers": [["a", "b"], ["c"]]})
    (tmp_path / "vqa").mkdir()
    pq.write_table(tb, tmp_path / "vqa" / "validation.parquet")
    with pytest.raises(BenchmarkError, match="no label column"):
        load_benchmark(f"hf:{tmp_path / 'vqa'}")
    with pytest.raises(BenchmarkError, match=r"row 1: the label column 'answers' holds a list"):
        load_benchmark(f"hf:{tmp_path / 'vqa'};label=answers")


def test_hf_columns_splits_and_cached_id(fixtures, tmp_path, monkeypatch):
    root, _ = fixtures
    assert load_benchmark(f"hf:{root / 'hf-parquet'}:train", n=100).name == "hf-parquet"
    assert len(load_benchmark(f"hf:{root / 'hf-parquet'}:train", n=100)) == 9
    with pytest.raises(BenchmarkError, match="no split 'dev'; splits found: train, validation"):
        load_benchmark(f"hf:{root / 'hf-parquet'}:dev")
    # a dataset id in the local Hub cache, offline
    hub = tmp_path / "hub"
    snap = hub / "datasets--someone--colours" / "snapshots" / "abc123"
    shutil.copytree(root / "hf-parquet", snap)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    t = load_benchmark("hf:someone/colours", n=6)
    assert len(t) == 6 and t.labels == ("blue", "green", "red")
    with pytest.raises(BenchmarkError, match="no dataset of that id in the local Hugging Face cache"):
        load_benchmark("hf:someone/missing")
    # other column names, given as options; a question given for every image
    tb = pa.table({"img": pa.array([{"bytes": fx.png(c, i), "path": None} for i, c in enumerate(["red", "blue"] * 3)],
                                   fx.IMAGE_TYPE), "colour": ["red", "blue"] * 3})
    (tmp_path / "own").mkdir()
    pq.write_table(tb, tmp_path / "own" / "x.parquet")
    with pytest.raises(BenchmarkError, match="no label column"):
        load_benchmark(f"hf:{tmp_path / 'own'}")
    with pytest.raises(BenchmarkError, match="no question column"):
        load_benchmark(f"hf:{tmp_path / 'own'};label=colour")
    t = load_benchmark(f"hf:{tmp_path / 'own'};label=colour", question="What color is it?")
    assert t.labels == ("blue", "red") and t.examples[0].question == "What color is it?"


def test_describe_before_search(fixtures):
    root, args = fixtures
    d = describe(f"auto:{root / 'clevr'}")
    assert d["format"] == "clevr" and d["subsets"] == ["yesno", "color", "shape", "material", "size", "count"]
    assert d["subset"] == "yesno" and d["rows"] == 16 and d["read"] == 64 and d["labels"] == ["no", "yes"]
    d = describe(args["aokvqa"])
    assert d["multiple_choice"] and d["rows"] == 24 and d["labels"] is None


def test_jsonscan(tmp_path):
    p = fx.write_clevr_questions(tmp_path / "q.json", 500)
    recs = list(iter_records(p, "questions", chunk=1000))
    assert len(recs) == 500 and recs[499]["question_index"] == 499
    p.write_text(p.read_text()[:-3])
    with pytest.raises(JsonScanError, match="q.json"):
        list(iter_records(p, "questions", chunk=1000))
    (tmp_path / "n.json").write_text('{"info": {}}')
    with pytest.raises(JsonScanError, match="no a 'questions' array|no .*questions"):
        list(iter_records(tmp_path / "n.json", "questions"))


def test_dataset_id_in_the_datasets_library_cache(fixtures, tmp_path, monkeypatch):
    """``datasets``' own cache: <owner>___<name>/<config>/<version>/<hash>/<builder>-<split>[-shard].arrow."""
    root, _ = fixtures
    d = tmp_path / "ds" / "someone___colours" / "default" / "0.0.0" / "abc123"
    d.mkdir(parents=True)
    arrow = root / "hf-disk" / "data-00000-of-00001.arrow"
    shutil.copy(arrow, d / "colours-validation.arrow")
    shutil.copy(arrow, d / "colours-train-00000-of-00002.arrow")
    shutil.copy(arrow, d / "colours-train-00001-of-00002.arrow")
    (d / "dataset_info.json").write_text(json.dumps({"builder_name": "colours", "features": {}}))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "ds"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert len(load_benchmark("hf:someone/colours", n=100)) == 24  # validation preferred
    t = load_benchmark("hf:someone/colours:train", n=100)
    assert len(t) == 48 and t.labels == ("blue", "green", "red")  # two shards; ClassLabel names from the schema


def test_official_pope_files_and_aokvqa_parquet(tmp_path):
    root = fx.write_pope_official(tmp_path / "POPE")
    assert detect(str(root))[0] == "pope"
    t = load_benchmark(f"pope:{root}:adversarial", n=100)
    assert len(t) == 8 and t.labels == ("no", "yes") and all(str(e.image).endswith(".jpg") for e in t.examples)
    assert len(load_benchmark(f"auto:{root}", n=100)) == 24
    ao = fx.write_aokvqa_parquet(tmp_path / "A-OKVQA")
    assert detect(str(ao))[0] == "aokvqa"
    t = load_benchmark(f"aokvqa:{ao}", n=100)
    assert len(t) == 12 and isinstance(t.examples[0].image, Image.Image)
    for ex in t.examples:
        assert ex.question.splitlines()[1 + "ABCD".index(ex.label)] == f"{ex.label}. {ex.meta['answer']}"


def test_cli_options_become_task_options():
    from sn_core.cli.common import CliError, _columns
    from sn_core.data.benchmarks import with_options

    assert _columns("image=img, label=answer") == {"image": "img", "label": "answer"}
    with pytest.raises(CliError, match="bad --columns entry 'colour'"):
        _columns("colour")
    assert with_options("/d/x", images="/c", skip_missing_images=True, columns={"label": "y"}) == \
        "auto:/d/x;images=/c;skip-missing-images;label=y"
    assert with_options("aokvqa:/d/a", images="/c") == "aokvqa:/d/a;images=/c"
    assert with_options("shapes-color") == "shapes-color"


def test_save_to_disk_dataset_dict(tmp_path):
    """``DatasetDict.save_to_disk``: ``dataset_dict.json`` and one ``save_to_disk`` folder per split."""
    root = tmp_path / "dd"
    fx.write_hf_save_to_disk(root / "validation", n=12)
    fx.write_hf_save_to_disk(root / "train", n=18)
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation"]}))
    assert detect(str(root))[0] == "hf"
    assert len(load_benchmark(f"hf:{root}", n=100)) == 12  # validation preferred
    assert len(load_benchmark(f"hf:{root}:train", n=100)) == 18
    assert len(load_benchmark(f"auto:{root};split=train", n=100)) == 18
