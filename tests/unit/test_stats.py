"""sn_core.scoring.stats: Wilson intervals against hand-computed values, exact McNemar against scipy's binomial test."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from sn_core.scoring.stats import accuracy_ci, interval_from_accuracy, mcnemar_counts, mcnemar_exact, wilson_interval


def test_wilson_hand_computed():
    # k=8, n=10, z=1.959964: centre = (0.8 + z^2/20) / (1 + z^2/10) = 0.99207/1.38415 = 0.716741;
    # half = z/(1+z^2/10) * sqrt(0.016 + z^2/400) = 1.41600 * 0.160298 = 0.226983
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.490162, abs=1e-5)
    assert hi == pytest.approx(0.943318, abs=1e-5)


def test_wilson_matches_scipy_and_edges():
    for k, n in [(0, 10), (10, 10), (37, 40), (1, 1), (500, 1000)]:
        lo, hi = wilson_interval(k, n)
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-9)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    lo90, hi90 = wilson_interval(8, 10, conf=0.90)
    assert lo90 > 0.490162 and hi90 < 0.943318  # narrower at lower confidence
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(1, 10, conf=1.5)


def test_accuracy_ci():
    acc, lo, hi = accuracy_ci([True] * 8 + [False] * 2)
    assert acc == 0.8 and (lo, hi) == pytest.approx(wilson_interval(8, 10))
    assert all(math.isnan(v) for v in accuracy_ci([]))
    assert interval_from_accuracy(0.8, 10) == pytest.approx(wilson_interval(8, 10))
    assert interval_from_accuracy(None, 10) is None and interval_from_accuracy(float("nan"), 10) is None


def test_mcnemar_against_scipy():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(5, 300))
        a = rng.random(n) < rng.uniform(0.3, 1.0)
        b = rng.random(n) < rng.uniform(0.3, 1.0)
        nb, nc = mcnemar_counts(a, b)
        want = 1.0 if nb + nc == 0 else binomtest(nb, nb + nc, 0.5).pvalue
        assert mcnemar_exact(a, b) == pytest.approx(want, rel=1e-9, abs=1e-15)
        assert mcnemar_exact(a, b) == mcnemar_exact(b, a)  # symmetric


def test_mcnemar_known_values_and_edges():
    a = np.array([True] * 10)
    assert mcnemar_exact(a, a) == 1.0  # no discordant pair
    # 7 discordant pairs, all favouring A: p = 2 * 0.5**7
    b = np.array([False] * 7 + [True] * 3)
    assert mcnemar_exact(a, b) == pytest.approx(2 * 0.5 ** 7)
    # balanced discordance: p = 1
    assert mcnemar_exact([True, False], [False, True]) == 1.0
    # large n goes through the log-space sum
    big_a = np.r_[np.ones(1300, bool), np.zeros(1200, bool)]
    big_b = ~big_a
    assert mcnemar_exact(big_a, big_b) == pytest.approx(binomtest(1300, 2500, 0.5).pvalue, rel=1e-6)
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])
