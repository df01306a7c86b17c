"""Property tests (hypothesis) of the parsers that read user files: any input gives a result or one clean error of
the parser's own class, never another exception, and nothing is written outside the test's temporary folder.

- JSONL and CSV manifests (``load_manifest``): a ``Task`` or a ``ManifestError``; a task that loads has non-blank,
  distinct labels and questions within the cap.
- Classifier artifacts (``SuperNeuronClassifier.from_json`` / ``from_dict``): arbitrary bytes, arbitrary JSON, and
  a valid artifact with one field replaced by an arbitrary value (huge integers, infinities, deep nesting, wrong
  types) give a classifier that predicts, or an ``ArtifactError``.

Writes are watched with a Python audit hook (``open`` for writing, ``os.mkdir``, ``os.rename``, ``os.remove``,
...): every path written while a parser runs must lie under the example's temporary folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sn_core.classifier.estimator import ArtifactError, SuperNeuronClassifier
from sn_core.data import ManifestError, load_manifest
from sn_core.data.manifest import MAX_QUESTION_CHARS
from sn_core.data.answers import normalise_answer

pytestmark = pytest.mark.security

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

# ------------------------------------------------------------------------------------------- write watch
_WATCH: dict = {"allowed": None, "bad": []}
_WRITE_EVENTS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.truncate",
                 "os.chmod", "shutil.rmtree", "shutil.copyfile", "shutil.move"}


def _audit(event, args):
    allowed = _WATCH["allowed"]
    if allowed is None:
        return
    paths = []
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None))[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if writing:
            paths.append(path)
    elif event in _WRITE_EVENTS:
        # (path, dir_fd) / (path, mode, dir_fd) / (src, dst, src_dir_fd, dst_dir_fd): a path relative to a folder
        # descriptor (shutil.rmtree works that way) is resolved through /proc
        fds = [a for a in args[1:] if isinstance(a, int) and not isinstance(a, bool) and a >= 0]
        if event in ("os.mkdir",):
            fds = [args[2]] if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0 else []
        base = os.readlink(f"/proc/self/fd/{fds[-1]}") if fds and os.path.exists(f"/proc/self/fd/{fds[-1]}") \
            else None
        for a in args[:2]:
            if isinstance(a, (str, bytes, os.PathLike)):
                a = os.fsdecode(a)
                paths.append(os.path.join(base, a) if base and not os.path.isabs(a) else a)
    for p in paths:
        if isinstance(p, int):  # a file descriptor: opened (and checked) earlier
            continue
        p = os.fsdecode(p) if isinstance(p, (bytes, os.PathLike)) else p
        full = os.path.realpath(p)
        if not full.startswith(allowed + os.sep) and full != allowed:
            _WATCH["bad"].append((event, p))


sys.addaudithook(_audit)


@contextlib.contextmanager
def _only_writes_under(folder: Path):
    _WATCH["allowed"], _WATCH["bad"] = os.path.realpath(folder), []
    try:
        yield
    finally:
        _WATCH["allowed"] = None
    assert not _WATCH["bad"], f"writes outside {folder}: {_WATCH['bad'][:5]}"


# --------------------------------------------------------------------------------------------- manifests
IMAGES = ("a.png", "b.png", "c.png", "d.png")
_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
_cell = st.one_of(st.sampled_from(IMAGES + ("../a.png", "/etc/passwd", "a\x00.png", "missing.png", "sub/../a.png")),
                  st.sampled_from(["red", "Red", "blue", " ", "", "red.", "What colour?"]), _text)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         _text)
_json = st.recursive(_json_scalar, lambda inner: st.lists(inner, max_size=3) |
                     st.dictionaries(_text, inner, max_size=3), max_leaves=8)
_likely_row = st.fixed_dictionaries({  # mostly well-formed rows, so that whole tasks load and get checked
    "image": st.sampled_from(IMAGES + ("a\x00.png", "../a.png")),
    "question": st.sampled_from(["What colour?", "Colour?", "   ", "x" * (MAX_QUESTION_CHARS + 1)]),
    "label": st.sampled_from(["red", "blue", "Red", "BLUE!", "   ", "green", 7])})
_row = st.fixed_dictionaries({}, optional={"image": st.one_of(_cell, _json), "question": st.one_of(_cell, _json),
                                           "label": st.one_of(_cell, _json), "extra": _json})


def _folder() -> tempfile.TemporaryDirectory:
    tmp = tempfile.TemporaryDirectory(prefix="sn-fuzz-")
    for name, color in zip(IMAGES, ("red", "blue", "red", "blue")):
        Image.new("RGB", (4, 4), color).save(Path(tmp.name) / name)
    return tmp


def _check_task(task) -> None:
    assert len({normalise_answer(lbl) for lbl in task.labels}) == len(task.labels)
    for ex in task.examples:
        assert ex.label.strip() and ex.question.strip() and len(ex.question) <= MAX_QUESTION_CHARS
        assert Path(ex.image).is_file()


def _parse_manifest(folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    path.write_bytes(data)
    with _only_writes_under(folder):
        try:
            task = load_manifest(path)
        except ManifestError as e:
            assert str(e) and "\n" not in str(e).strip()
            return
    _check_task(task)


@FUZZ
@given(rows=st.lists(st.one_of(_likely_row, _likely_row, _row, _json), max_size=8), junk=st.lists(_text, max_size=2))
def test_security_fuzz_jsonl_manifest(rows, junk):
    lines = [json.dumps(r) for r in rows] + junk
    with _folder() as tmp:
        _parse_manifest(Path(tmp), "m.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))


@FUZZ
@given(header=st.sampled_from(["image,question,label", "Image, Question ,LABEL", "image,label", "a,b,c", ""]),
       rows=st.lists(st.one_of(_likely_row.map(lambda r: [r["image"], r["question"], r["label"]]),
                               st.lists(_cell, min_size=0, max_size=4)), max_size=8),
       raw=st.binary(max_size=64))
def test_security_fuzz_csv_manifest(header, rows, raw):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    for r in rows:
        w.writerow(r)
    data = (header + "\n" + buf.getvalue()).encode("utf-8", "surrogatepass") + raw
    with _folder() as tmp:
        _parse_manifest(Path(tmp), "m.csv", data)


# -------------------------------------------------------------------------------------------- artifacts
def _valid_doc(rule: str) -> dict:
    y = list("abab") if rule == "stump" else list("abcabc")
    clf = SuperNeuronClassifier(neurons=("blocks.2.mlp.hook_post[5]", "blocks.0.hook_resid_post[1]"), rule=rule)
    X = np.stack([np.arange(len(y), dtype=float), np.arange(len(y), dtype=float)[::-1]], axis=1)
    return clf.fit(X, y).to_dict(model_id="demo", weights_hash="ab" * 32)


_VALID = {r: _valid_doc(r) for r in ("stump", "nearest_mean", "ovr_stump")}
_nasty = st.one_of(_json, st.integers(min_value=-(10 ** 40), max_value=10 ** 40),
                   st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308, -0.0, 10 ** 400, True, "",
                                    "   ", [], {}, [[[[[]]]]]]))


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _load_dict(doc) -> None:
    try:
        clf = SuperNeuronClassifier.from_dict(doc)
    except ArtifactError as e:
        assert str(e) and len(str(e)) < 2000
        return
    # A classifier that loads must work: predict and save again.
    X = np.zeros((3, clf.n_features_in_))
    assert len(clf.predict(X)) == 3
    clf.to_dict()


@FUZZ
@given(rule=st.sampled_from(sorted(_VALID)), data=st.data())
def test_security_fuzz_artifact_field_replaced(rule, data):
    import copy

    doc = copy.deepcopy(_VALID[rule])
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths))
    target = doc
    for k in path[:-1]:
        target = target[k]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(_nasty)
    _load_dict(doc)


@FUZZ
@given(doc=_json)
def test_security_fuzz_artifact_any_json(doc):
    _load_dict(doc)


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), _text.map(lambda t: t.encode("utf-8", "surrogatepass")),
                      st.integers(1, 300_000).map(lambda n: b"[" * n + b"]" * n),
                      st.integers(1, 300_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)))
def test_security_fuzz_artifact_file_bytes(data):
    with tempfile.TemporaryDirectory(prefix="sn-fuzz-") as tmp:
        path = Path(tmp) / "c.json"
        path.write_bytes(data)
        with _only_writes_under(Path(tmp)):
            try:
                SuperNeuronClassifier.from_json(path)
            except ArtifactError as e:
                assert "c.json" in str(e)


# ------------------------------------------------------------------------------------------------ ZIP uploads
_ZIP_NAMES = st.sampled_from(["task.jsonl", "a.png", "red/1.png", "blue/", "../escape.png", "/abs.png",
                              "a/../../up.png", "..", "./a.png", "\\win.png", "C:/drive.png", "dir/.sn-upload-complete",
                              ".sn-upload-complete", "__MACOSX/._a.png", "a" * 300 + ".png"])
_entry = st.tuples(st.one_of(_ZIP_NAMES, _text.filter(bool)), st.binary(max_size=40), st.booleans())


def _zip_bytes(entries, corrupt_at) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data, link in entries:
            info = zipfile.ZipInfo(name)
            if link:
                info.external_attr = (0o120777 << 16)  # a symbolic link entry
            try:
                zf.writestr(info, data)
            except (ValueError, UnicodeEncodeError):  # a name zipfile itself cannot write
                continue
    data = bytearray(buf.getvalue())
    if corrupt_at is not None and data:
        data[corrupt_at % len(data)] ^= 0x5A
    return bytes(data)


def _zip_empty_name() -> bytes:
    import struct

    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return central + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central), 0, 0)


def _zip_one(name: str, data: bytes, compression) -> bytearray:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        zf.writestr(name, data)
    return bytearray(buf.getvalue())


def _zip_long_name() -> bytes:
    import zipfile

    return bytes(_zip_one("a" * 300 + ".png", b"x", zipfile.ZIP_STORED))


def _zip_corrupt_deflate() -> bytes:
    import zipfile

    z = _zip_one("a.png", bytes(range(256)) * 8, zipfile.ZIP_DEFLATED)
    z[30 + len("a.png")] = 0xFF  # first byte of the deflate stream: an invalid block type
    return bytes(z)


def _zip_unknown_method() -> bytes:
    import zipfile

    z = _zip_one("a.png", b"x", zipfile.ZIP_STORED)
    z[8:10] = (99).to_bytes(2, "little")  # local header: compression method 99
    c = z.index(b"PK\x01\x02")
    z[c + 10:c + 12] = (99).to_bytes(2, "little")  # central directory too
    return bytes(z)


# Malformed ZIPs the fuzz found (they escaped as IndexError / OSError / zlib.error / NotImplementedError before
# sn_core/data/uploads.py checked entry names and converted extraction errors): one ValueError each.
@pytest.mark.parametrize("make", [_zip_empty_name, _zip_long_name, _zip_corrupt_deflate, _zip_unknown_method],
                         ids=["empty-entry-name", "name-too-long", "corrupt-deflate-data", "unknown-compression"])
def test_security_malformed_zip_upload_is_a_clean_error(tmp_path, make):
    import zipfile

    from sn_core.data.uploads import save_task_upload

    try:
        save_task_upload([("task.zip", make())], root=tmp_path / "cache")
    except (ValueError, zipfile.BadZipFile):
        return
    pytest.fail("the ZIP was accepted")


@FUZZ
@given(payload=st.one_of(st.binary(max_size=200),
                         st.builds(_zip_bytes, st.lists(_entry, max_size=5), st.none() | st.integers(0, 10_000))))
def test_security_fuzz_zip_upload(payload):
    import zipfile

    from sn_core.data.uploads import COMPLETE_MARKER, save_task_upload

    with tempfile.TemporaryDirectory(prefix="sn-fuzz-") as tmp:
        cache = Path(tmp) / "cache"
        with _only_writes_under(cache):
            try:
                folder = save_task_upload([("task.zip", payload)], root=cache)
            except (ValueError, zipfile.BadZipFile) as e:
                assert str(e)
                folder = None
        uploads = cache / "uploads"
        leftovers = [p.name for p in uploads.iterdir() if p.name.endswith((".tmp", ".stale"))] \
            if uploads.is_dir() else []
        assert not leftovers, leftovers
        if folder is not None:
            assert (folder / COMPLETE_MARKER).is_file()
            for p in folder.rglob("*"):
                assert not p.is_symlink() and p.resolve().is_relative_to(folder.resolve()), p
