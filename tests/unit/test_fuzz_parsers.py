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

from sn_core.classifier import ArtifactError, SuperNeuronClassifier
from sn_core.data import ManifestError, load_manifest
from sn_core.data.manifest import MAX_QUESTION_CHARS
from sn_core.prompts import normalise_answer

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
        paths += [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
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
