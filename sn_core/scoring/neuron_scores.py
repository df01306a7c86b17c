"""Vectorised 1-D classifiers for every neuron of a layer at once (docs/method.md, "Per-neuron classifier").

Each column of ``X [n_samples, n_neurons]`` is one neuron's probe values; each neuron gets its own training-free
1-D classifier, and its score is the probe accuracy (or balanced accuracy) of that classifier. Neurons are never
visited one at a time in Python: a chunk of neurons is sorted along samples in one call and every candidate split
is scored from cumulative class counts.

Rules (``rule=``)
-----------------
- ``"stump"`` (binary tasks, the default there): a threshold ``t`` and a polarity ``p``. ``p=+1`` predicts class 1
  when ``x > t`` and class 0 otherwise; ``p=-1`` the reverse. Candidate thresholds are the midpoints between
  consecutive *distinct* sorted finite probe values, plus one threshold below the smallest value (``x_min - (1 +
  |x_min|)``), which with ``p=+1`` predicts class 1 for every value and with ``p=-1`` class 0 (so a constant neuron
  scores the majority-class rate). Ties in score are broken, in order, toward (1) the larger margin, i.e. the widest
  gap between the two consecutive sorted values the threshold splits (the below-minimum threshold has margin 0, so
  any real split that scores as well wins), (2) the lower threshold, (3) polarity +1.
- ``"nearest_mean"`` (multi-class default; allowed for binary): predict the class whose probe mean (over finite
  values) is nearest. A class without finite probe values is never predicted. Equidistant ties go to the more
  frequent probe class, then to the lower class code; a constant neuron therefore predicts the majority class.
- ``"ovr_stump"`` (multi-class option): one stump per class ``k`` (``k`` vs the rest, fitted as above with the chosen
  metric, stored in ``ovr_threshold [n_classes, n_neurons]`` / ``ovr_polarity``); a value goes to the class with the
  largest signed margin ``p_k * (x - t_k)``, ties as for nearest_mean.

Non-finite values (NaN, +-inf)
------------------------------
A non-finite activation carries no usable position on the axis, so it is predicted as the *fallback class*, the
majority class of the probe labels (ties: lower code). Fitting uses the finite values only, and the reported score
counts the non-finite samples with that fallback prediction, so ``scores`` equals the accuracy that
``predict_neurons`` gives on the probe data exactly. (Imputing a median instead would make the fitted score and the
prediction on the same data disagree.) A neuron with no finite value at all predicts the fallback everywhere.

Exactness
---------
Stump scores are ratios of integer counts (balanced accuracy uses an integer numerator over a common denominator),
so ties between candidate splits are exact, not subject to float rounding; margins and thresholds are computed in
float64. float16 (float32) inputs are sorted on a float32 (float64) key that carries the class code in the low
mantissa bits the narrower type never uses: one plain sort, exact, about twice as fast as ``argsort``; other
dtypes are cast to float64 and ``argsort``-ed. The tests compare every score, threshold, polarity and prediction
with a brute-force loop over thresholds (tests/unit/test_scoring_reference.py). The sort-and-count kernel is in
sn_core/stumps.py.

Cost
----
One sort per neuron plus a few passes over ``[chunk, n_samples]`` arrays: about 20k neurons per CPU-second for
1000 samples (bench/scoring.py). Work memory is bounded by the chunk size (~200 MB per thread by default), so a
layer of any width is scored without holding more than ``X`` itself.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from sn_core.config import METRICS, RULES
from sn_core.scoring.stumps import sorted_values_labels, stump_from_sorted

# Elements of one [chunk, n_samples] work array; ~8 such arrays live at once, 4M elements keeps a chunk near 200 MB.
CHUNK_ELEMENTS = 1 << 22


@dataclass
class NeuronScores:
    """Probe scores and fitted 1-D classifiers of ``n_neurons`` neurons (one layer, or any set of columns).

    ``threshold``/``polarity`` are filled for ``rule == "stump"`` (NaN / 0 otherwise); ``class_means`` always (the
    mean of the finite probe values per class, NaN for a class without any); ``ovr_threshold``/``ovr_polarity`` only
    for ``"ovr_stump"``. ``fallback`` is the class predicted for non-finite inputs and ``class_order`` the tie-break
    order of classes (more frequent probe class first).
    """

    scores: np.ndarray  # [n_neurons] float64 in [0, 1]
    rule: str
    metric: str
    n_classes: int
    threshold: np.ndarray  # [n_neurons] float64
    polarity: np.ndarray  # [n_neurons] int8, +1 / -1 (0: not a stump)
    class_means: np.ndarray  # [n_classes, n_neurons] float64
    class_counts: np.ndarray  # [n_classes] int64, probe labels per class
    ovr_threshold: np.ndarray | None = None  # [n_classes, n_neurons] float64
    ovr_polarity: np.ndarray | None = None  # [n_classes, n_neurons] int8
    n_samples: int = 0
    extra: dict = field(default_factory=dict)  # free-form notes for callers (site, layer...); not used here

    @property
    def n_neurons(self) -> int:
        return int(self.scores.shape[0])

    @property
    def fallback(self) -> int:
        """The class predicted for a non-finite value: the majority probe class (ties: lower code)."""
        return int(self.class_order[0])

    @property
    def class_order(self) -> np.ndarray:
        """Classes by decreasing probe count, ties by code: the order in which equal-margin ties are resolved."""
        return np.argsort(-self.class_counts, kind="stable")

    def subset(self, index) -> "NeuronScores":
        """The scores and parameters of the neurons ``index`` (ints or a boolean mask), in that order."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(np.int64).reshape(-1)
        if index.size and (index.min() < -self.n_neurons or index.max() >= self.n_neurons):
            raise IndexError(f"neuron index out of range for {self.n_neurons} neurons: {index.tolist()[:10]}")
        return NeuronScores(
            scores=self.scores[index], rule=self.rule, metric=self.metric, n_classes=self.n_classes,
            threshold=self.threshold[index], polarity=self.polarity[index],
            class_means=self.class_means[:, index], class_counts=self.class_counts,
            ovr_threshold=None if self.ovr_threshold is None else self.ovr_threshold[:, index],
            ovr_polarity=None if self.ovr_polarity is None else self.ovr_polarity[:, index],
            n_samples=self.n_samples, extra=dict(self.extra),
        )

    def ranking(self, k: int | None = None) -> np.ndarray:
        """Neuron indices by decreasing score (ties: lower index first), the first ``k`` of them."""
        return rank_neurons(self.scores, k)


def rank_neurons(scores: np.ndarray, k: int | None = None) -> np.ndarray:
    """Indices of ``scores [n]`` from best to worst, stable (equal scores keep the lower index first)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    return order if k is None else order[: int(k)]


# ----------------------------------------------------------------------------------------------------------- checks
def resolve_rule(rule: str, n_classes: int) -> str:
    """The rule actually used: ``"auto"`` is the stump for two classes and nearest mean for more."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if rule == "auto":
        return "stump" if n_classes == 2 else "nearest_mean"
    if rule == "stump" and n_classes != 2:
        raise ValueError(f"rule='stump' needs exactly 2 classes, got n_classes={n_classes}; "
                         "use 'nearest_mean' or 'ovr_stump' for multi-class tasks")
    return rule


def _check_inputs(X, y, n_classes, metric):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D [n_samples, n_neurons], got shape {X.shape}")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"X must hold numbers, got dtype {X.dtype}")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}), got shape {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("X has no samples")
    if y.dtype.kind not in "iub":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"y must hold integer class codes 0..n_classes-1, got dtype {y.dtype}")
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(f"y holds class code {bad}, outside 0..{n_classes - 1} (n_classes={n_classes})")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return X, y, int(n_classes)


def _class_means(Xf: np.ndarray, fin: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class mean of the finite values of each column of ``Xf [n, c]`` (float64, ``fin`` its finite mask)
    -> ``[n_classes, c]`` (NaN for a class without finite values)."""
    onehot_t = (np.arange(n_classes)[:, None] == y[None, :]).astype(np.float64)  # [n_classes, n]
    if fin.all():
        cnt = onehot_t.sum(axis=1)[:, None]  # [n_classes, 1]
        s = onehot_t @ Xf  # [n_classes, c]
    else:
        cnt = onehot_t @ fin.astype(np.float64)  # [n_classes, c]
        s = onehot_t @ np.where(fin, Xf, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan) * np.ones((1, Xf.shape[1]))  # [n_classes, c]


def _score_from_predictions(pred: np.ndarray, y: np.ndarray, n_classes: int, metric: str) -> np.ndarray:
    """Accuracy or balanced accuracy of ``pred [n, c]`` against ``y [n]`` per column."""
    hit = pred == y[:, None]  # [n, c]
    if metric == "accuracy":
        return hit.mean(axis=0)
    recalls = []
    for k in range(n_classes):
        sel = y == k
        if sel.any():
            recalls.append(hit[sel].mean(axis=0))
    return np.mean(recalls, axis=0)


# ------------------------------------------------------------------------------------------------------- prediction
def _predict_block(p: NeuronScores, X: np.ndarray, Xf: np.ndarray | None = None,
                   fin: np.ndarray | None = None) -> np.ndarray:
    """Predictions ``[n, m]`` (int64 codes) of the classifiers in ``p`` (``m`` neurons) on ``X [n, m]``.

    ``Xf``/``fin``: ``X`` as float64 and its finite mask, when the caller has them already.
    """
    Xf = X.astype(np.float64) if Xf is None else Xf  # [n, m]
    fin = np.isfinite(Xf) if fin is None else fin
    fallback = p.fallback
    if p.rule == "stump":
        above = Xf > p.threshold[None, :]  # [n, m]
        pred = (above == (p.polarity[None, :] > 0)).astype(np.int64)
        pred[~fin] = fallback
        return pred
    if p.rule not in ("nearest_mean", "ovr_stump"):
        raise ValueError(f"unknown rule {p.rule!r}")
    # Smallest "cost" wins: |x - mean_k| (nearest mean) or p_k * (t_k - x), minus the one-vs-rest margin. In-place
    # passes, one class at a time; a strict '<' keeps the earlier class of class_order (more frequent) on ties, and
    # a NaN cost (class without probe values, or a non-finite x) never wins.
    small = np.int16 if p.n_classes < 2**15 else np.int64
    best = np.full(Xf.shape, np.inf)  # [n, m]
    pred = np.full(Xf.shape, fallback, dtype=small)  # [n, m]
    cost = np.empty_like(Xf)
    better = np.empty(Xf.shape, dtype=bool)
    for k in p.class_order:
        k = int(k)
        if p.rule == "nearest_mean":
            np.subtract(Xf, p.class_means[k][None, :], out=cost)
            np.abs(cost, out=cost)
        else:
            np.subtract(p.ovr_threshold[k][None, :], Xf, out=cost)
            np.multiply(cost, p.ovr_polarity[k][None, :], out=cost)
        np.less(cost, best, out=better)
        np.fmin(best, cost, out=best)  # fmin: a NaN cost leaves best as it was
        step = pred - small(k)  # branch-free pred = where(better, k, pred): masked copies are ~3x slower here
        step *= better
        pred -= step
    pred[~fin] = fallback
    return pred.astype(np.int64)


def predict_neurons(params: NeuronScores, X, index=None) -> np.ndarray:
    """Per-neuron predictions ``[n_samples, n_cols]`` (int class codes).

    Without ``index``, column ``j`` of ``X`` is neuron ``j`` of ``params``; with ``index`` (ints), column ``j`` of
    ``X`` holds neuron ``index[j]``.
    """
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D [n_samples, n_neurons], got shape {X.shape}")
    p = params if index is None else params.subset(index)
    if X.shape[1] != p.n_neurons:
        raise ValueError(f"X has {X.shape[1]} columns but {p.n_neurons} neurons were selected")
    return _predict_block(p, X)


# ------------------------------------------------------------------------------------------------------- scoring
def _score_chunk(Xc, y, n_classes, rule, metric, counts, fallback):
    """Fit and score the neurons of ``Xc [n, c]``; returns a dict of per-neuron arrays for this chunk."""
    n, c = Xc.shape
    Xf = Xc.astype(np.float64)  # [n, c]
    fin = np.isfinite(Xf)
    out = {"class_means": _class_means(Xf, fin, y, n_classes),
           "threshold": np.full(c, np.nan), "polarity": np.zeros(c, dtype=np.int8)}
    if rule in ("stump", "ovr_stump"):
        XT = np.ascontiguousarray(Xc.T)  # [c, n], input dtype: the sort runs along the contiguous axis
        vals, labs = sorted_values_labels(XT, y, n_classes)
        del XT
    if rule == "stump":
        num, den, thr, pol = stump_from_sorted(vals, labs == 1, int(counts[1]), int(counts[0]), fallback == 1,
                                                metric)
        out.update(scores=num / den, threshold=thr, polarity=pol)
        return out
    tmp = NeuronScores(scores=np.zeros(c), rule=rule, metric=metric, n_classes=n_classes, threshold=out["threshold"],
                       polarity=out["polarity"], class_means=out["class_means"], class_counts=counts)
    if rule == "ovr_stump":
        thr = np.full((n_classes, c), np.nan)
        pol = np.zeros((n_classes, c), dtype=np.int8)
        for k in range(n_classes):
            npos = int(counts[k])
            _, _, thr[k], pol[k] = stump_from_sorted(vals, labs == k, npos, n - npos, fallback == k, metric)
        tmp.ovr_threshold, tmp.ovr_polarity = thr, pol
        out.update(ovr_threshold=thr, ovr_polarity=pol)
    pred = _predict_block(tmp, Xc, Xf, fin)  # [n, c]
    out["scores"] = _score_from_predictions(pred, y, n_classes, metric)
    return out


def score_neurons(X, y, n_classes: int, rule: str = "auto", metric: str = "accuracy", *,
                  chunk_size: int | None = None, n_jobs: int | None = None) -> NeuronScores:
    """Fit one 1-D classifier per column of ``X [n_samples, n_neurons]`` on labels ``y [n_samples]`` and score it.

    ``y`` holds class codes ``0..n_classes-1``. See the module docstring for the rules, tie-breaks and non-finite
    handling. Neurons are processed in chunks of ``chunk_size`` columns (default: ~4M elements per chunk) on
    ``n_jobs`` threads (default: up to 4, numpy releases the GIL in sort and arithmetic).
    """
    X, y, n_classes = _check_inputs(X, y, n_classes, metric)
    rule = resolve_rule(rule, n_classes)
    n, m = X.shape
    counts = np.bincount(y, minlength=n_classes).astype(np.int64)  # [n_classes]
    fallback = int(np.argsort(-counts, kind="stable")[0])
    if chunk_size is None:
        per = n * (n_classes if rule == "ovr_stump" else 1)
        chunk_size = max(1, CHUNK_ELEMENTS // max(per, 1))
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    starts = list(range(0, m, chunk_size))
    if n_jobs is None:
        n_jobs = min(4, os.cpu_count() or 1)

    def run(a):
        return _score_chunk(X[:, a:a + chunk_size], y, n_classes, rule, metric, counts, fallback)

    if n_jobs > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            parts = list(pool.map(run, starts))
    else:
        parts = [run(a) for a in starts]
    if not parts:  # zero neurons
        parts = [_score_chunk(X, y, n_classes, rule, metric, counts, fallback)]

    def cat(name, axis=0):
        return np.concatenate([p[name] for p in parts], axis=axis)

    return NeuronScores(
        scores=cat("scores").astype(np.float64), rule=rule, metric=metric, n_classes=n_classes,
        threshold=cat("threshold").astype(np.float64), polarity=cat("polarity").astype(np.int8),
        class_means=cat("class_means", axis=1), class_counts=counts,
        ovr_threshold=cat("ovr_threshold", axis=1) if rule == "ovr_stump" else None,
        ovr_polarity=cat("ovr_polarity", axis=1) if rule == "ovr_stump" else None,
        n_samples=n,
    )


def null_control(X, y, n_classes: int, seed: int = 0, rule: str = "auto", metric: str = "accuracy",
                 **kwargs) -> float:
    """Best probe score over all neurons after a seeded shuffle of the labels (how much of a top score is chance).

    The permutation uses ``np.random.default_rng([seed, 0x5EED])`` like ``sn_core.data.shuffled_labels``.
    """
    X, y, n_classes = _check_inputs(X, y, n_classes, metric)
    if X.shape[1] == 0:
        raise ValueError("null_control needs at least one neuron (X has 0 columns)")
    y_shuffled = y[np.random.default_rng([int(seed), 0x5EED]).permutation(len(y))]
    return float(score_neurons(X, y_shuffled, n_classes, rule=rule, metric=metric, **kwargs).scores.max())
