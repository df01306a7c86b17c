"""``SuperNeuronClassifier``: fit/predict/score, the top-k vote and its ties, the JSON artifact and its errors,
and scikit-learn's estimator checks."""
import json

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sn_core.classifier.estimator import ARTIFACT_VERSION, ArtifactError, SuperNeuronClassifier

IDS = ("blocks.3.mlp.hook_post[17]", "blocks.1.hook_resid_post[2]", "blocks.5.attn.hook_z[40]")


def binary_data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.5, "yes", "no")
    X = rng.normal(size=(n, 3))
    X[:, 0] += 3 * (y == "yes")  # a strong neuron
    X[:, 1] -= 1 * (y == "yes")  # a weaker one, reversed polarity
    return X, y


def test_fit_predict_score_binary():
    X, y = binary_data()
    clf = SuperNeuronClassifier(neurons=IDS).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"] and clf.rule_ == "stump"
    assert clf.polarity_[0] == 1 and clf.polarity_[1] == -1
    assert clf.exit_layer_ == 5 and clf.n_features_in_ == 3
    assert clf.scores_[0] == max(clf.scores_) and clf.scores_[0] >= 0.85
    votes = clf.neuron_predictions(X)  # [n, 3]: each neuron's own label
    majority = np.where((votes == "yes").sum(axis=1) >= 2, "yes", "no")
    np.testing.assert_array_equal(clf.predict(X), majority)
    assert clf.score(X, y) == np.mean(majority == y)
    single = SuperNeuronClassifier(neurons=IDS[:1]).fit(X[:, :1], y)
    assert single.exit_layer_ == 3
    pred = single.predict(X[:, :1])
    expect = np.where((X[:, 0] > single.threshold_[0]), "yes", "no")
    np.testing.assert_array_equal(pred, expect)
    margins = single.decision_values(X[:, :1])
    np.testing.assert_array_equal(margins[:, 0] > 0, pred == "yes")


def test_multiclass_nearest_mean_and_ovr():
    rng = np.random.default_rng(1)
    y = rng.choice(["red", "green", "blue"], 90)
    code = {"red": 0, "green": 5, "blue": 10}
    X = np.array([[code[v] + rng.normal()] for v in y])
    clf = SuperNeuronClassifier(neurons=IDS[:1]).fit(X, y)
    assert clf.rule_ == "nearest_mean" and clf.score(X, y) > 0.95
    np.testing.assert_allclose(clf.class_means_[:, 0], [10, 5, 0], atol=0.5)  # classes_ sorted: blue green red
    assert clf.decision_values(X).shape == (90, 1, 3)
    ovr = SuperNeuronClassifier(rule="ovr_stump").fit(X, y)
    assert ovr.ovr_threshold_.shape == (3, 1) and ovr.score(X, y) > 0.6
    with pytest.raises(ValueError, match="'stump' needs exactly 2 classes"):
        SuperNeuronClassifier(rule="stump").fit(X, y)


def test_vote_majority_and_ties_to_first_column():
    # three neurons with fixed stumps at 0 (polarity +1): each votes "b" when its value > 0
    y = np.array(["a", "b"] * 4)
    Xfit = np.where(y == "b", 1.0, -1.0)[:, None].repeat(3, axis=1)
    clf = SuperNeuronClassifier(neurons=IDS).fit(Xfit, y)
    np.testing.assert_array_equal(clf.threshold_, [0, 0, 0])
    X = np.array([[1, 1, -1], [-1, 1, 1], [-1, -1, 1], [1, -1, -1]], float)
    np.testing.assert_array_equal(clf.predict(X), ["b", "b", "a", "a"])  # 2-1 majorities
    two = SuperNeuronClassifier(neurons=IDS[:2]).fit(Xfit[:, :2], y)
    np.testing.assert_array_equal(two.predict(np.array([[1, -1], [-1, 1]], float)), ["b", "a"])  # 1-1: first column
    np.testing.assert_array_equal(two.neuron_predictions(np.array([[1, -1]], float)), [["b", "a"]])


def test_vote_tie_multiclass_goes_to_best_ranked_vote():
    y = np.array([0, 1, 2] * 5)
    X = np.stack([y * 10.0, y * 10.0, y * 10.0, y * 10.0], 1)
    clf = SuperNeuronClassifier().fit(X, y)
    # votes 2, 1, 1, 2 -> tie between 2 and 1: the first column voted 2
    np.testing.assert_array_equal(clf.predict(np.array([[20.0, 10.0, 10.0, 20.0]])), [2])
    np.testing.assert_array_equal(clf.predict(np.array([[0.0, 10.0, 20.0, 30.0]])), [2])  # votes 0,1,2,2: 2 wins
    np.testing.assert_array_equal(clf.predict(np.array([[0.0, 10.0, 10.0, 0.0], [10.0, 0.0, 0.0, 10.0]])),
                                  [0, 1])  # 2-2 ties: the first column's class


def test_nan_input_predicts_majority_class():
    y = np.array(["x", "x", "x", "z", "z"])
    X = np.array([[0.0], [0.1], [0.2], [5.0], [6.0]])
    clf = SuperNeuronClassifier().fit(X, y)
    np.testing.assert_array_equal(clf.predict(np.array([[np.nan], [np.inf], [5.5]])), ["x", "x", "z"])


@pytest.mark.parametrize("kwargs, X, y, match", [
    (dict(neurons=IDS[:2]), np.zeros((4, 3)), [0, 1, 0, 1], r"X has 3 columns but 2 neurons"),
    (dict(neurons=("blocks.3.mlp[1]",)), np.zeros((4, 1)), [0, 1, 0, 1], r"not a neuron id: 'blocks.3.mlp\[1\]'"),
    (dict(neurons=IDS[0]), np.zeros((4, 1)), [0, 1, 0, 1], r"single string"),
    (dict(neurons=(IDS[0], IDS[0])), np.zeros((4, 2)), [0, 1, 0, 1], r"duplicates"),
    (dict(rule="tree"), np.zeros((4, 1)), [0, 1, 0, 1], r"rule must be one of"),
    (dict(metric="f1"), np.zeros((4, 1)), [0, 1, 0, 1], r"metric must be one of"),
    (dict(), np.zeros((4, 1)), [1, 1, 1, 1], r"at least 2 classes in y, got 1 class"),
])
def test_fit_errors(kwargs, X, y, match):
    with pytest.raises(ValueError, match=match):
        SuperNeuronClassifier(**kwargs).fit(X, np.asarray(y))


def test_predict_before_fit_and_wrong_width():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SuperNeuronClassifier().predict(np.zeros((2, 1)))
    X, y = binary_data()
    clf = SuperNeuronClassifier().fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but SuperNeuronClassifier is expecting 3"):
        clf.predict(X[:, :2])


# ------------------------------------------------------------------------------------------------- artifact
META = dict(model_id="demo", weights_hash="abc123", task="shapes-color", prompt="<image> What colour?",
            instruction="Answer with one word.")


@pytest.mark.parametrize("rule", ["auto", "nearest_mean", "ovr_stump"])
def test_json_round_trip(tmp_path, rule):
    rng = np.random.default_rng(2)
    y = rng.choice(["blue", "green", "red"], 40) if rule != "auto" else binary_data()[1][:40]
    X = rng.normal(size=(40, 3)) + (y == y[0])[:, None]
    X[3, 1] = np.nan
    clf = SuperNeuronClassifier(neurons=IDS, rule=rule).fit(X, y)
    path = clf.to_json(tmp_path / "sn.json", **META, seed=7)
    doc = json.loads(path.read_text())
    assert doc["format_version"] == ARTIFACT_VERSION and doc["model_id"] == "demo" and doc["meta"] == {"seed": 7}
    assert doc["neurons"][0] == {**doc["neurons"][0], "id": IDS[0], "site": "blocks.3.mlp.hook_post", "layer": 3,
                                 "index": 17}
    back = SuperNeuronClassifier.from_json(path, expect_model_id="demo", expect_weights_hash="abc123")
    Xt = rng.normal(size=(25, 3))
    Xt[0, 0] = np.inf
    np.testing.assert_array_equal(back.predict(Xt), clf.predict(Xt))
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    assert back.exit_layer_ == 5 and back.neurons_ == IDS and back.meta_["instruction"] == META["instruction"]
    assert back.to_dict() == doc  # a second save is identical


def test_json_round_trip_integer_labels_anonymous(tmp_path):
    X, _ = binary_data()
    y = (X[:, 0] > 1).astype(int)
    clf = SuperNeuronClassifier().fit(X, y)
    back = SuperNeuronClassifier.from_json(clf.to_json(tmp_path / "a.json"))
    assert back.classes_.tolist() == [0, 1] and back.exit_layer_ is None and back.neurons is None
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))


@pytest.fixture
def artifact(tmp_path):
    X, y = binary_data()
    clf = SuperNeuronClassifier(neurons=IDS).fit(X, y)
    return clf.to_dict(**META)


def _write(tmp_path, doc):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def _set(doc, path, value):
    d = doc
    for k in path[:-1]:
        d = d[k]
    if value is KeyError:
        del d[path[-1]]
    else:
        d[path[-1]] = value
    return doc


@pytest.mark.parametrize("path, value, match", [
    (("format_version",), 2, r"unsupported format_version 2; this code reads version 1"),
    (("format_version",), "1", r"\['format_version'\] must be int, got str"),
    (("format",), "something-else", r"not a Super Neuron classifier artifact: format='something-else'"),
    (("rule",), KeyError, r"missing key 'rule' in artifact"),
    (("rule",), "tree", r"unknown rule 'tree'"),
    (("metric",), 3, r"\['metric'\] must be str, got int"),
    (("labels",), ["no"], r"at least 2 classes"),
    (("labels",), ["no", 1], r"all strings or all integers"),
    (("labels",), ["yes", "no"], r"labels must be sorted"),
    (("labels",), ["no", "no"], r"duplicates"),
    (("labels",), ["maybe", "no", "yes"], r"class_counts must be 3 non-negative integers"),
    (("class_counts",), [1, -1], r"class_counts must be 2 non-negative integers"),
    (("neurons",), [], r"lists no neurons"),
    (("neurons", 0, "threshold"), "0.5", r"\['threshold'\] must be a number or null, got str"),
    (("neurons", 0, "polarity"), 0, r"a stump needs a numeric threshold and polarity \+1/-1"),
    (("neurons", 0, "polarity"), True, r"\['polarity'\] must be int, got bool"),
    (("neurons", 0, "class_means"), [1.0], r"class_means'\] must hold 2 numbers/nulls"),
    (("neurons", 0, "id"), "blocks.3.mlp.hook_post", r"neurons\[0\]: not a neuron id"),
    (("neurons", 0, "layer"), 4, r"do not match id 'blocks.3.mlp.hook_post\[17\]'"),
    (("neurons", 1, "id"), "blocks.3.mlp.hook_post[17]", r"do not match id|duplicate neuron ids"),
    (("exit_layer",), 3, r"exit_layer 3 does not match the deepest neuron layer 5"),
    (("model_id",), 5, r"\['model_id'\] must be a string or null, got int"),
    (("meta",), [1], r"\['meta'\] must be an object"),
])
def test_load_errors(tmp_path, artifact, path, value, match):
    p = _write(tmp_path, _set(artifact, path, value))
    with pytest.raises(ArtifactError, match=match):
        SuperNeuronClassifier.from_json(p)


def test_load_errors_file_level(tmp_path, artifact):
    with pytest.raises(ArtifactError, match="classifier artifact not found"):
        SuperNeuronClassifier.from_json(tmp_path / "missing.json")
    with pytest.raises(ArtifactError, match="is not valid JSON"):
        SuperNeuronClassifier.from_json(_write(tmp_path, "{not json"))
    with pytest.raises(ArtifactError, match="is not valid JSON: non-standard JSON constant NaN"):
        SuperNeuronClassifier.from_json(_write(tmp_path, '{"format": NaN}'))
    with pytest.raises(ArtifactError, match="must be a JSON object, got list"):
        SuperNeuronClassifier.from_json(_write(tmp_path, "[1, 2]"))


def test_load_refuses_other_model(tmp_path, artifact):
    p = _write(tmp_path, artifact)
    with pytest.raises(ArtifactError, match=r"made for model_id='demo', but the loaded model has model_id='other'"):
        SuperNeuronClassifier.from_json(p, expect_model_id="other")
    with pytest.raises(ArtifactError, match=r"weights_hash='abc123', but the loaded model has weights_hash='f00'"):
        SuperNeuronClassifier.from_json(p, expect_model_id="demo", expect_weights_hash="f00")


# ---------------------------------------------------------------------------------------- scikit-learn checks
# check_classifiers_train demands > 0.83 training accuracy on 3 Gaussian blobs in 2 features (and on the binary
# subset). Each column here is its own 1-D classifier and the vote goes to the first column on ties, so with 2
# columns the ensemble is essentially the first feature's 1-D rule (0.71-0.78 on that data). That is the method,
# not a bug; every other applicable check must pass.
EXPECTED_FAILURES = {
    "check_classifiers_train": "a vote of 1-D per-column rules cannot separate 2-D blobs to 0.83 by design",
}


@parametrize_with_checks([SuperNeuronClassifier()], expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_to_json_meta_numpy_values_and_bad_values(tmp_path):
    X, y = binary_data()
    clf = SuperNeuronClassifier().fit(X, y)
    doc = json.loads(clf.to_json(tmp_path / "m.json", seed=np.int64(3), layers=np.arange(2)).read_text())
    assert doc["meta"] == {"seed": 3, "layers": [0, 1]}
    with pytest.raises(TypeError, match=r"meta.thing: cannot hash/serialise object"):
        clf.to_json(tmp_path / "n.json", thing=object())
    assert not (tmp_path / "n.json").exists()
    with pytest.raises(TypeError, match="model_id must be a string"):
        clf.to_json(tmp_path / "n.json", model_id=5)


@pytest.mark.parametrize("rule,n_classes", [("stump", 2), ("nearest_mean", 4), ("ovr_stump", 3)])
def test_unvalidated_vote_equals_predict(rule, n_classes):
    """``_vote`` (the early-exit fast path, no scikit-learn validation) gives ``predict``'s labels, NaN included."""
    rng = np.random.default_rng(0)
    y = np.array([f"c{i % n_classes}" for i in range(60)])
    X = rng.normal(size=(60, 3)) + (np.arange(60) % n_classes)[:, None]
    clf = SuperNeuronClassifier(neurons=("blocks.0.mlp.hook_post[1]", "blocks.1.mlp.hook_post[2]",
                                         "blocks.2.mlp.hook_post[3]"), rule=rule).fit(X, y)
    Xt = rng.normal(size=(40, 3)) * 2
    Xt[3, 1] = np.nan
    Xt[5, :] = np.nan
    np.testing.assert_array_equal(clf._vote(Xt), clf.predict(Xt))
