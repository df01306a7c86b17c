"""``sn_core.scoring.neuron_scores`` against hand-known answers and the brute-force reference (test_scoring_reference.py)."""
import math

import numpy as np
import pytest

from sn_core.scoring.neuron_scores import (NeuronScores, null_control, predict_neurons, rank_neurons, resolve_rule,
                             score_neurons)
from test_scoring_reference import ref_score_neuron


def assert_matches_reference(X, y, n_classes, rule, metric, res=None, exact=False):
    """Every neuron: score, fitted parameters and predictions equal the brute-force reference. ``exact``: class
    means bit for bit too (for values whose sums are exact in any order; otherwise to 1e-12 relative)."""
    res = res if res is not None else score_neurons(X, y, n_classes, rule=rule, metric=metric)
    pred = predict_neurons(res, X)
    for j in range(X.shape[1]):
        s, params, ref_pred = ref_score_neuron(X[:, j].astype(np.float64), y, n_classes, rule, metric)
        if metric == "balanced_accuracy" and res.rule != "stump":
            assert res.scores[j] == pytest.approx(float(s), abs=1e-12), j
        else:
            assert res.scores[j] == float(s), (j, res.scores[j], s)
        if res.rule == "stump":
            assert (res.threshold[j], int(res.polarity[j])) == (params["threshold"], params["polarity"]), j
        if res.rule == "ovr_stump":
            np.testing.assert_array_equal(res.ovr_threshold[:, j], params["ovr_threshold"])
            np.testing.assert_array_equal(res.ovr_polarity[:, j], params["ovr_polarity"])
        if res.rule == "nearest_mean":
            if exact:
                np.testing.assert_array_equal(res.class_means[:, j], params["class_means"], err_msg=f"neuron {j}")
            else:
                np.testing.assert_allclose(res.class_means[:, j], params["class_means"], rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(pred[:, j], ref_pred, err_msg=f"neuron {j}")
    # the reported score is the score of the predictions on the same data
    hit = pred == y[:, None]
    if metric == "accuracy":
        np.testing.assert_allclose(res.scores, hit.mean(axis=0), rtol=0, atol=1e-15)
    return res


# ------------------------------------------------------------------------------------------ hand-known answers
def test_perfect_binary_neuron_and_polarity():
    y = np.array([0, 0, 0, 1, 1, 1])
    X = np.stack([np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]),       # up: class 1 high
                  np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]),       # down: class 1 low
                  np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])], 1)   # weak: x=0 holds labels 0,1,1
    res = score_neurons(X, y, 2)
    assert res.rule == "stump" and res.metric == "accuracy"
    np.testing.assert_array_equal(res.scores, [1.0, 1.0, 4 / 6])  # x=1 -> 0, x=0 -> 1: 4 of 6 right
    assert res.polarity[2] == -1 and res.threshold[2] == 0.5
    assert res.threshold[0] == pytest.approx(0.5) and res.polarity[0] == 1
    assert res.threshold[1] == pytest.approx(0.5) and res.polarity[1] == -1
    np.testing.assert_array_equal(predict_neurons(res, X)[:, :2], np.stack([y, y], 1))
    assert list(res.ranking(2)) == [0, 1]  # stable: equal scores keep the lower index first


def test_threshold_prefers_widest_gap_among_equal_scores():
    # class 0 at 0 and 1, class 1 at 10 and 11: any threshold in (1, 10) is perfect; only the midpoint 5.5 is offered
    y = np.array([0, 0, 1, 1])
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    assert score_neurons(X, y, 2).threshold[0] == 5.5
    # two perfect-accuracy-tying splits (3/4 each): gap 1 at 0.5 vs gap 4 at 7 -> 7
    X2 = np.array([[0.0], [1.0], [5.0], [9.0]])
    y2 = np.array([0, 1, 0, 1])
    res = score_neurons(X2, y2, 2)
    assert res.scores[0] == 0.75 and res.threshold[0] == 7.0 and res.polarity[0] == 1


def test_constant_neuron_scores_majority_rate():
    y = np.array([1, 1, 1, 0, 0])
    X = np.full((5, 3), 4.0, dtype=np.float32)
    for rule in ("stump", "nearest_mean", "ovr_stump"):
        res = score_neurons(X, y, 2, rule=rule)
        np.testing.assert_array_equal(res.scores, [0.6, 0.6, 0.6])
        assert (predict_neurons(res, X) == 1).all()
    res = score_neurons(X, y, 2, metric="balanced_accuracy")
    np.testing.assert_array_equal(res.scores, [0.5, 0.5, 0.5])


def test_nearest_mean_three_classes():
    y = np.array([0, 0, 1, 1, 2, 2])
    X = np.array([[0.0, 5.0], [1.0, 5.0], [4.0, 5.0], [5.0, 5.0], [9.0, 5.0], [10.0, 5.0]])
    res = score_neurons(X, y, 3)
    assert res.rule == "nearest_mean"
    np.testing.assert_allclose(res.class_means[:, 0], [0.5, 4.5, 9.5])
    assert res.scores[0] == 1.0
    assert res.scores[1] == pytest.approx(1 / 3)  # constant: equal counts -> class 0 everywhere
    np.testing.assert_array_equal(predict_neurons(res, np.array([[2.4], [2.6], [7.1], [-50]]), index=[0])[:, 0],
                                  [0, 1, 2, 0])


def test_nearest_mean_tie_goes_to_more_frequent_class():
    y = np.array([0, 1, 1])
    X = np.array([[0.0], [2.0], [2.0]])  # means 0 and 2: x = 1 is equidistant -> class 1 (2 samples)
    res = score_neurons(X, y, 2, rule="nearest_mean")
    assert predict_neurons(res, np.array([[1.0]]))[0, 0] == 1


def test_non_finite_values_predict_majority_class():
    y = np.array([0, 0, 1, 1, 1])
    X = np.array([[0.0], [np.nan], [5.0], [np.inf], [6.0]])
    res = score_neurons(X, y, 2)
    # finite: 0->0, 5->1, 6->1 all right; NaN (label 0) and inf (label 1) -> majority 1: one right
    assert res.scores[0] == 4 / 5
    np.testing.assert_array_equal(predict_neurons(res, X)[:, 0], [0, 1, 1, 1, 1])
    np.testing.assert_array_equal(predict_neurons(res, np.array([[-np.inf], [np.nan], [0.0]]))[:, 0], [1, 1, 0])
    all_nan = score_neurons(np.full((5, 1), np.nan), y, 2)
    assert all_nan.scores[0] == 0.6


@pytest.mark.parametrize("rule", ["stump", "nearest_mean", "ovr_stump"])
@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_binary_matches_reference_random(rule, metric, dtype):
    rng = np.random.default_rng(1)
    n, m = 40, 12
    y = (rng.random(n) < 0.35).astype(int)
    X = rng.normal(size=(n, m)) + y[:, None] * rng.normal(size=m)
    X[:, 3] = np.round(X[:, 3])  # many ties
    X[:, 4] = 2.0  # constant
    X[rng.random((n, m)) < 0.05] = np.nan
    X[0, 5], X[1, 5] = np.inf, -np.inf
    assert_matches_reference(X.astype(dtype), y, 2, rule, metric)


@pytest.mark.parametrize("rule", ["nearest_mean", "ovr_stump"])
@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy"])
def test_multiclass_matches_reference_random(rule, metric):
    rng = np.random.default_rng(2)
    n, m, k = 45, 10, 4
    y = rng.integers(0, k, n)
    X = (rng.normal(size=(n, m)) + y[:, None] * rng.normal(size=m)).astype(np.float32)
    X[:, 2] = np.round(X[:, 2])
    X[:, 3] = -1.0
    X[rng.random((n, m)) < 0.05] = np.nan
    assert_matches_reference(X, y, k, rule, metric)


def test_matches_sklearn_balanced_accuracy_and_stump_optimum():
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(3)
    n, m = 60, 20
    y = (rng.random(n) < 0.3).astype(int)
    X = (rng.normal(size=(n, m)) + y[:, None] * 1.5 * rng.random(m)).astype(np.float32)
    res = score_neurons(X, y, 2, metric="balanced_accuracy")
    pred = predict_neurons(res, X)
    for j in range(m):
        assert res.scores[j] == pytest.approx(balanced_accuracy_score(y, pred[:, j]), abs=1e-12)
    # accuracy optimum >= sklearn's depth-1 tree (which maximises a different criterion, Gini)
    acc = score_neurons(X, y, 2).scores
    for j in range(m):
        tree = DecisionTreeClassifier(max_depth=1).fit(X[:, [j]], y)
        assert acc[j] >= tree.score(X[:, [j]], y) - 1e-12


def test_chunking_and_threads_do_not_change_results():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 50)
    X = rng.normal(size=(50, 37)).astype(np.float32)
    X[:, 5] = np.round(X[:, 5])
    full = score_neurons(X, y, 2, n_jobs=1)
    for chunk, jobs in [(1, 1), (5, 3), (36, 2)]:
        part = score_neurons(X, y, 2, chunk_size=chunk, n_jobs=jobs)
        np.testing.assert_array_equal(part.scores, full.scores)
        np.testing.assert_array_equal(part.threshold, full.threshold)
        np.testing.assert_array_equal(part.polarity, full.polarity)


def test_fast_float32_path_equals_float64_path():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 64)
    X = rng.normal(size=(64, 30)).astype(np.float32)
    X[:, :10] = np.round(X[:, :10] * 2) / 2
    X[:, 0] = -0.0
    X[1, 0] = 0.0
    for rule in ("nearest_mean", "ovr_stump"):
        a = score_neurons(X, y, 3, rule=rule)
        b = score_neurons(X.astype(np.float64), y, 3, rule=rule)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.ovr_threshold if rule == "ovr_stump" else a.class_means,
                                      b.ovr_threshold if rule == "ovr_stump" else b.class_means)


def test_subset_and_index_predict():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 30)
    X = rng.normal(size=(30, 8))
    res = score_neurons(X, y, 2)
    idx = [5, 2]
    np.testing.assert_array_equal(predict_neurons(res, X[:, idx], index=idx), predict_neurons(res, X)[:, idx])
    sub = res.subset(idx)
    assert sub.n_neurons == 2 and sub.scores[0] == res.scores[5]
    with pytest.raises(ValueError, match="3 columns but 2 neurons"):
        predict_neurons(res, X[:, :3], index=idx)
    with pytest.raises(IndexError, match="out of range for 8 neurons"):
        res.subset([8])


def test_rank_neurons_stable():
    np.testing.assert_array_equal(rank_neurons(np.array([0.5, 0.9, 0.9, 0.1]), 3), [1, 2, 0])


def test_null_control_is_near_chance_on_noise_and_seeded():
    rng = np.random.default_rng(7)
    y = np.repeat([0, 1], 20)
    X = rng.normal(size=(40, 50))
    X[:, 0] = y  # a perfect neuron on the real labels
    assert score_neurons(X, y, 2).scores.max() == 1.0
    a = null_control(X, y, 2, seed=1)
    assert a == null_control(X, y, 2, seed=1)
    assert 0.5 <= a < 0.95  # best of 50 noise neurons on shuffled labels: above chance, below perfect


def test_zero_neurons_and_one_sample():
    res = score_neurons(np.zeros((4, 0)), np.array([0, 1, 0, 1]), 2)
    assert res.scores.shape == (0,) and res.class_means.shape == (2, 0)
    res = score_neurons(np.array([[3.0, np.nan]]), np.array([1]), 2)
    np.testing.assert_array_equal(res.scores, [1.0, 1.0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(X=np.zeros(5), y=np.zeros(5, int), n_classes=2), r"X must be 2-D"),
    (dict(X=np.zeros((5, 2)), y=np.zeros(4, int), n_classes=2), r"one label per row of X \(5\)"),
    (dict(X=np.zeros((2, 2)), y=np.array([0, 2]), n_classes=2), r"class code 2, outside 0..1"),
    (dict(X=np.zeros((2, 2)), y=np.array(["a", "b"]), n_classes=2), r"integer class codes"),
    (dict(X=np.zeros((2, 2)), y=np.array([0, 1]), n_classes=1), r"n_classes must be an integer >= 2"),
    (dict(X=np.zeros((3, 2)), y=np.array([0, 1, 2]), n_classes=3, rule="stump"), r"'stump' needs exactly 2"),
    (dict(X=np.zeros((2, 2)), y=np.array([0, 1]), n_classes=2, rule="tree"), r"rule must be one of"),
    (dict(X=np.zeros((2, 2)), y=np.array([0, 1]), n_classes=2, metric="f1"), r"metric must be one of"),
    (dict(X=np.zeros((0, 2)), y=np.zeros(0, int), n_classes=2), r"no samples"),
    (dict(X=np.array([["a"]]), y=np.array([0]), n_classes=2), r"must hold numbers"),
])
def test_bad_input_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        score_neurons(**kwargs)


def test_resolve_rule():
    assert resolve_rule("auto", 2) == "stump" and resolve_rule("auto", 5) == "nearest_mean"
    assert resolve_rule("ovr_stump", 2) == "ovr_stump"


def test_neuron_scores_is_a_plain_record():
    res = score_neurons(np.eye(4), np.array([0, 1, 0, 1]), 2)
    assert isinstance(res, NeuronScores) and res.fallback == 0 and res.n_samples == 4
    assert math.isnan(score_neurons(np.eye(3), np.array([0, 1, 2]), 3).threshold[0])


# ------------------------------------------------------------------------------------------- sn_core.scoring.metrics
def test_metrics_accuracy_balanced_chance():
    from sklearn.metrics import balanced_accuracy_score

    from sn_core.scoring.metrics import accuracy, balanced_accuracy, chance_accuracy

    y = ["yes", "yes", "yes", "no"]
    assert accuracy(y, ["yes", None, "yes", "no"]) == 0.75  # an answer outside the label set is wrong
    assert balanced_accuracy(y, ["yes", "no", "yes", "no"]) == pytest.approx((2 / 3 + 1) / 2)
    assert balanced_accuracy(y, ["no"] * 4) == balanced_accuracy_score(y, ["no"] * 4) == 0.5
    assert chance_accuracy(y) == 0.75
    with pytest.raises(ValueError, match="y_true has 4 labels but y_pred has 3"):
        accuracy(y, y[:3])
    with pytest.raises(ValueError, match="empty"):
        balanced_accuracy([], [])
