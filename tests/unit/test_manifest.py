"""User data: JSONL/CSV manifests and image folders; every bad input is a clear error naming the row (reliability)."""
import json

import pytest
from PIL import Image

from sn_core.data import ManifestError, load_image_folder, load_manifest


@pytest.fixture
def images(tmp_path):
    for name, color in [("a.png", "red"), ("b.png", "blue"), ("c.png", "red"), ("d.png", "blue")]:
        Image.new("RGB", (8, 8), color).save(tmp_path / name)
    return tmp_path


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_jsonl_manifest_loads_relative_paths(images):
    rows = [{"image": f, "question": "Colour?", "label": l} for f, l in
            [("a.png", "red"), ("b.png", "blue"), ("c.png", "red"), ("d.png", "blue")]]
    task = load_manifest(_jsonl(images / "m.jsonl", rows))
    assert task.labels == ("blue", "red") and len(task) == 4
    assert task.examples[0].image == str((images / "a.png").resolve())


def test_csv_manifest_loads(images):
    (images / "m.csv").write_text("image,question,label\na.png,Colour?,red\nb.png,Colour?,blue\n")
    assert load_manifest(images / "m.csv").y == ["red", "blue"]


def test_spreadsheet_exports_load(images):
    """Excel's "CSV UTF-8" starts with a byte-order mark and headers come capitalised or padded; a JSONL saved by
    some editors has a BOM too. All load; a header that really lacks a field names the columns it found."""
    (images / "excel.csv").write_bytes(b"\xef\xbb\xbfImage, Question ,LABEL\na.png,\"Colour, please?\",red\n"
                                       b"b.png,\"Colour, please?\",blue\n")
    task = load_manifest(images / "excel.csv")
    assert task.y == ["red", "blue"] and task.examples[0].question == "Colour, please?"
    (images / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"image": "a.png", "question": "Q?",
                                                                      "label": "red"}).encode()
                                       + b"\n" + json.dumps({"image": "b.png", "question": "Q?",
                                                              "label": "blue"}).encode())
    assert len(load_manifest(images / "bom.jsonl")) == 2
    (images / "bad.csv").write_text("picture,question,label\na.png,Q?,red\n")
    with pytest.raises(ManifestError, match="missing field.*image.*found 'picture', 'question', 'label'"):
        load_manifest(images / "bad.csv")


@pytest.mark.parametrize("row,match", [
    ({"image": "a.png", "question": "Q?"}, "row 2: missing field.*label"),
    ({"image": "zzz.png", "question": "Q?", "label": "red"}, "row 2: image file 'zzz.png' not found"),
    ({"image": "../escape.png", "question": "Q?", "label": "red"}, "row 2: image path '../escape.png' points outside"),
    ({"image": "a.png", "question": "Colour?", "label": "red"}, "row 2: duplicate of row 1"),
])
def test_reliability_bad_rows_are_named(images, row, match):
    (images.parent / "escape.png").write_bytes((images / "a.png").read_bytes())
    path = _jsonl(images / "m.jsonl", [{"image": "a.png", "question": "Colour?", "label": "red"}, row])
    with pytest.raises(ManifestError, match=match):
        load_manifest(path)


def test_reliability_label_outside_label_set(images):
    path = _jsonl(images / "m.jsonl", [{"image": "a.png", "question": "Q?", "label": "green"}])
    with pytest.raises(ManifestError, match="row 1: label 'green' is not in the label set"):
        load_manifest(path, labels=["red", "blue"])


def test_reliability_single_class_and_bad_json(images):
    path = _jsonl(images / "m.jsonl", [{"image": "a.png", "question": "Q?", "label": "red"},
                                       {"image": "c.png", "question": "Q?", "label": "red"}])
    with pytest.raises(ManifestError, match="at least two classes"):
        load_manifest(path)
    (images / "bad.jsonl").write_text('{"image": "a.png",\n')
    with pytest.raises(ManifestError, match="row 1: not valid JSON"):
        load_manifest(images / "bad.jsonl")
    (images / "m.txt").write_text("x")
    with pytest.raises(ManifestError, match="unsupported manifest type"):
        load_manifest(images / "m.txt")


def test_security_outside_paths_allowed_only_when_asked(images):
    (images.parent / "escape.png").write_bytes((images / "a.png").read_bytes())
    path = _jsonl(images / "m.jsonl", [{"image": "../escape.png", "question": "Q?", "label": "red"},
                                       {"image": "b.png", "question": "Q?", "label": "blue"}])
    assert len(load_manifest(path, allow_outside=True)) == 2


def test_image_folder(images):
    root = images / "folder"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8)).save(root / cls / f"{i}.png")
    (root / "dog" / "notes.txt").write_text("ignored")
    for hidden in (".ipynb_checkpoints", "__MACOSX"):  # editor / archive debris is not a class
        (root / hidden).mkdir()
        Image.new("RGB", (8, 8)).save(root / hidden / "0.png")
    task = load_image_folder(root, "Which animal?")
    assert task.labels == ("cat", "dog") and len(task) == 4
    with pytest.raises(ManifestError, match="at least two classes"):
        load_image_folder(root / "cat", "Q?")
