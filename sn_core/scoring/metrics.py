"""Classification metrics on label arrays (strings or codes), with the conventions the scoring code uses.

- ``accuracy``: fraction of exact matches; a prediction of ``None`` (e.g. a generated answer outside the label set)
  counts as wrong.
- ``balanced_accuracy``: the mean recall over the classes present in ``y_true`` (as scikit-learn's
  ``balanced_accuracy_score``); a class that never occurs in ``y_true`` is left out rather than counted as 0.
"""
from __future__ import annotations

import numpy as np


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=object).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=object).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.shape[0]} labels but y_pred has {y_pred.shape[0]}")
    if y_true.size == 0:
        raise ValueError("cannot score an empty set of predictions")
    return y_true, y_pred


def accuracy(y_true, y_pred) -> float:
    """Fraction of ``y_pred`` equal to ``y_true`` (``None`` predictions are wrong)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean([t == p for t, p in zip(y_true, y_pred)]))


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean over the classes present in ``y_true`` of the fraction of that class predicted correctly."""
    y_true, y_pred = _pair(y_true, y_pred)
    hits = np.array([t == p for t, p in zip(y_true, y_pred)])
    recalls = [hits[y_true == c].mean() for c in dict.fromkeys(y_true.tolist())]
    return float(np.mean(recalls))


def chance_accuracy(y) -> float:
    """Accuracy of always predicting the most frequent label of ``y`` (the floor a classifier must beat)."""
    y = np.asarray(y, dtype=object).reshape(-1)
    if y.size == 0:
        raise ValueError("cannot compute chance on an empty label set")
    _, counts = np.unique(y.astype(str), return_counts=True)
    return float(counts.max() / y.size)
