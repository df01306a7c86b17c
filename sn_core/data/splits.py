"""Seeded, label-stratified, disjoint probe/test splits and the shuffled-label null control (docs/method.md, "Splits")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Split:
    """Indices into a task's examples. ``probe`` fits and ranks neurons; ``test`` is held out for every
    reported accuracy. They are disjoint by construction."""

    probe: np.ndarray  # [n_probe] int64
    test: np.ndarray  # [n_test] int64
    seed: int

    def to_dict(self) -> dict:
        return {"probe": self.probe.tolist(), "test": self.test.tolist(), "seed": self.seed}


def make_split(y: Sequence[str], probe_per_class: int, test_per_class: int | None = None, seed: int = 0) -> Split:
    """Take ``probe_per_class`` examples of every label for the probe split and ``test_per_class`` (default: all
    the rest) for the test split. Raises ``ValueError`` naming the label when a class is too small, and when
    there are fewer than two classes."""
    y = np.asarray([str(v) for v in y])
    labels = sorted(set(y.tolist()))
    if len(labels) < 2:
        raise ValueError(
            f"a task needs at least two classes to be classified; this one has only {labels!r}"
        )
    if probe_per_class < 1:
        raise ValueError(f"probe_per_class must be at least 1, got {probe_per_class}")
    need = probe_per_class + (test_per_class if test_per_class is not None else 1)
    rng = np.random.default_rng(seed)
    probe, test = [], []
    for lbl in labels:
        idx = np.flatnonzero(y == lbl)
        if len(idx) < need:
            raise ValueError(
                f"class {lbl!r} has {len(idx)} examples, but the split needs at least {need} "
                f"({probe_per_class} probe + {test_per_class if test_per_class is not None else 1} test)"
            )
        idx = rng.permutation(idx)
        probe.append(idx[:probe_per_class])
        rest = idx[probe_per_class:]
        test.append(rest if test_per_class is None else rest[:test_per_class])
    return Split(np.sort(np.concatenate(probe)), np.sort(np.concatenate(test)), seed)


def shuffled_labels(y: Sequence[str], seed: int = 0) -> np.ndarray:
    """A seeded permutation of ``y``: the labels of the null control (same class counts, no relation to images)."""
    y = np.asarray([str(v) for v in y])
    return y[np.random.default_rng([seed, 0x5EED]).permutation(len(y))]


def stratified_subset(y: np.ndarray, m: int, seed: int) -> np.ndarray:
    """Sorted positions of ``m`` of the labels ``y``, each class in proportion to its share (largest remainders get
    the leftover places), seeded: the subset's chance rate stays the test split's."""
    rng = np.random.default_rng([seed, 0x7E57])
    classes, inv = np.unique(y, return_inverse=True)
    want = np.bincount(inv, minlength=len(classes)) * m / len(y)  # [n_classes]
    quota = np.floor(want).astype(int)
    quota[np.argsort(-(want - quota), kind="stable")[: m - int(quota.sum())]] += 1
    keep = [rng.permutation(np.flatnonzero(inv == c))[: quota[c]] for c in range(len(classes))]
    return np.sort(np.concatenate(keep))
