"""Probe-size curve: how the selected neuron's held-out accuracy depends on the number of probe examples per class.

:func:`probe_size_curve` reuses a search's stored activations (no forward pass). For each probe size ``s`` (examples
per class) and split seed, it re-splits the search's extracted examples with ``sn_core.data.make_split(y, s,
seed=seed)`` (stratified; every remaining extracted example is the test split), scores every searched neuron (the
search's sites and layers) on the new probe split with ``sn_core.scoring.neuron_scores.score_neurons`` (the search's rule and
metric), ranks them with the search's own tie-break (probe score, then class separation, then site / layer /
index order), fits the top-``k`` vote on that probe split and records its test accuracy with a 95% Wilson interval.
It also refits the search's own Super Neuron(s) on the same probe split, so the two effects (which neuron is
picked; how well its threshold is fitted) can be told apart.

A size for which some class has too few extracted examples (``s`` probe + 1 test) gets one row with a ``note``
and no accuracies. :func:`probe_curve_summary` aggregates over seeds, per size.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sn_core.progress import Progress
from sn_core.scoring.stats import wilson_interval

DEFAULT_SIZES = (5, 10, 20, 50, 100)
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
CURVE_COLUMNS = ("probe_per_class", "seed", "n_probe", "n_test", "neuron_id", "neuron_ids", "probe_score",
                 "test_accuracy", "test_ci_low", "test_ci_high", "same_as_search", "search_neuron_test_accuracy",
                 "search_neuron_ci_low", "search_neuron_ci_high", "note")
SUMMARY_COLUMNS = ("probe_per_class", "n_seeds", "n_probe", "n_test", "test_accuracy_mean", "test_accuracy_min",
                   "test_accuracy_max", "search_neuron_test_accuracy_mean", "share_same_as_search", "note")


def _positive_ints(name: str, values) -> tuple[int, ...]:
    out = []
    for v in values:
        if isinstance(v, bool) or int(v) != v or (name == "sizes" and v < 1) or v < 0:
            raise ValueError(f"probe-size curve: {name} must be {'positive' if name == 'sizes' else 'non-negative'} "
                             f"integers, got {v!r}")
        out.append(int(v))
    if not out:
        raise ValueError(f"probe-size curve: no {name} given")
    return tuple(dict.fromkeys(out))


class _Candidates:
    """The searched neurons of ``res``, each layer's activations read once, in the search's flat neuron order
    (site-major, then layer, then index)."""

    def __init__(self, res):
        self.ext = res.extraction
        self.blocks = [(kind, layer) for kind in res.sites for layer in res.layers]
        self.cols = {b: self.ext.get(*b) for b in self.blocks}  # [n_used, width] each
        self.offsets = np.concatenate([[0], np.cumsum([self.cols[b].shape[1] for b in self.blocks])])

    def column(self, nid: str) -> np.ndarray:
        """One neuron's values ``[n_used]`` (also a neuron outside the searched layers, read from the store)."""
        from sn_core.sites import parse_neuron_id

        kind, layer, index = parse_neuron_id(nid)
        cols = self.cols[(kind, layer)] if (kind, layer) in self.cols else self.ext.get(kind, layer)
        return cols[:, index]

    def select(self, p: np.ndarray, yp: np.ndarray, n_classes: int, cfg, k: int) -> tuple[list[str], float]:
        """The top ``k`` neuron ids on the probe positions ``p`` (codes ``yp``), ranked as the search ranks, and the
        first one's probe score."""
        from sn_core.scoring.ranking import rank_order, separation
        from sn_core.scoring.neuron_scores import score_neurons
        from sn_core.sites import neuron_id

        scores, seps = np.empty(self.offsets[-1]), np.empty(self.offsets[-1])
        for bi, b in enumerate(self.blocks):
            Xp = self.cols[b][p]  # [n_probe, width]
            lo, hi = self.offsets[bi], self.offsets[bi + 1]
            scores[lo:hi] = score_neurons(Xp, yp, n_classes, rule=cfg.rule, metric=cfg.metric).scores
            seps[lo:hi] = separation(Xp, yp, n_classes)
        top = rank_order(scores, seps)[:k]
        ids = []
        for flat in top:
            bi = int(np.searchsorted(self.offsets, flat, side="right") - 1)
            ids.append(neuron_id(self.blocks[bi][0], self.blocks[bi][1], int(flat - self.offsets[bi])))
        return ids, float(scores[top[0]])

    def vote_accuracy(self, ids: list[str], cfg, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> float:
        """Test accuracy on ``t`` of the vote of ``ids`` fitted on ``p``."""
        from sn_core.classifier.estimator import SuperNeuronClassifier

        X = np.stack([self.column(n) for n in ids], axis=1)  # [n_used, k]
        clf = SuperNeuronClassifier(neurons=tuple(ids), rule=cfg.rule, metric=cfg.metric)
        clf.fit(X[p], y[p])
        return float(clf.score(X[t], y[t]))


def probe_size_curve(res, sizes: Sequence[int] = DEFAULT_SIZES, seeds: Sequence[int] = DEFAULT_SEEDS,
                     progress: Progress | None = None):
    """One row per (probe size, seed) (``CURVE_COLUMNS``); see the module docstring."""
    import pandas as pd

    from sn_core.data import make_split

    sizes, seeds = _positive_ints("sizes", sizes), _positive_ints("seeds", seeds)
    cfg = res.config
    labels = tuple(res.labels)  # sorted label order: the search's class codes
    y = np.asarray(res.y, dtype=str)  # [n_used]
    code = {lbl: i for i, lbl in enumerate(labels)}
    yc = np.array([code[v] for v in y], dtype=np.int64)
    counts = {lbl: int((y == lbl).sum()) for lbl in labels}
    cand = _Candidates(res)
    search_ids = res.chosen_neuron_ids()

    rows = []
    feasible = [s for s in sizes if min(counts.values()) >= s + 1]
    total, done = len(feasible) * len(seeds), 0
    for s in sizes:
        if s not in feasible:
            small = min(counts, key=counts.get)
            rows.append({"probe_per_class": s, "seed": None, "note": (
                f"skipped: {s} probe examples per class need {s + 1} of every class; class {small!r} has "
                f"{counts[small]} of the {len(y)} searched examples")})
            continue
        for seed in seeds:
            split = make_split(y, s, None, seed)  # positions into the extracted examples
            p, t = split.probe, split.test
            ids, probe_score = cand.select(p, yc[p], len(labels), cfg, int(cfg.k))
            acc = cand.vote_accuracy(ids, cfg, y, p, t)
            acc_search = acc if ids == search_ids else cand.vote_accuracy(search_ids, cfg, y, p, t)
            n_t = len(t)
            lo, hi = wilson_interval(int(round(acc * n_t)), n_t)
            slo, shi = wilson_interval(int(round(acc_search * n_t)), n_t)
            rows.append({"probe_per_class": s, "seed": int(seed), "n_probe": int(len(p)), "n_test": int(n_t),
                         "neuron_id": ids[0], "neuron_ids": ids, "probe_score": probe_score,
                         "test_accuracy": acc, "test_ci_low": lo, "test_ci_high": hi,
                         "same_as_search": ids == search_ids, "search_neuron_test_accuracy": acc_search,
                         "search_neuron_ci_low": slo, "search_neuron_ci_high": shi, "note": None})
            done += 1
            if progress:
                progress("probe-curve", done, total)
    df = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    for c in ("seed", "n_probe", "n_test"):  # integers, missing on a skipped size's row
        df[c] = df[c].astype("Int64")
    df.attrs["notes"] = [r["note"] for r in rows if r.get("note")]
    df.attrs["search_neuron_ids"] = search_ids
    return df


def probe_curve_summary(curve):
    """Per probe size (``SUMMARY_COLUMNS``): seeds run, split sizes, mean / min / max test accuracy of the selected
    neuron, mean test accuracy of the search's neuron refitted, and the share of seeds selecting the search's
    neuron. Skipped sizes keep their note."""
    import pandas as pd

    out = []
    for s, g in curve.groupby("probe_per_class", sort=True):
        ok = g[g["note"].isna()]
        if ok.empty:
            out.append({"probe_per_class": int(s), "n_seeds": 0, "note": g["note"].iloc[0]})
            continue
        acc = ok["test_accuracy"].astype(float)
        out.append({"probe_per_class": int(s), "n_seeds": int(len(ok)), "n_probe": int(ok["n_probe"].iloc[0]),
                    "n_test": int(ok["n_test"].iloc[0]), "test_accuracy_mean": float(acc.mean()),
                    "test_accuracy_min": float(acc.min()), "test_accuracy_max": float(acc.max()),
                    "search_neuron_test_accuracy_mean": float(ok["search_neuron_test_accuracy"].astype(float).mean()),
                    "share_same_as_search": float(ok["same_as_search"].astype(bool).mean()), "note": None})
    df = pd.DataFrame(out, columns=list(SUMMARY_COLUMNS))
    for c in ("n_probe", "n_test"):
        df[c] = df[c].astype("Int64")
    return df


def curve_to_json(curve) -> dict:
    """``{"rows": [...], "summary": [...], "notes": [...], "search_neuron_ids": [...]}`` with NaN as null."""
    def records(df):
        return [{k: _native(v) for k, v in r.items()} for r in df.to_dict(orient="records")]

    return {"rows": records(curve), "summary": records(probe_curve_summary(curve)),
            "notes": list(curve.attrs.get("notes", [])),
            "search_neuron_ids": list(curve.attrs.get("search_neuron_ids", []))}


def _native(v):
    if isinstance(v, (list, tuple)):
        return [_native(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and v != v) or v is _NA:
        return None
    return v


try:
    from pandas import NA as _NA
except ImportError:  # pragma: no cover - pandas is a dependency
    _NA = object()


__all__ = ["CURVE_COLUMNS", "DEFAULT_SEEDS", "DEFAULT_SIZES", "SUMMARY_COLUMNS", "curve_to_json",
           "probe_curve_summary", "probe_size_curve"]
