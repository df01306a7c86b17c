"""The exit-layer frontier and the recommended shortcut (sn_core.scoring.ranking), on synthetic activations."""
import numpy as np
import pytest

from sn_core.scoring.ranking import SplitData, exit_frontier, recommended_row, score_layers


class FakeExtraction:
    def __init__(self, arrays):  # {(kind, layer): [n, width]}
        self.arrays = arrays

    def get(self, kind, layer):
        return self.arrays[(kind, layer)]


def _data(n_probe, n_test, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_probe // 2 + n_test // 2, int), np.ones(n_probe - n_probe // 2 + n_test - n_test // 2, int)]
    rng.shuffle(y)
    idx = rng.permutation(len(y))
    return SplitData(idx[:n_probe], idx[n_probe:], y, 2)


def _neuron(y, flip, rng):
    """A neuron whose sign agrees with y except on a share ``flip`` of examples."""
    v = np.where(y == 1, 1.0, -1.0) + 0.01 * rng.standard_normal(len(y))
    wrong = rng.permutation(len(y))[: int(round(flip * len(y)))]
    v[wrong] = -v[wrong]
    return v


def _ext(data, flips, width=4, seed=1):
    """Layer L: neuron 0 is a classifier with error share flips[L]; the others are noise."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for layer, flip in enumerate(flips):
        X = rng.standard_normal((len(data.y_codes), width))
        X[:, 0] = _neuron(data.y_codes, flip, rng)
        arrays[("mlp", layer)] = X.astype(np.float32)
    return FakeExtraction(arrays)


def _frontier(data, flips, limits=None):
    ext = _ext(data, flips)
    ls = score_layers(ext, ("mlp",), tuple(range(len(flips))), data, "auto", "accuracy")
    return exit_frontier(ls, ext, data, limits)


def test_each_row_is_the_best_neuron_up_to_its_layer():
    data = _data(200, 200)
    rows = _frontier(data, [0.4, 0.2, 0.3, 0.0], {0: 8.0, 1: 5.0, 2: 3.0, 3: 2.0})
    assert [r["exit_layer"] for r in rows] == [0, 1, 2, 3]
    assert [r["layer"] for r in rows] == [0, 1, 1, 3]  # layer 2's neuron is worse than layer 1's
    assert [r["flop_limit"] for r in rows] == [8.0, 5.0, 5.0, 2.0]  # the limit of the neuron's own exit
    probe = [r["probe_accuracy"] for r in rows]
    assert probe == sorted(probe)  # the best up to L can only improve with L
    for r in rows:
        assert r["test_ci_low"] <= r["test_accuracy"] <= r["test_ci_high"]


def test_recommends_the_earliest_exit_not_significantly_below_the_best():
    data = _data(400, 200)
    rows = _frontier(data, [0.35, 0.005, 0.0, 0.0])
    rec = recommended_row(rows)
    assert rec["exit_layer"] == 1  # layer 0 (35% wrong) is far below; layer 1 (3 of 600 wrong) is not significantly
    assert rows[0]["p_vs_best"] < 0.05 <= rows[1]["p_vs_best"]
    assert sum(r["recommended"] for r in rows) == 1


def test_the_best_itself_is_recommended_when_every_earlier_exit_is_worse():
    data = _data(400, 200)
    rows = _frontier(data, [0.4, 0.3, 0.25, 0.0])
    assert recommended_row(rows)["exit_layer"] == 3


def test_the_test_split_never_decides():
    data = _data(200, 200)
    flips = [0.1, 0.05, 0.0]
    ext = _ext(data, flips)
    ls = score_layers(ext, ("mlp",), (0, 1, 2), data, "auto", "accuracy")
    rec = recommended_row(exit_frontier(ls, ext, data))
    shuffled = SplitData(data.p_idx, data.t_idx, data.y_codes.copy(), 2)
    shuffled.y_codes[data.t_idx] = np.random.default_rng(5).permutation(shuffled.y_codes[data.t_idx])
    rec2 = recommended_row(exit_frontier(ls, ext, shuffled))
    assert rec2["neuron_id"] == rec["neuron_id"] and rec2["test_accuracy"] != pytest.approx(rec["test_accuracy"])
