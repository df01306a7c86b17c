"""``SearchResult``: everything one search produced, its store format (save / load) and the listing of stored searches.

Large activations stay in the activation store and are read on demand (``neuron_values``, ``examples``). Tables come
from ``sn_core.scoring.ranking``; the headline figures are a typed :class:`~sn_core.search.summary.SearchSummary`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sn_core.config import SearchConfig
from sn_core.data import Split, Task
from sn_core.data.resolve import TaskError, rebuild_task
from sn_core.scoring.ranking import (FRONTIER_COLUMNS, LAYER_BEST_COLUMNS, LAYER_TOP_COLUMNS, SHORTCUT_ALPHA, TOP_K_COLUMNS,
                      recommended_row)
from sn_core.sites import parse_neuron_id, site_kind
from sn_core.search.plan import SEARCH_FORMAT, positions_of  # 2: typed summary, frontier, per-layer top-k always stored
from sn_core.search.summary import SearchSummary



class NeuronValues(NamedTuple):
    values: np.ndarray  # [n_examples] float32, in the order of ``SearchResult.example_index``
    labels: np.ndarray  # [n_examples] str
    split: np.ndarray  # [n_examples] "probe" | "test"


# ------------------------------------------------------------------------------------------ result
@dataclass
class SearchResult:
    """Everything a search produced; see docs/api.md. Large activations stay in the store, read on demand."""

    key: str
    config: SearchConfig
    summary: SearchSummary
    labels: tuple[str, ...]
    example_index: np.ndarray  # [n_examples] indices into the task's examples that were extracted
    y: np.ndarray  # [n_examples] str labels (aligned with example_index)
    split: Split  # probe / test indices into the task's examples
    sites: tuple[str, ...]
    layers: tuple[int, ...]
    top_k: "object"  # pandas DataFrame
    baselines: dict
    extraction_key: str
    cache_hit: bool = False
    root: object = None
    _scores: dict = field(default_factory=dict, repr=False)
    _layer_best: dict = field(default_factory=dict, repr=False)
    _layer_top: dict = field(default_factory=dict, repr=False)  # kind -> rows of the top LAYER_TOP (or k) per layer
    _task: Task | None = field(default=None, repr=False)
    _task_spec: dict = field(default_factory=dict, repr=False)
    _frontier: list = field(default_factory=list, repr=False)  # ranking.exit_frontier rows
    _extraction: object = field(default=None, repr=False)

    # ---------------------------------------------------------------- tables
    def scores(self, site: str) -> np.ndarray:
        """Probe scores ``[n_layers, width]`` of every neuron of ``site`` (row i = ``layers[i]``)."""
        kind = site_kind(site)
        if kind not in self._scores:
            raise KeyError(f"site {kind!r} was not searched (searched: {', '.join(self.sites)})")
        return self._scores[kind]

    def layer_best(self, site: str):
        """Per layer: the best neuron by probe score, its probe score and held-out test accuracy."""
        import pandas as pd

        kind = site_kind(site)
        if kind not in self._layer_best:
            raise KeyError(f"site {kind!r} was not searched (searched: {', '.join(self.sites)})")
        return pd.DataFrame(self._layer_best[kind], columns=list(LAYER_BEST_COLUMNS))

    def layer_top(self, site: str, k: int | None = None):
        """Per layer: the top ``k`` neurons by probe score (default ``config.k``; docs/method.md: "top-k per layer"),
        ranked as the global table ranks them (``rank`` within the layer), each with its held-out test accuracy.
        Stored to depth ``max(k, LAYER_TOP)`` at search time; ``layer_top(site, 1)`` is ``layer_best(site)``."""
        import pandas as pd

        kind = site_kind(site)
        if kind not in self._layer_best:
            raise KeyError(f"site {kind!r} was not searched (searched: {', '.join(self.sites)})")
        k = self.config.k if k is None else k
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        rows = self._layer_top[kind]
        depth, width = max((r["rank"] for r in rows), default=0), self.scores(kind).shape[1]
        if k > depth and depth < width:  # (a layer narrower than k just gives all its neurons)
            raise ValueError(f"per-layer rankings were kept to depth {depth}; k={k} needs a search with k >= {k}")
        return pd.DataFrame([r for r in rows if r["rank"] <= k], columns=list(LAYER_TOP_COLUMNS))

    # ---------------------------------------------------------------- activations
    @property
    def extraction(self):
        if self._extraction is None:
            from sn_core.activations.extract import Extraction
            from sn_core.store.cache import ActivationStore

            store = ActivationStore(self.extraction_key, root=self.root)
            if not store.is_complete():
                raise FileNotFoundError(f"the activations of search {self.key} are no longer in the store; "
                                        "re-run the search")
            meta = store.meta()
            self._extraction = Extraction(self.extraction_key, tuple(meta["sites"]), tuple(meta["layers"]),
                                          int(meta["n_examples"]), True, store)
        return self._extraction

    def _column(self, nid: str) -> np.ndarray:
        kind, layer, index = parse_neuron_id(nid)
        arr = self.extraction.get(kind, layer)  # [n_examples, width]
        if index >= arr.shape[1]:
            raise ValueError(f"neuron {nid}: index {index} out of range (width {arr.shape[1]})")
        return arr[:, index]

    def _split_names(self) -> np.ndarray:
        names = np.array(["unused"] * len(self.example_index), dtype=object)
        names[self.positions("probe")] = "probe"
        names[self.positions("test")] = "test"
        return names.astype(str)

    def neuron_values(self, nid: str) -> NeuronValues:
        """(values, labels, split) of one neuron over the extracted examples (order of ``example_index``)."""
        return NeuronValues(self._column(nid).astype(np.float32), self.y.copy(), self._split_names())

    def positions(self, which) -> np.ndarray:
        """Rows of the stored activations (``example_index`` order) of ``which``: ``"probe"`` or ``"test"`` (in
        ``split.probe`` / ``split.test`` order: the order the stored baseline answers follow), or task indices."""
        idx = {"probe": self.split.probe, "test": self.split.test}.get(which, which) if isinstance(which, str) \
            else which
        if isinstance(idx, str):
            raise ValueError(f"positions of 'probe', 'test' or task indices, not {which!r}")
        return positions_of(self.example_index, idx)

    def summary_value(self, key: str, default=None):
        """``summary.<key>`` (a field of ``SearchSummary`` or one kept in its ``extra``), else ``default``."""
        value = getattr(self.summary, key, default)
        return (self.summary.extra or {}).get(key, default) if value is default else value

    def chosen_neuron_ids(self) -> list[str]:
        """The search's Super Neuron(s): the first ``config.k`` rows of its ranking."""
        ids = self.summary_value("sn_neuron_ids")
        return list(ids) if ids else list(self.top_k["neuron_id"][: self.config.k])

    def classifier(self, neuron_ids=None):
        """A :class:`SuperNeuronClassifier` over ``neuron_ids`` (default: the top-k), fitted on the probe split,
        with the artifact metadata (model, weights hash, task, instruction) set."""
        from sn_core.classifier.estimator import SuperNeuronClassifier

        if neuron_ids is None:
            neuron_ids = list(self.top_k["neuron_id"][: self.config.k])
        if isinstance(neuron_ids, str):
            neuron_ids = [neuron_ids]
        if len(neuron_ids) == 0:
            raise ValueError("give at least one neuron id (e.g. the search's sn_neuron_id)")
        p = self.positions("probe")
        X = np.stack([self._column(n)[p] for n in neuron_ids], axis=1)  # [n_probe, k]
        clf = SuperNeuronClassifier(neurons=tuple(neuron_ids), rule=self.config.rule, metric=self.config.metric)
        clf.fit(X, self.y[p])
        s = self.summary
        clf.meta_ = {"model_id": s.model_id, "weights_hash": s.weights_hash, "task": s.task,
                     "instruction": s.instruction, "prompt": s.prompt_template,
                     "meta": {"search_key": self.key, "seed": self.config.seed,
                              "probe_per_class": self.config.probe_per_class,
                              "dtype": s.dtype}}  # the precision its thresholds were fitted in
        return clf

    def neuron_params(self, nid: str) -> dict:
        """The fitted 1-D rule of one neuron on the probe split (``SuperNeuronClassifier.neuron_rule``)."""
        return self.classifier([nid]).neuron_rule(0)

    def test_accuracy(self, neuron_ids) -> float:
        """Held-out accuracy of the vote of ``neuron_ids`` (fitted on the probe split)."""
        clf = self.classifier(neuron_ids)
        t = self.positions("test")
        X = np.stack([self._column(n)[t] for n in clf.neurons_], axis=1)
        return float(clf.score(X, self.y[t]))

    # ---------------------------------------------------------------- examples
    @property
    def task(self) -> Task:
        if self._task is None:
            from sn_core.data.tasks import task_fingerprint

            task = rebuild_task(self._task_spec)
            if task_fingerprint(task) != self.summary.task_fingerprint:
                raise TaskError(f"task {task.name!r} changed on disk since search {self.key} ran; re-run it")
            self._task = task
        return self._task

    def examples(self, nid: str, n: int = 8, which: str = "top", split: str = "test") -> list[tuple]:
        """The ``n`` examples of ``split`` ("probe", "test" or "all") where ``nid`` is highest (``which="top"``)
        or lowest: ``[(example index, value, Example), ...]``."""
        if which not in ("top", "bottom"):
            raise ValueError(f"which must be 'top' or 'bottom', got {which!r}")
        values = self._column(nid)
        pos = np.arange(len(values)) if split == "all" else self.positions(split)
        order = pos[np.argsort(values[pos], kind="stable")]
        order = order[::-1][:n] if which == "top" else order[:n]
        task = self.task
        return [(int(self.example_index[i]), float(values[i]), task.examples[int(self.example_index[i])])
                for i in order]

    # ---------------------------------------------------------------- exit layers
    def frontier(self):
        """The exit-layer frontier (``ranking.exit_frontier``): per searched layer L, the best neuron among layers
        <= L with its probe / test accuracy, 95% interval, FLOP limit and whether it is the recommended shortcut."""
        import pandas as pd

        return pd.DataFrame(self._frontier, columns=list(FRONTIER_COLUMNS))

    @property
    def shortcut_neuron_id(self) -> str:
        """The recommended shortcut's neuron (the Super Neuron where no frontier row qualifies)."""
        row = recommended_row(self._frontier)
        return row["neuron_id"] if row else self.summary.sn_neuron_id

    def shortcut_explanation(self) -> str:
        """One paragraph: which neuron is the recommended shortcut, and why (for pages and the CLI)."""
        row, s = recommended_row(self._frontier), self.summary
        if row is None:
            return "No exit-layer frontier was computed for this search."
        best = self._frontier[-1]
        where = (f"**{row['neuron_id']}** exits after decoder layer {row['layer']} of {s.n_layers_total}"
                 + (f" (FLOP limit {row['flop_limit']:.1f}x)" if row.get("flop_limit") else ""))
        if row["neuron_id"] == best["neuron_id"]:
            return (f"Recommended shortcut: {where}. It is the overall best neuron of the search; every earlier "
                    f"exit's best neuron is significantly below it on the probe split (exact McNemar, "
                    f"p < {SHORTCUT_ALPHA}).")
        return (f"Recommended shortcut: {where}: the earliest exit whose best neuron is not significantly below the "
                f"overall best ({best['neuron_id']}) on the probe split: probe accuracy {row['probe_accuracy']:.3f} "
                f"vs {best['probe_accuracy']:.3f}, exact McNemar p = {row['p_vs_best']:.2g} (>= {SHORTCUT_ALPHA}). "
                f"Held-out test accuracy {row['test_accuracy']:.3f} (95% CI {row['test_ci_low']:.3f}-"
                f"{row['test_ci_high']:.3f}) vs {best['test_accuracy']:.3f} for the overall best.")

    def neuron_problem(self, nid: str) -> str | None:
        """Why neuron ``nid`` cannot be read in this search (not an id, a site / layer it did not search, an index
        past the site's width), or None if it can."""
        try:
            kind, layer, index = parse_neuron_id(nid)
        except ValueError as e:
            return str(e)
        if kind not in self.sites:
            return (f"the {kind} site of {nid} was not searched; this search covers the site(s) "
                    f"{', '.join(self.sites)} (run a search with that site to inspect it)")
        if layer not in self.layers:
            return (f"layer {layer} of {nid} was not searched; this search covers layers "
                    f"{', '.join(map(str, self.layers))}")
        width = self.scores(kind).shape[1]
        if index >= width:
            return f"{nid} is out of range: the {kind} site has {width} neurons per layer"
        return None

    # ---------------------------------------------------------------- persistence
    def _save(self, store) -> None:
        for kind, arr in self._scores.items():
            store.write_array(f"scores.{kind}", np.asarray(arr, dtype=np.float64))  # as computed: reopened == fresh
        s = self.summary.to_json()
        store.write_json("result", {
            "format": SEARCH_FORMAT, "config": self.config.to_dict(), "summary": s,
            "labels": list(self.labels), "example_index": self.example_index.tolist(), "y": self.y.tolist(),
            "split": self.split.to_dict(), "sites": list(self.sites), "layers": list(self.layers),
            "top_k": self.top_k.to_dict(orient="records"), "layer_best": self._layer_best,
            "layer_top": self._layer_top, "frontier": self._frontier,
            "baselines": self.baselines, "extraction_key": self.extraction_key, "task_spec": self._task_spec})
        store.mark_complete({"kind": "search", "format": SEARCH_FORMAT, "model_id": s["model_id"], "task": s["task"],
                             "summary": {k: s[k] for k in LISTED_FIELDS}, "config": self.config.to_dict()})

    @classmethod
    def load(cls, key: str, root=None, task: Task | None = None) -> "SearchResult":
        """Reopen a finished search from the store (``cache_hit`` true)."""
        import pandas as pd

        from sn_core.store.cache import ActivationStore

        store = ActivationStore(key, root=root)
        if not store.is_complete() or store.meta().get("kind") != "search":
            raise KeyError(f"no finished search with key {key!r} in the store")
        doc = store.read_json("result")
        if doc.get("format") != SEARCH_FORMAT:
            raise KeyError(f"search {key!r} was stored in format {doc.get('format')!r}; this version reads format "
                           f"{SEARCH_FORMAT}: re-run the search")
        sites = tuple(doc["sites"])
        summary = SearchSummary.from_json(doc["summary"])
        summary.cache_hit = True
        summary.extraction_cache_hit = True  # reopening a finished search extracts nothing: all from the store
        return cls(key=key, config=SearchConfig.from_dict(doc["config"]), summary=summary,
                   labels=tuple(doc["labels"]), example_index=np.asarray(doc["example_index"], dtype=np.int64),
                   y=np.asarray(doc["y"], dtype=str),
                   split=Split(np.asarray(doc["split"]["probe"], dtype=np.int64),
                               np.asarray(doc["split"]["test"], dtype=np.int64), doc["split"]["seed"]),
                   sites=sites, layers=tuple(doc["layers"]),
                   top_k=pd.DataFrame(doc["top_k"], columns=list(TOP_K_COLUMNS)),
                   baselines=doc["baselines"], extraction_key=doc["extraction_key"], cache_hit=True, root=root,
                   _scores={k: store.read_array(f"scores.{k}").astype(np.float64) for k in sites},
                   _layer_best=doc["layer_best"], _layer_top=doc["layer_top"], _task=task,
                   _task_spec=doc["task_spec"], _frontier=doc["frontier"])


# Summary fields kept in the store's listing (read without opening each search)
LISTED_FIELDS = ("sn_neuron_id", "sn_test_accuracy", "sn_probe_accuracy", "base_accuracy", "n_probe", "n_test",
                 "shortcut_neuron_id", "shortcut_layer", "shortcut_test_accuracy")


def list_searches(root=None, skipped: list | None = None) -> list[dict]:
    """Finished searches in the store, newest first: ``{key, created, model_id, task, summary, config}``.
    A stored search this version cannot list (another format, a damaged listing entry) is left out; with a list
    given as ``skipped``, ``(key, reason)`` is appended to it for each."""
    from sn_core.store.cache import list_stores

    out = []
    for s in list_stores(root, skipped):
        meta = s.get("meta") or {}
        if not (s.get("complete") and isinstance(meta, dict) and meta.get("kind") == "search"):
            continue
        summary, config = meta.get("summary"), meta.get("config")
        if meta.get("format") != SEARCH_FORMAT or not isinstance(summary, dict) or not isinstance(config, dict):
            if skipped is not None:
                skipped.append((s["key"], "stored in another format or damaged; re-run it"))
            continue
        out.append({"key": s["key"], "created": s["modified"], "model_id": meta.get("model_id"),
                    "task": meta.get("task"), "summary": summary, "config": config})
    return out


__all__ = ["LISTED_FIELDS", "NeuronValues", "SEARCH_FORMAT", "SearchResult", "TaskError", "list_searches"]
