"""A brute-force, one-neuron-at-a-time reference for ``sn_core.scoring.neuron_scores`` (explicit loops over thresholds), and
checks of the reference itself on cases whose answer is known by hand.

The reference follows the documented rules literally: every candidate threshold (below the minimum, then each
midpoint of consecutive distinct finite values), both polarities, exact scores as ``Fraction``s, ties broken by
the larger gap, then the lower threshold, then polarity +1; non-finite values predicted as the majority class.
"""
from fractions import Fraction
import math

import numpy as np


def ref_counts(y, n_classes):
    return [int(np.sum(y == k)) for k in range(n_classes)]


def ref_fallback(y, n_classes):
    counts = ref_counts(y, n_classes)
    return max(range(n_classes), key=lambda k: (counts[k], -k))


def ref_class_order(y, n_classes):
    counts = ref_counts(y, n_classes)
    return sorted(range(n_classes), key=lambda k: (-counts[k], k))


def ref_metric(pred, y, n_classes, metric):
    """Exact score as a Fraction."""
    n = len(y)
    if metric == "accuracy":
        return Fraction(sum(int(p == t) for p, t in zip(pred, y)), n)
    recalls = []
    for k in range(n_classes):
        idx = [i for i in range(n) if y[i] == k]
        if idx:
            recalls.append(Fraction(sum(int(pred[i] == k) for i in idx), len(idx)))
    return sum(recalls, Fraction(0)) / len(recalls)


def ref_candidates(x):
    """[(threshold, margin)] in increasing threshold order."""
    finite = sorted({float(v) for v in x if math.isfinite(float(v))})
    if not finite:
        return [(0.0, 0.0)]
    lo0 = finite[0]
    out = [(lo0 - (1.0 + abs(lo0)), 0.0)]
    for a, b in zip(finite, finite[1:]):
        t = a / 2 + b / 2
        if t >= b:
            t = a
        assert a <= t < b
        out.append((t, b - a))
    return out


def ref_stump_predict(x, t, pol, fallback, pos=1, neg=0):
    out = []
    for v in x:
        v = float(v)
        if not math.isfinite(v):
            out.append(fallback)
        else:
            out.append(pos if (v > t) == (pol > 0) else neg)
    return out


def ref_stump(x, y, metric, fallback=None, n_classes=2):
    """Best (score Fraction, threshold, polarity) for one neuron ``x [n]``, binary labels ``y [n]``."""
    if fallback is None:
        fallback = ref_fallback(y, n_classes)
    best = None
    for t, margin in ref_candidates(x):
        for pol in (1, -1):
            s = ref_metric(ref_stump_predict(x, t, pol, fallback), y, n_classes, metric)
            key = (s, margin, -t, pol)
            if best is None or key > best[0]:
                best = (key, s, t, pol)
    return best[1], best[2], best[3]


def ref_means(x, y, n_classes):
    means = []
    for k in range(n_classes):
        vals = [float(v) for v, t in zip(x, y) if t == k and math.isfinite(float(v))]
        means.append(math.fsum(vals) / len(vals) if vals else math.nan)
    return means


def ref_argmax_margin(margins, order, fallback):
    """Class with the largest margin (NaN margins never win), ties to the earliest class in ``order``."""
    best, best_k = -math.inf, fallback
    for k in order:
        m = margins[k]
        if not math.isnan(m) and m > best:
            best, best_k = m, k
    return best_k


def ref_nearest_mean_predict(x, means, order, fallback):
    out = []
    for v in x:
        v = float(v)
        if not math.isfinite(v):
            out.append(fallback)
            continue
        out.append(ref_argmax_margin([-abs(v - m) for m in means], order, fallback))
    return out


def ref_score_neuron(x, y, n_classes, rule, metric):
    """(score Fraction, params dict, predictions) for one neuron, by brute force."""
    y = [int(v) for v in y]
    fallback = ref_fallback(np.array(y), n_classes)
    order = ref_class_order(np.array(y), n_classes)
    if rule == "auto":
        rule = "stump" if n_classes == 2 else "nearest_mean"
    if rule == "stump":
        s, t, pol = ref_stump(x, np.array(y), metric, fallback)
        return s, {"threshold": t, "polarity": pol}, ref_stump_predict(x, t, pol, fallback)
    if rule == "nearest_mean":
        means = ref_means(x, y, n_classes)
        pred = ref_nearest_mean_predict(x, means, order, fallback)
        return ref_metric(pred, y, n_classes, metric), {"class_means": means}, pred
    assert rule == "ovr_stump"
    thr, pols = [], []
    for k in range(n_classes):
        yk = np.array([int(v == k) for v in y])
        _, t, pol = ref_stump(x, yk, metric, fallback=int(fallback == k), n_classes=2)
        thr.append(t)
        pols.append(pol)
    pred = []
    for v in x:
        v = float(v)
        if not math.isfinite(v):
            pred.append(fallback)
        else:
            pred.append(ref_argmax_margin([pols[k] * (v - thr[k]) for k in range(n_classes)], order, fallback))
    return ref_metric(pred, y, n_classes, metric), {"ovr_threshold": thr, "ovr_polarity": pols}, pred


# --------------------------------------------------------------------------------- the reference on known answers
def test_reference_stump_hand_known():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([0, 0, 1, 1])
    s, t, pol = ref_stump(x, y, "accuracy")
    assert (s, t, pol) == (1, 1.5, 1)
    s, t, pol = ref_stump(x, 1 - y, "accuracy")
    assert (s, t, pol) == (1, 1.5, -1)


def test_reference_stump_prefers_wider_gap():
    x = np.array([0.0, 1.0, 5.0, 6.0])
    y = np.array([0, 1, 0, 1])
    # By hand, polarity +1: t=0.5 predicts 0,1,1,1 (3/4, gap 1); t=3 predicts 0,0,1,1 (2/4); t=5.5 predicts
    # 0,0,0,1 (3/4, gap 1). Nothing scores 4/4, so the two 3/4 splits tie on score and gap -> the lower threshold.
    s, t, pol = ref_stump(x, y, "accuracy")
    assert s == Fraction(3, 4) and pol == 1 and t == 0.5  # gaps 1 and 1 tie -> lower threshold
    x2 = np.array([0.0, 3.0, 5.0, 6.0])  # now the split at 1.5 has gap 3 > gap 1 at 5.5
    assert ref_stump(x2, y, "accuracy")[1] == 1.5
    x3 = np.array([0.0, 1.0, 5.0, 9.0])  # now the split at 7 has gap 4 > 1
    assert ref_stump(x3, y, "accuracy")[1] == 7.0


def test_reference_constant_is_majority_rate():
    x = np.full(5, 2.0)
    y = np.array([1, 1, 1, 0, 0])
    s, t, pol = ref_stump(x, y, "accuracy")
    assert s == Fraction(3, 5) and t < 2.0 and pol == 1
