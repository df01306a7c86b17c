"""Ranking stage of a search: per-layer probe scores -> global top-k table, per-layer rankings, exit-layer frontier.

Every table ranks neurons the same way (docs/method.md, "Selection"): probe score descending, ties broken by class
separation on the probe split (Fisher ratio), then by (site order, layer, index). The frontier and the recommended
shortcut are decided on the probe split only; test accuracies are reported beside them, never used to choose.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sn_core.scoring.neuron_scores import NeuronScores, predict_neurons, score_neurons
from sn_core.sites import neuron_id
from sn_core.scoring.stats import mcnemar_exact, wilson_interval

LAYER_TOP = 5  # per-layer ranking depth kept by every search (more when k is larger): SearchResult.layer_top()
SHORTCUT_ALPHA = 0.05  # significance level of "not significantly below the overall best" (probe split, McNemar)
# Column order of the tables (a reopened search reads them from JSON)
TOP_K_COLUMNS = ("rank", "neuron_id", "site", "layer", "index", "probe_score", "test_accuracy", "rule", "separation")
LAYER_BEST_COLUMNS = ("layer", "neuron_id", "index", "probe_score", "test_accuracy", "rule")
LAYER_TOP_COLUMNS = ("layer", "rank", "neuron_id", "index", "probe_score", "test_accuracy", "rule", "separation")
FRONTIER_COLUMNS = ("exit_layer", "neuron_id", "layer", "probe_score", "probe_accuracy", "test_accuracy",
                    "test_ci_low", "test_ci_high", "flop_limit", "p_vs_best", "recommended")


def separation(X: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Fisher ratio per column of ``X [n, n_neurons]``: variance of the class means (weighted by class size) over
    the mean within-class variance. 0 for a constant neuron."""
    X = np.nan_to_num(X.astype(np.float64))
    onehot = np.eye(n_classes)[y]  # [n, C]
    counts = onehot.sum(0)  # [C]
    present = counts > 0
    means = (onehot.T @ X)[present] / counts[present, None]  # [C', n_neurons]
    grand = X.mean(0)  # [n_neurons]
    w = counts[present] / counts.sum()
    between = (w[:, None] * (means - grand) ** 2).sum(0)  # [n_neurons]
    within = ((X - means[np.searchsorted(np.flatnonzero(present), y)]) ** 2).mean(0)  # [n_neurons]
    return between / np.maximum(within, 1e-12)


def rank_order(scores: np.ndarray, sep: np.ndarray) -> np.ndarray:
    """Indices by (score desc, separation desc, position asc)."""
    return np.lexsort((np.arange(len(scores)), -sep, -scores))


@dataclass
class SplitData:
    """What the ranking needs of a search's examples: positions of the probe / test examples in the extraction,
    and the class codes (sorted label order, as ``SuperNeuronClassifier.classes_``) of every extracted example."""

    p_idx: np.ndarray  # [n_probe] positions into the extraction
    t_idx: np.ndarray  # [n_test]
    y_codes: np.ndarray  # [n_used] int class codes
    n_classes: int

    @property
    def yp(self) -> np.ndarray:
        return self.y_codes[self.p_idx]

    @property
    def yt(self) -> np.ndarray:
        return self.y_codes[self.t_idx]


@dataclass
class LayerScores:
    """Probe scores, separations and fitted rules of every neuron of every searched (site, layer)."""

    sites: tuple[str, ...]
    layers: tuple[int, ...]
    scores: dict  # kind -> [n_layers, width] probe scores
    sep: dict  # kind -> [n_layers, width] separations
    params: dict  # kind -> [NeuronScores per layer]

    def flat(self) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int, int]]]:
        """(scores, separations, ids) over every searched neuron, in (site order, layer, index) order."""
        ids = [(k, layer, i) for k in self.sites for layer in self.layers for i in range(self.scores[k].shape[1])]
        return (np.concatenate([self.scores[k].ravel() for k in self.sites]),
                np.concatenate([self.sep[k].ravel() for k in self.sites]), ids)

    def rule_of(self, kind: str, layer: int) -> NeuronScores:
        return self.params[kind][self.layers.index(layer)]

    def predict(self, ext, data: SplitData, kind: str, layer: int, index: list[int], where: str) -> np.ndarray:
        """Class codes ``[n, len(index)]`` the neurons' fitted rules give on the probe or test split."""
        pos = data.p_idx if where == "probe" else data.t_idx
        return predict_neurons(self.rule_of(kind, layer), ext.get(kind, layer)[pos][:, index], index=index)


def score_layers(ext, sites, layers, data: SplitData, rule: str, metric: str, progress=None) -> LayerScores:
    """Score every neuron of every (site, layer) on the probe split, vectorised per layer."""
    scores, seps, params = {}, {}, {}
    total, done = len(sites) * len(layers), 0
    for kind in sites:
        rows, sep_rows, fitted = [], [], []
        for layer in layers:
            Xp = ext.get(kind, layer)[data.p_idx]  # [n_probe, width]
            ps = score_neurons(Xp, data.yp, data.n_classes, rule=rule, metric=metric)
            rows.append(ps.scores)
            sep_rows.append(separation(Xp, data.yp, data.n_classes))
            fitted.append(ps)
            done += 1
            if progress:
                progress("score", done, total)
        scores[kind], seps[kind], params[kind] = np.stack(rows), np.stack(sep_rows), fitted
    return LayerScores(tuple(sites), tuple(layers), scores, seps, params)


def layer_rankings(ls: LayerScores, ext, data: SplitData, depth: int) -> tuple[dict, dict]:
    """Per site: each layer's best neuron (``LAYER_BEST_COLUMNS`` rows) and its top ``depth`` (``LAYER_TOP_COLUMNS``
    rows), ranked with the global tie-break, each with its held-out test accuracy."""
    layer_best, layer_top = {}, {}
    for kind in ls.sites:
        layer_best[kind], layer_top[kind] = [], []
        for li, layer in enumerate(ls.layers):
            s, sep = ls.scores[kind][li], ls.sep[kind][li]
            js = [int(j) for j in rank_order(s, sep)[:depth]]
            hits = ls.predict(ext, data, kind, layer, js, "test") == data.yt[:, None]  # [n_test, len(js)]
            for rank, (j, hit) in enumerate(zip(js, hits.T), start=1):
                row = {"layer": layer, "neuron_id": neuron_id(kind, layer, j), "index": j,
                       "probe_score": float(s[j]), "test_accuracy": float(hit.mean()),
                       "rule": ls.params[kind][li].rule}
                layer_top[kind].append(dict(row, rank=rank, separation=float(sep[j])))
                if rank == 1:
                    layer_best[kind].append(row)
    return layer_best, layer_top


def top_table(ls: LayerScores, ext, data: SplitData, n_top: int):
    """The global ranking: the first ``n_top`` neurons over every searched site and layer (``TOP_K_COLUMNS``)."""
    import pandas as pd

    scores, seps, ids = ls.flat()
    rows = []
    for rank, flat in enumerate(rank_order(scores, seps)[:n_top], start=1):
        kind, layer, j = ids[int(flat)]
        hit = ls.predict(ext, data, kind, layer, [j], "test")[:, 0] == data.yt
        rows.append({"rank": rank, "neuron_id": neuron_id(kind, layer, j), "site": kind, "layer": layer,
                     "index": j, "probe_score": float(scores[flat]), "test_accuracy": float(hit.mean()),
                     "rule": ls.rule_of(kind, layer).rule, "separation": float(seps[flat])})
    return pd.DataFrame(rows, columns=list(TOP_K_COLUMNS))


def exit_frontier(ls: LayerScores, ext, data: SplitData, flop_limits: dict | None = None,
                  alpha: float = SHORTCUT_ALPHA) -> list[dict]:
    """One row per searched layer L: the best neuron among layers <= L (global ranking), its probe score, probe
    and test accuracy (95% Wilson interval), the FLOP limit of an exit after its own layer, and the exact paired
    McNemar p-value of its probe predictions against the overall best neuron's (``p_vs_best``).

    The **recommended shortcut** (``recommended`` true on one row) is the earliest row whose neuron is not
    significantly below the overall best on the probe split: its probe accuracy is at least the best's, or the
    McNemar p-value is >= ``alpha``. Only probe data decides; the test columns are reported, never used."""
    scores, seps, ids = ls.flat()
    order = rank_order(scores, seps)
    layer_of = np.array([layer for _, layer, _ in ids])  # [n_neurons]
    rows, best_hits = [], None
    for L in sorted(ls.layers, reverse=True):  # deepest first: its row is the overall best
        flat = int(order[layer_of[order] <= L][0])  # the first neuron in the ranking at a layer <= L
        kind, layer, j = ids[flat]
        probe_hits = ls.predict(ext, data, kind, layer, [j], "probe")[:, 0] == data.yp
        test_hits = ls.predict(ext, data, kind, layer, [j], "test")[:, 0] == data.yt
        if best_hits is None:
            best_hits = probe_hits
        lo, hi = wilson_interval(int(test_hits.sum()), len(test_hits))
        rows.append({"exit_layer": L, "neuron_id": neuron_id(kind, layer, j), "layer": layer,
                     "probe_score": float(scores[flat]), "probe_accuracy": float(probe_hits.mean()),
                     "test_accuracy": float(test_hits.mean()), "test_ci_low": lo, "test_ci_high": hi,
                     "flop_limit": (flop_limits or {}).get(layer),
                     "p_vs_best": float(mcnemar_exact(probe_hits, best_hits)), "recommended": False})
    rows.reverse()
    best_acc = rows[-1]["probe_accuracy"]
    for r in rows:  # earliest first
        if r["probe_accuracy"] >= best_acc or r["p_vs_best"] >= alpha:
            r["recommended"] = True
            break
    return rows


def recommended_row(frontier: list[dict]) -> dict | None:
    return next((r for r in frontier if r["recommended"]), None)


__all__ = ["FRONTIER_COLUMNS", "LAYER_BEST_COLUMNS", "LAYER_TOP", "LAYER_TOP_COLUMNS", "LayerScores",
           "SHORTCUT_ALPHA", "SplitData", "TOP_K_COLUMNS", "exit_frontier", "layer_rankings", "rank_order",
           "recommended_row", "score_layers", "separation", "top_table"]
