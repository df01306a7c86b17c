"""Uncertainty of accuracies: Wilson score intervals and the exact paired McNemar test.

- :func:`wilson_interval`: the Wilson score interval of a binomial proportion ``k / n`` (Wilson 1927). Unlike the
  normal ("Wald") interval it stays inside [0, 1] and is not degenerate at 0 or n successes, which matters for the
  near-perfect accuracies of small test splits.
- :func:`accuracy_ci`: accuracy of a boolean "correct" array with its Wilson interval.
- :func:`mcnemar_exact`: the exact two-sided McNemar test of two classifiers scored on the *same* examples: under the
  null hypothesis each example where exactly one of the two is right is equally likely to favour either, so the
  number ``b`` of examples only A gets right is Binomial(b + c, 1/2), ``c`` the number only B gets right. The
  two-sided p-value is ``min(1, 2 * P(X <= min(b, c)))``, the same as ``scipy.stats.binomtest(b, b + c, 0.5)``;
  1.0 when there is no discordant pair.
"""
from __future__ import annotations

import math

import numpy as np

CONF = 0.95


def _z(conf: float) -> float:
    if not 0.0 < conf < 1.0:
        raise ValueError(f"conf must be in (0, 1), got {conf!r}")
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + conf / 2.0)


def wilson_interval(k: int, n: int, conf: float = CONF) -> tuple[float, float]:
    """Wilson score interval ``(lo, hi)`` of the proportion ``k / n`` at confidence ``conf``.

    ``(nan, nan)`` when ``n == 0``; ValueError when ``k`` is outside ``0..n``.
    """
    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (float("nan"), float("nan"))
    z = _z(conf)
    p = k / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:  # exact ends (the formula gives them up to rounding)
        lo = 0.0
    if k == n:
        hi = 1.0
    return (float(lo), float(hi))


def accuracy_ci(correct, conf: float = CONF) -> tuple[float, float, float]:
    """``(accuracy, lo, hi)`` of a boolean array of per-example correctness (Wilson interval); NaNs when empty."""
    c = np.asarray(correct, dtype=bool).reshape(-1)
    if c.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    lo, hi = wilson_interval(int(c.sum()), int(c.size), conf)
    return (float(c.mean()), lo, hi)


def interval_from_accuracy(acc: float | None, n: int, conf: float = CONF) -> tuple[float, float] | None:
    """Wilson interval of an accuracy reported as a fraction of ``n`` examples (``k = round(acc * n)``); None when
    ``acc`` is None / NaN or ``n`` is 0."""
    if acc is None or n <= 0 or (isinstance(acc, float) and math.isnan(acc)):
        return None
    return wilson_interval(int(round(float(acc) * n)), int(n), conf)


def _binom_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), exactly (integer arithmetic, one float division)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return float(sum(math.comb(n, i) for i in range(k + 1)) / (1 << n)) if n <= 2000 else _binom_cdf_half_log(k, n)


def _binom_cdf_half_log(k: int, n: int) -> float:
    # Large n: sum of pmf terms in log space (no huge integers), enough for a p-value.
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    m = max(logs)
    return float(math.exp(m) * sum(math.exp(v - m) for v in logs))


def mcnemar_counts(a_correct, b_correct) -> tuple[int, int]:
    """``(b, c)``: examples only A gets right, and only B gets right."""
    a = np.asarray(a_correct, dtype=bool).reshape(-1)
    b = np.asarray(b_correct, dtype=bool).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired test needs the same examples: {a.size} vs {b.size} results")
    return int(np.sum(a & ~b)), int(np.sum(~a & b))


def mcnemar_exact(a_correct, b_correct) -> float:
    """Exact two-sided McNemar p-value of two classifiers' per-example correctness on the same examples (boolean
    arrays of equal length). 1.0 when no example is discordant."""
    b, c = mcnemar_counts(a_correct, b_correct)
    n = b + c
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * _binom_cdf_half(min(b, c), n)))


__all__ = ["CONF", "accuracy_ci", "interval_from_accuracy", "mcnemar_counts", "mcnemar_exact", "wilson_interval"]
