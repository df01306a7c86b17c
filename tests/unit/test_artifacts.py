"""Classifier artifacts that are malformed or not tied to weights: refused with one ``ArtifactError`` line.

- An artifact of model neurons without a weights hash (key removed, null or "") is refused by
  ``SuperNeuronClassifier.from_json`` and by ``python -m sn_core predict`` (exit 2), before any model is loaded;
  writing such an artifact is refused too, so every saved one can be read back.
- Numbers JSON can hold but the classifier cannot use (integers beyond int64, ``1e400`` read as infinity, huge
  polarities or labels), a file of 200,000 nested brackets, and an oversized file are one ``ArtifactError``
  naming the file and field, and one ``error:`` line with exit code 2 from the CLI (no OverflowError /
  RecursionError traceback).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from sn_core.classifier.estimator import MAX_ARTIFACT_BYTES, ArtifactError, SuperNeuronClassifier
from sn_core.cli.main import main
from sn_core.data import get_task

pytestmark = pytest.mark.reliability

NID = "blocks.1.mlp.hook_post[3]"
HASH = "ab" * 32


def _doc(rule: str = "stump") -> dict:
    y = ["a", "b", "a", "b"] if rule == "stump" else ["a", "b", "c", "a", "b", "c"]
    X = np.arange(len(y), dtype=float)[:, None]
    clf = SuperNeuronClassifier(neurons=(NID,), rule=rule).fit(X, y)
    return clf.to_dict(model_id="demo", weights_hash=HASH, instruction="Answer with one word.")


@pytest.fixture()
def image(tmp_path):
    path = tmp_path / "x.png"
    get_task("shapes-color", 1).examples[0].image.save(path)
    return path


def _predict(capsys, clf_path, image, *extra):
    rc = main(["predict", "--classifier", str(clf_path), "--image", str(image), "--question", "What colour?",
               *extra])
    out, err = capsys.readouterr()
    return rc, out, [ln for ln in err.splitlines() if ln.strip()]


# ------------------------------------------------------------------------------------------- weights hash
@pytest.mark.parametrize("how", ["removed", "null", "empty"])
def test_reliability_artifact_without_weights_hash_is_refused(tmp_path, image, capsys, how):
    doc = _doc()
    if how == "removed":
        del doc["weights_hash"]
    else:
        doc["weights_hash"] = None if how == "null" else ""
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match=r"c\.json: .*no weights_hash"):
        SuperNeuronClassifier.from_json(path)
    # The CLI refuses it before loading any model, whatever --model says (it ran on other weights before).
    rc, out, lines = _predict(capsys, path, image, "--model", "demo")
    assert rc == 2 and out == "" and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "no weights_hash" in lines[0] and "c.json" in lines[0]


def test_reliability_saving_model_neurons_without_weights_hash_is_refused(tmp_path):
    clf = SuperNeuronClassifier(neurons=(NID,)).fit(np.arange(4.0)[:, None], ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="weights_hash"):
        clf.to_json(tmp_path / "c.json", model_id="demo")
    assert not (tmp_path / "c.json").exists()
    # Anonymous columns (a plain numeric classifier, not tied to a model) still round-trip without one.
    anon = SuperNeuronClassifier().fit(np.arange(4.0)[:, None], ["a", "b", "a", "b"])
    back = SuperNeuronClassifier.from_json(anon.to_json(tmp_path / "anon.json"))
    assert back.neurons is None and back.meta_["weights_hash"] is None


# ---------------------------------------------------------------------------------------- malformed fields
def _replace(text: str, old: str, new: str) -> str:
    assert old in text, (old, text[:400])
    return text.replace(old, new, 1)


def _stump_text() -> str:
    doc = _doc()
    doc["neurons"][0]["threshold"] = 1.5
    doc["neurons"][0]["probe_score"] = 0.75
    doc["neurons"][0]["class_means"] = [0.5, 2.5]
    return json.dumps(doc)


MALFORMED = {
    # name: (artifact text, what the message names)
    "class_counts beyond int64": (lambda: _replace(_stump_text(), '"class_counts": [2, 2]',
                                                   '"class_counts": [1000000000000000000000000000000, 4]'),
                                  "class_counts"),
    "class_counts as 1e30": (lambda: _replace(_stump_text(), '"class_counts": [2, 2]', '"class_counts": [1e30, 4]'),
                             "class_counts"),
    "threshold 1e400 (infinity)": (lambda: _replace(_stump_text(), '"threshold": 1.5', '"threshold": 1e400'),
                                   "threshold"),
    "threshold -1e400": (lambda: _replace(_stump_text(), '"threshold": 1.5', '"threshold": -1e400'), "threshold"),
    "threshold 10**400": (lambda: _replace(_stump_text(), '"threshold": 1.5', '"threshold": 1' + "0" * 400),
                          "threshold"),
    "probe_score 1e400": (lambda: _replace(_stump_text(), '"probe_score": 0.75', '"probe_score": 1e400'),
                          "probe_score"),
    "probe_score 10**30": (lambda: _replace(_stump_text(), '"probe_score": 0.75', '"probe_score": 1' + "0" * 30),
                           "probe_score"),
    "class mean 1e999": (lambda: _replace(_stump_text(), '"class_means": [0.5, 2.5]', '"class_means": [0.5, 1e999]'),
                         "class_means"),
    "polarity 10**30": (lambda: json.dumps({**_doc("nearest_mean"), "neurons": [
        {**_doc("nearest_mean")["neurons"][0], "polarity": 10 ** 30}]}), "polarity"),
    "ovr threshold 1e400": (lambda: _replace(json.dumps(_ovr_doc()), '"ovr_threshold": [0.5,', '"ovr_threshold": [1e400,'),
                            "ovr_threshold"),
    "integer labels beyond int64": (lambda: json.dumps({**_doc(), "labels": [1, 10 ** 30]}), "labels"),
    "neuron index beyond any model": (lambda: json.dumps(_big_index_doc()), "neurons[0]"),
    "200,000 nested brackets": (lambda: "[" * 200_000 + "]" * 200_000, "nested"),
    "200,000 nested objects": (lambda: '{"a":' * 200_000 + "1" + "}" * 200_000, "nested"),
}


def _ovr_doc() -> dict:
    doc = _doc("ovr_stump")
    doc["neurons"][0]["ovr_threshold"] = [0.5, 1.5, 2.5]
    return doc


def _big_index_doc() -> dict:
    doc = _doc()
    big = 10 ** 30
    doc["neurons"][0].update(id=f"blocks.1.mlp.hook_post[{big}]", index=big)
    return doc


@pytest.mark.parametrize("name", list(MALFORMED))
def test_reliability_malformed_artifact_is_one_clean_error(tmp_path, image, capsys, name):
    make, names = MALFORMED[name]
    path = tmp_path / "bad.json"
    path.write_text(make())
    with pytest.raises(ArtifactError, match="bad.json") as info:
        SuperNeuronClassifier.from_json(path)
    assert names in str(info.value) and "\n" not in str(info.value)
    assert len(str(info.value)) < 600  # one readable line, not the whole document echoed back
    rc, out, lines = _predict(capsys, path, image)
    assert rc == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: "), lines


def test_reliability_oversized_artifact_is_refused_unread(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:  # sparse: no disk space used
        fh.truncate(MAX_ARTIFACT_BYTES + 1)
    with pytest.raises(ArtifactError, match=r"huge\.json: .*MB, more than the .* MB"):
        SuperNeuronClassifier.from_json(path)


def test_reliability_well_formed_artifact_still_loads(tmp_path):
    for rule in ("stump", "nearest_mean", "ovr_stump"):
        doc = _doc(rule)
        path = tmp_path / f"{rule}.json"
        path.write_text(json.dumps(doc))
        back = SuperNeuronClassifier.from_json(path, expect_weights_hash=HASH)
        assert back.to_dict() == doc
