"""The sort-and-count kernel behind the stump rule (docs/method.md, "Per-neuron classifier"; rules and tie-breaks
in sn_core/scoring.py).

``sorted_values_labels`` sorts every neuron's probe values and carries the class codes along; ``stump_from_sorted``
scores every split of both polarities of each sorted row from one cumulative sum of integer class weights and picks
the best one with the documented tie-breaks. Both work on a chunk ``[c, n]`` (c neurons, n samples) at once.
"""
from __future__ import annotations

import numpy as np

# (input dtype) -> (sort dtype, same-width unsigned int, mantissa bits the input never uses in that sort dtype)
_KEY_TYPES = {np.dtype(np.float16): (np.float32, np.uint32, 13), np.dtype(np.float32): (np.float64, np.uint64, 29)}


def sorted_values_labels(XT: np.ndarray, y: np.ndarray, n_classes: int):
    """Sort each row of ``XT [c, n]`` and carry the labels along.

    Returns ``vals [c, n]`` (float32 for float16 input, else float64; non-finite values replaced by NaN, which sorts
    last) and ``labs [c, n]`` int class codes.
    """
    bits = int(n_classes - 1).bit_length()
    if XT.dtype in _KEY_TYPES and bits <= _KEY_TYPES[XT.dtype][2]:
        # Widening float16 -> float32 (float32 -> float64) leaves the low 13 (29) mantissa bits zero: put the class
        # code there and sort once. Distinct input values stay in order (they differ by >= 2**13 (2**29) units in
        # the last place of the wider type); equal values may reorder among themselves, which no split can see.
        # NaN stays NaN whatever its payload bits, and sorts last. Exact, and ~2x faster than argsort.
        ftype, utype, _ = _KEY_TYPES[XT.dtype]
        v = XT.astype(ftype)  # [c, n]
        v[~np.isfinite(v)] = np.nan
        key = v.view(utype) | y.astype(utype)[None, :]  # [c, n]
        key.view(ftype).sort(axis=1)  # in place, [c, n]
        mask = utype((1 << bits) - 1)
        labs = key & mask  # [c, n]
        key &= ~mask
        return key.view(ftype), labs
    v = XT.astype(np.float64)  # [c, n]
    v[~np.isfinite(v)] = np.nan
    order = np.argsort(v, axis=1, kind="stable")  # [c, n]
    return np.take_along_axis(v, order, axis=1), y[order]


def stump_from_sorted(vals, pos, n_pos, n_neg, fallback_pos, metric):
    """Best stump per row from sorted values ``vals [c, n]`` and a positive-class mask ``pos [c, n]``.

    ``n_pos``/``n_neg``: counts of positive/negative labels over all samples (finite or not); non-finite samples are
    predicted positive iff ``fallback_pos``. Returns (numerator [c], denominator, threshold [c], polarity [c]).

    With ``k`` finite samples left of the split and weights ``w`` per class (1 for accuracy; the other class's count
    for balanced accuracy, so both are integers over one denominator), the number correct is
    ``d_k + A`` for polarity +1 and ``-d_k + B`` for polarity -1, where ``d_k`` is the exclusive cumulative sum of
    ``w_neg * [negative] - w_pos * [positive]``: one cumulative sum scores every split of both polarities.
    """
    c, n = vals.shape
    fin = ~np.isnan(vals)  # [c, n]
    if c == 0:
        return np.zeros(0, np.int64), max(n_pos + n_neg, 1), np.zeros(0), np.zeros(0, np.int8)
    if metric == "accuracy":
        w_pos, w_neg, den = 1, 1, n_pos + n_neg
    elif n_pos == 0:  # balanced accuracy over the one class present
        w_pos, w_neg, den = 0, 1, n_neg
    elif n_neg == 0:
        w_pos, w_neg, den = 1, 0, n_pos
    else:  # (c_neg / n_neg + c_pos / n_pos) / 2 = (c_neg * n_pos + c_pos * n_neg) / (2 n_pos n_neg)
        w_pos, w_neg, den = n_neg, n_pos, 2 * n_pos * n_neg
    itype = np.int32 if 2 * den < 2**31 else np.int64
    z = np.empty((c, n), dtype=itype)  # [c, n]: w_neg for a negative, -w_pos for a positive
    np.multiply(pos, -(w_pos + w_neg), out=z, dtype=itype)
    z += w_neg
    if not fin.all():
        z[~fin] = 0
    npos_f = (pos & fin).sum(axis=1, dtype=np.int64)  # [c]
    nneg_f = fin.sum(axis=1, dtype=np.int64) - npos_f
    d = np.zeros((c, n), dtype=itype)  # d[:, k]: splits with k samples on the left
    np.add.accumulate(z[:, :-1], axis=1, out=d[:, 1:])
    extra = (w_pos * (n_pos - npos_f)) if fallback_pos else (w_neg * (n_neg - nneg_f))  # non-finite, predicted fallback
    A = w_pos * npos_f + extra  # polarity +1: correct = left negatives + right positives = d + A
    B = w_neg * nneg_f + extra  # polarity -1: correct = left positives + right negatives = -d + B
    valid = np.empty((c, n), dtype=bool)
    valid[:, 0] = True  # the below-minimum threshold (all one class)
    np.greater(vals[:, 1:], vals[:, :-1], out=valid[:, 1:])  # distinct consecutive finite values (NaN: False)
    big = np.iinfo(itype).max
    dmax = np.maximum.reduce(d, axis=1, where=valid, initial=-big).astype(np.int64)  # [c]
    dmin = np.minimum.reduce(d, axis=1, where=valid, initial=big).astype(np.int64)
    best = np.maximum(dmax + A, B - dmin)  # [c]
    cand_p = valid & (d == (best - A)[:, None])  # [c, n]
    cand_m = valid & (d == (B - best)[:, None])
    # Tie-break among the best splits (a few per row): widest gap, then lowest threshold. Gaps are computed in
    # float64 only at candidate positions (exact for float16 input, correctly rounded otherwise).
    r, kk = np.nonzero(cand_p | cand_m)  # [n_cand] each, row-major
    gap = np.zeros(r.shape)
    inner = kk > 0  # k = 0 is the below-minimum threshold, margin 0
    gap[inner] = vals[r[inner], kk[inner]].astype(np.float64) - vals[r[inner], kk[inner] - 1].astype(np.float64)
    order = np.lexsort((kk, -gap, r))  # by row, then widest gap, then lowest k
    r_sorted = r[order]
    first = order[np.flatnonzero(np.r_[True, r_sorted[1:] != r_sorted[:-1]])]  # one per row, rows 0..c-1
    k = kk[first]  # [c]
    rows = np.arange(c)
    polarity = np.where(cand_p[rows, k], 1, -1).astype(np.int8)  # then polarity +1
    lo = vals[rows, np.maximum(k - 1, 0)].astype(np.float64)
    hi = vals[rows, k].astype(np.float64)
    mid = lo / 2 + hi / 2
    mid = np.where(mid >= hi, lo, mid)  # adjacent float64s: keep lo <= t < hi
    vmin = vals[:, 0].astype(np.float64)
    below = np.where(np.isnan(vmin), 0.0, vmin - (1.0 + np.abs(vmin)))
    threshold = np.where(k == 0, below, mid)
    return best, den, threshold, polarity
