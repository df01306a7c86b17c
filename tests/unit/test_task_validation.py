"""User tasks that look valid but are not: blank labels and questions, a NUL byte in an image path, image-folder
symlinks leaving the folder, questions over the length cap, labels differing only in case, and the unit of size
messages.

- A label or question of only spaces is refused (it became a class named '' / an empty prompt), in JSONL, CSV
  and image folders (a class folder named with spaces).
- An image path with a NUL byte is a ``ManifestError`` naming the file and row (was "embedded null byte").
- An image-folder task refuses an image or class folder that is a symlink resolving outside the folder, as
  manifests do; symlinks inside the folder still work.
- A question over ``MAX_QUESTION_CHARS`` (1,000) characters is refused, as in the playground.
- Labels the base-model answer matcher cannot tell apart ("Red" / "red", "light-blue" / "light blue") are
  refused, naming both, for JSONL, CSV, image folders and a given label set.
- Size messages count MB as 2**20 bytes, as ``server.maxUploadSize`` does: the image limit reads "20 MB".
"""
from __future__ import annotations

import json

import pytest
from PIL import Image

from sn_core.data import ManifestError, load_image_folder, load_manifest
from sn_core.data.manifest import MAX_QUESTION_CHARS
from sn_core.data.images import MAX_BYTES, ImageError, load_image

pytestmark = pytest.mark.reliability


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "task"
    root.mkdir()
    for name, color in [("a.png", "red"), ("b.png", "blue"), ("c.png", "red"), ("d.png", "blue")]:
        Image.new("RGB", (8, 8), color).save(root / name)
    return root


def _jsonl(folder, rows, name="m.jsonl"):
    path = folder / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _rows(**override):
    rows = [{"image": f, "question": "Colour?", "label": lab} for f, lab in
            [("a.png", "red"), ("b.png", "blue"), ("c.png", "red"), ("d.png", "blue")]]
    for k, v in override.items():
        rows[1][k] = v
    return rows


def _csv(folder, rows, name="m.csv"):
    import csv

    path = folder / name
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["image", "question", "label"])
        w.writeheader()
        w.writerows(rows)
    return path


# ------------------------------------------------------------------------------------- blank label / question
@pytest.mark.parametrize("field", ["label", "question"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_reliability_blank_label_or_question_is_refused(folder, field, fmt):
    rows = _rows(**{field: "   "})
    path = _jsonl(folder, rows) if fmt == "jsonl" else _csv(folder, rows)
    with pytest.raises(ManifestError, match=rf"{path.name} row 2: .*{field}.* blank"):
        load_manifest(path)


def test_reliability_blank_class_folder_is_refused(tmp_path):
    for cls in ("red", "   "):
        (tmp_path / "f" / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8), "red").save(tmp_path / "f" / cls / f"{i}.png")
    with pytest.raises(ManifestError, match="blank"):
        load_image_folder(tmp_path / "f", "Colour?")


# --------------------------------------------------------------------------------------------- NUL byte
@pytest.mark.security
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_security_nul_byte_in_image_path_names_file_and_row(folder, fmt):
    rows = _rows(image="b\x00.png")
    path = _jsonl(folder, rows) if fmt == "jsonl" else _csv(folder, rows)
    with pytest.raises(ManifestError, match=rf"{path.name} row 2: image path .* NUL byte"):
        load_manifest(path)


# ------------------------------------------------------------------------------------- image-folder symlinks
def _class_folders(root, classes=("red", "blue"), n=2):
    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (8, 8), cls if cls in ("red", "blue") else "green").save(root / cls / f"{i}.png")
    return root


@pytest.mark.security
def test_security_image_folder_refuses_symlinks_leaving_it(tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    Image.new("RGB", (8, 8), "white").save(outside / "private.png")

    root = _class_folders(tmp_path / "f1")
    (root / "red" / "link.png").symlink_to(outside / "private.png")
    with pytest.raises(ManifestError, match=r"link\.png.* points outside the image folder"):
        load_image_folder(root, "Colour?")

    root = _class_folders(tmp_path / "f2")
    (root / "white").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ManifestError, match=r"'white'.* points outside the image folder"):
        load_image_folder(root, "Colour?")

    # A symlink that stays inside the folder is fine.
    root = _class_folders(tmp_path / "f3")
    (root / "red" / "again.png").symlink_to(root / "blue" / "0.png")
    task = load_image_folder(root, "Colour?")
    assert len(task) == 5


# ------------------------------------------------------------------------------------------- question cap
def test_reliability_question_over_the_cap_is_refused(folder, tmp_path):
    long_q = "why " * (MAX_QUESTION_CHARS // 4 + 1)
    with pytest.raises(ManifestError, match=rf"m.jsonl row 2: question is {len(long_q.strip()):,} characters, more "
                                            rf"than {MAX_QUESTION_CHARS:,}"):
        load_manifest(_jsonl(folder, _rows(question=long_q)))
    assert len(load_manifest(_jsonl(folder, _rows(question="x" * MAX_QUESTION_CHARS), "ok.jsonl"))) == 4
    root = _class_folders(tmp_path / "f")
    with pytest.raises(ManifestError, match=rf"more than {MAX_QUESTION_CHARS:,}"):
        load_image_folder(root, long_q)


# --------------------------------------------------------------------------------- labels equal up to case
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("other", ["Red", "RED!", " red."])
def test_reliability_labels_differing_only_in_case_are_refused(folder, fmt, other):
    rows = _rows()
    rows[3]["label"] = other  # d.png: 'red' x2 and 'Red' -> two classes the answer matcher reads as one
    rows[3]["image"] = "d.png"
    path = _jsonl(folder, rows) if fmt == "jsonl" else _csv(folder, rows)
    with pytest.raises(ManifestError, match=r"labels '.*' and '.*' differ only in case or punctuation"):
        load_manifest(path)


def test_reliability_label_set_and_folders_differing_only_in_case_are_refused(folder, tmp_path):
    with pytest.raises(ManifestError, match=r"'Red' and 'red' differ only in case"):
        load_manifest(_jsonl(folder, _rows()), labels=["blue", "Red", "red"])
    root = _class_folders(tmp_path / "f", classes=("red", "Red", "blue"))
    with pytest.raises(ManifestError, match=r"'Red' and 'red' differ only in case"):
        load_image_folder(root, "Colour?")


# --------------------------------------------------------------------------------------------- size unit
def test_reliability_size_messages_use_the_documented_unit(tmp_path):
    assert MAX_BYTES == 20 * 2 ** 20  # Streamlit counts server.maxUploadSize = 20 in units of 2**20 bytes
    path = tmp_path / "big.png"
    with open(path, "wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    with pytest.raises(ImageError, match=r"big\.png: file is 20\.0 MB, more than the 20 MB limit"):
        load_image(path)
    with pytest.raises(ImageError, match=r"larger than the 20 MB limit"):
        load_image(b"\0" * (MAX_BYTES + 1), name="blob")
