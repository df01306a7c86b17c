"""The robustness report's --max-examples subset keeps every class in proportion, so its chance rate is the test
split's (a plain random subset of 40 from a balanced 4-class split gave a 32.5% majority share)."""
import numpy as np

from sn_core.data.splits import stratified_subset as _stratified_subset


def test_subset_is_class_stratified_seeded_and_sorted():
    y = np.array(["red", "green", "blue", "yellow"] * 80)  # balanced test split of 320
    keep = _stratified_subset(y, 40, seed=0)
    assert len(keep) == 40 and len(set(keep)) == 40 and list(keep) == sorted(keep)
    labels, counts = np.unique(y[keep], return_counts=True)
    assert list(counts) == [10, 10, 10, 10]
    assert list(_stratified_subset(y, 40, seed=0)) == list(keep)  # seeded
    assert list(_stratified_subset(y, 40, seed=1)) != list(keep)


def test_subset_keeps_uneven_shares_and_exact_size():
    y = np.array(["a"] * 70 + ["b"] * 20 + ["c"] * 10)
    for m in (1, 7, 10, 33, 99):
        keep = _stratified_subset(y, m, seed=3)
        assert len(keep) == m
        counts = {c: int(np.sum(y[keep] == c)) for c in "abc"}
        for c, share in (("a", 0.7), ("b", 0.2), ("c", 0.1)):
            assert abs(counts[c] - share * m) < 1, (m, counts)
