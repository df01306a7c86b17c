"""Property tests (hypothesis): the vectorised scorer equals the brute-force reference on arbitrary small inputs,
including tied values, constant neurons, NaN/+-inf, absent classes, float16/32/64 and any chunking.

Values are drawn from a half-integer grid so that every class-mean sum is exact in any summation order: the
reference (math.fsum) and the vectorised code (matrix products) then agree bit for bit, and any difference is a bug.
Select with ``pytest -k reliability``.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sn_core.scoring.neuron_scores import predict_neurons, score_neurons
from test_scoring import assert_matches_reference

pytestmark = pytest.mark.reliability

VALUES = st.one_of(
    st.integers(-6, 6).map(lambda v: v / 2),  # few distinct values: many ties
    st.sampled_from([np.nan, np.inf, -np.inf]),
)


@st.composite
def problems(draw, max_classes=4):
    n = draw(st.integers(1, 24))
    m = draw(st.integers(1, 5))
    n_classes = draw(st.integers(2, max_classes))
    y = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    cols = []
    for _ in range(m):
        kind = draw(st.sampled_from(["free", "constant", "finite", "separable"]))
        if kind == "constant":
            cols.append(np.full(n, draw(VALUES)))
        elif kind == "finite":
            cols.append(np.array(draw(st.lists(st.integers(-6, 6), min_size=n, max_size=n)), float) / 2)
        elif kind == "separable":
            cols.append(y.astype(float) * draw(st.sampled_from([-1.5, 1.0, 2.5])) + 0.5)
        else:
            cols.append(np.array(draw(st.lists(VALUES, min_size=n, max_size=n)), float))
    X = np.stack(cols, axis=1)
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    return X.astype(dtype), y, n_classes


# derandomize: the same examples on every run (CI never flakes on a new draw); database=None: no .hypothesis/ folder.
RELIABILITY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                       derandomize=True, database=None)
QUICK = settings(max_examples=60, deadline=None, derandomize=True, database=None)


@RELIABILITY
@given(problems(max_classes=2), st.sampled_from(["accuracy", "balanced_accuracy"]),
       st.sampled_from(["stump", "nearest_mean", "ovr_stump"]))
def test_reliability_binary_equals_reference(problem, metric, rule):
    X, y, n_classes = problem
    assert_matches_reference(X, y, n_classes, rule, metric, exact=True)


@RELIABILITY
@given(problems(max_classes=4), st.sampled_from(["accuracy", "balanced_accuracy"]),
       st.sampled_from(["nearest_mean", "ovr_stump"]))
def test_reliability_multiclass_equals_reference(problem, metric, rule):
    X, y, n_classes = problem
    assert_matches_reference(X, y, n_classes, rule, metric, exact=True)


@QUICK
@given(problems(max_classes=3), st.integers(1, 4), st.integers(1, 3))
def test_reliability_chunking_invariant(problem, chunk_size, n_jobs):
    X, y, n_classes = problem
    a = score_neurons(X, y, n_classes, n_jobs=1)
    b = score_neurons(X, y, n_classes, chunk_size=chunk_size, n_jobs=n_jobs)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(predict_neurons(a, X), predict_neurons(b, X))


@QUICK
@given(problems(max_classes=3))
def test_reliability_scores_bounded_and_at_least_majority(problem):
    """A stump can always fall back to the majority class, so its accuracy >= the majority rate (nearest mean
    cannot: its boundaries are fixed by the class means, e.g. y=[1,1,0,0,0,0,0,0] can score below 0.75)."""
    X, y, n_classes = problem
    res = score_neurons(X, y, n_classes)
    assert np.all((res.scores >= 0) & (res.scores <= 1))
    majority = np.bincount(y, minlength=n_classes).max() / len(y)
    if res.rule == "stump":
        assert np.all(res.scores >= majority - 1e-12)


@settings(QUICK, max_examples=40)
@given(problems(max_classes=2), st.floats(0.25, 8.0), st.floats(-5, 5))
def test_reliability_stump_invariant_to_monotone_rescaling(problem, scale, shift):
    """Scores depend only on the order of the values: a positive affine map changes thresholds, not scores."""
    X, y, n_classes = problem
    X = X.astype(np.float64)
    a = score_neurons(X, y, n_classes, rule="stump")
    b = score_neurons(X * scale + shift, y, n_classes, rule="stump")
    c = score_neurons(-X, y, n_classes, rule="stump")  # order reversed: same score, polarity may flip
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.scores, c.scores)


@pytest.mark.parametrize("seed", range(3))
def test_reliability_random_floats_binary_large(seed):
    """Continuous random values (no exact ties) with more samples than hypothesis draws."""
    rng = np.random.default_rng(seed)
    n = 200
    y = (rng.random(n) < 0.4).astype(int)
    X = (rng.normal(size=(n, 6)) + y[:, None] * rng.normal(size=6)).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    assert_matches_reference(X, y, 2, "stump", "accuracy")
    assert_matches_reference(X, y, 2, "stump", "balanced_accuracy")
