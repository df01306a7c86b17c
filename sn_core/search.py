"""Super Neuron search: task -> split -> activations -> probe scores of every neuron -> top-k -> held-out accuracy.

``run_search(SearchConfig(...))`` does the whole pipeline of method.md and returns a :class:`SearchResult`, which is
also written to the store, so the same config (same model weights, task content and settings) reopens instantly
(``cache_hit`` true). Choices method.md leaves open, made here (also in docs/method-choices.md):

- Neurons are ranked by probe score (``metric``), ties broken by class separation on the probe split (Fisher
  ratio: variance of the class means over the mean within-class variance), then by (site order, layer, index).
  Many neurons can reach the same probe accuracy on a small probe split; the better-separated one generalises
  better and is the one a researcher would pick.
- ``sn_test_accuracy`` is the held-out accuracy of the top-``k`` vote (k=1: the top neuron alone);
  ``sn_probe_accuracy`` its accuracy on the probe split it was chosen on (optimistic by construction).
- The null control scores every searched neuron on shuffled probe labels (``sn_core.scoring.null_control``) and
  reports the best score: how high a probe score chance alone reaches with this many neurons and examples.
- Baselines need ``attn`` and ``resid`` at every layer, so with ``baselines=True`` those sites are extracted at all
  layers in the same pass.
"""
from __future__ import annotations

import dataclasses

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from .config import SearchConfig
from .data import Split, Task, bundled_task_names, get_task, load_image_folder, load_manifest, make_split
from .metrics import chance_accuracy
from .sites import SITE_KINDS, neuron_id, parse_neuron_id, site_kind

Progress = Callable[[str, int, int], None]
SEARCH_FORMAT = 1
LAYER_TOP = 5  # per-layer ranking depth kept by every search (more when k is larger): layer_top()
# Column order of the tables (a reopened search reads them from JSON, whose keys come back sorted)
TOP_K_COLUMNS = ("rank", "neuron_id", "site", "layer", "index", "probe_score", "test_accuracy", "rule", "separation")
LAYER_BEST_COLUMNS = ("layer", "neuron_id", "index", "probe_score", "test_accuracy", "rule")
LAYER_TOP_COLUMNS = ("layer", "rank", "neuron_id", "index", "probe_score", "test_accuracy", "rule", "separation")


class TaskError(ValueError):
    """A task name or path that cannot be turned into a task."""


# ------------------------------------------------------------------------------------------ tasks
def resolve_task(config: SearchConfig) -> Task:
    """The config's task: a bundled name (``n_examples`` from its eval part, ``data_seed``), a JSONL/CSV manifest,
    or an image folder (one subfolder per class, ``config.question`` asked of every image)."""
    name = config.task
    if name in bundled_task_names():
        task = get_task(name, config.n_examples, seed=config.data_seed, part="eval")
    else:
        p = Path(name).expanduser()
        if p.is_file():
            task = load_manifest(p)
        elif p.is_dir():
            if not config.question:
                raise TaskError(f"task {name!r} is an image folder; give the question to ask (--question)")
            task = load_image_folder(p, config.question)
        else:
            raise TaskError(f"unknown task {name!r}: not a bundled task ({', '.join(bundled_task_names())}) "
                            "and no such manifest file or image folder")
    if config.instruction is not None:
        task.instruction = config.instruction
    return task


def _task_spec(task: Task, config: SearchConfig) -> dict:
    """How to rebuild ``task`` when the search is reopened (the fingerprint check then proves it is the same)."""
    if task.source == "bundled" and task.name in bundled_task_names():
        origin = task.origin or {"n": len(task), "seed": config.data_seed, "part": "eval"}
        return {"kind": "bundled", "name": task.name, "n": int(origin["n"]), "data_seed": int(origin["seed"]),
                "part": origin.get("part", "eval"), "instruction": task.instruction}
    p = Path(task.source)
    if p.is_file():
        return {"kind": "manifest", "path": str(p.resolve()), "instruction": task.instruction}
    if p.is_dir():
        return {"kind": "folder", "path": str(p.resolve()), "question": task.examples[0].question,
                "instruction": task.instruction}
    return {"kind": "memory", "name": task.name}


def _rebuild_task(spec: dict) -> Task:
    kind = spec.get("kind")
    if kind == "bundled":
        task = get_task(spec["name"], spec["n"], seed=spec["data_seed"], part=spec.get("part", "eval"))
    elif kind == "manifest":
        task = load_manifest(spec["path"])
    elif kind == "folder":
        task = load_image_folder(spec["path"], spec["question"])
    else:
        raise TaskError(f"task {spec.get('name')!r} was given in memory and cannot be rebuilt; pass task= to "
                        "SearchResult.load")
    task.instruction = spec.get("instruction", task.instruction)
    return task


# ------------------------------------------------------------------------------------------ helpers
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


def _rank(scores: np.ndarray, sep: np.ndarray) -> np.ndarray:
    """Indices by (score desc, separation desc, position asc)."""
    return np.lexsort((np.arange(len(scores)), -sep, -scores))


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
    summary: dict
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
        """Per layer: the top ``k`` neurons by probe score (default ``config.k``; method.md: "top-k per layer"),
        ranked as the global table ranks them (``rank`` within the layer), each with its held-out test accuracy.
        Stored to depth ``max(k, LAYER_TOP)`` at search time; ``layer_top(site, 1)`` is ``layer_best(site)``."""
        import pandas as pd

        kind = site_kind(site)
        if kind not in self._layer_best:
            raise KeyError(f"site {kind!r} was not searched (searched: {', '.join(self.sites)})")
        k = self.config.k if k is None else k
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        rows = self._layer_top.get(kind)
        if rows is None:  # a search saved before per-layer rankings were stored: only the best of each layer
            if k > 1:
                raise ValueError("this search was saved before per-layer rankings were kept; re-run it for the "
                                 f"top {k} of each layer")
            rows = [dict(r, rank=1) for r in self._layer_best[kind]]
        depth, width = max((r["rank"] for r in rows), default=0), self.scores(kind).shape[1]
        if k > depth and depth < width:  # (a layer narrower than k just gives all its neurons)
            raise ValueError(f"per-layer rankings were kept to depth {depth}; k={k} needs a search with k >= {k}")
        # (separation: NaN for a search saved before per-layer rankings were kept)
        return pd.DataFrame([r for r in rows if r["rank"] <= k], columns=list(LAYER_TOP_COLUMNS))

    # ---------------------------------------------------------------- activations
    @property
    def extraction(self):
        if self._extraction is None:
            from .extract import Extraction
            from .store import ActivationStore

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
        pos = {int(e): i for i, e in enumerate(self.example_index)}
        names = np.array(["unused"] * len(self.example_index), dtype=object)
        names[[pos[int(i)] for i in self.split.probe]] = "probe"
        names[[pos[int(i)] for i in self.split.test]] = "test"
        return names.astype(str)

    def neuron_values(self, nid: str) -> NeuronValues:
        """(values, labels, split) of one neuron over the extracted examples (order of ``example_index``)."""
        return NeuronValues(self._column(nid).astype(np.float32), self.y.copy(), self._split_names())

    def _positions(self, which: str) -> np.ndarray:
        pos = {int(e): i for i, e in enumerate(self.example_index)}
        idx = self.split.probe if which == "probe" else self.split.test
        return np.array([pos[int(i)] for i in idx], dtype=np.int64)

    def classifier(self, neuron_ids=None):
        """A :class:`SuperNeuronClassifier` over ``neuron_ids`` (default: the top-k), fitted on the probe split,
        with the artifact metadata (model, weights hash, task, instruction) set."""
        from .classifier import SuperNeuronClassifier

        if neuron_ids is None:
            neuron_ids = list(self.top_k["neuron_id"][: self.config.k])
        if isinstance(neuron_ids, str):
            neuron_ids = [neuron_ids]
        if len(neuron_ids) == 0:
            raise ValueError("give at least one neuron id (e.g. the search's sn_neuron_id)")
        p = self._positions("probe")
        X = np.stack([self._column(n)[p] for n in neuron_ids], axis=1)  # [n_probe, k]
        clf = SuperNeuronClassifier(neurons=tuple(neuron_ids), rule=self.config.rule, metric=self.config.metric)
        clf.fit(X, self.y[p])
        clf.meta_ = {"model_id": self.summary["model_id"], "weights_hash": self.summary["weights_hash"],
                     "task": self.summary["task"], "instruction": self.summary.get("instruction"),
                     "prompt": self.summary.get("prompt_template"),
                     "meta": {"search_key": self.key, "seed": self.config.seed,
                              "probe_per_class": self.config.probe_per_class,
                              "dtype": self.summary.get("dtype")}}  # the precision its thresholds were fitted in
        return clf

    def neuron_params(self, nid: str) -> dict:
        """The fitted 1-D rule of one neuron on the probe split (``SuperNeuronClassifier.neuron_rule``)."""
        return self.classifier([nid]).neuron_rule(0)

    def test_accuracy(self, neuron_ids) -> float:
        """Held-out accuracy of the vote of ``neuron_ids`` (fitted on the probe split)."""
        clf = self.classifier(neuron_ids)
        t = self._positions("test")
        X = np.stack([self._column(n)[t] for n in clf.neurons_], axis=1)
        return float(clf.score(X, self.y[t]))

    # ---------------------------------------------------------------- examples
    @property
    def task(self) -> Task:
        if self._task is None:
            from .extract import task_fingerprint

            task = _rebuild_task(self._task_spec)
            if task_fingerprint(task) != self.summary.get("task_fingerprint"):
                raise TaskError(f"task {task.name!r} changed on disk since search {self.key} ran; re-run it")
            self._task = task
        return self._task

    def examples(self, nid: str, n: int = 8, which: str = "top", split: str = "test") -> list[tuple]:
        """The ``n`` examples of ``split`` ("probe", "test" or "all") where ``nid`` is highest (``which="top"``)
        or lowest: ``[(example index, value, Example), ...]``."""
        if which not in ("top", "bottom"):
            raise ValueError(f"which must be 'top' or 'bottom', got {which!r}")
        values = self._column(nid)
        pos = np.arange(len(values)) if split == "all" else self._positions(split)
        order = pos[np.argsort(values[pos], kind="stable")]
        order = order[::-1][:n] if which == "top" else order[:n]
        task = self.task
        return [(int(self.example_index[i]), float(values[i]), task.examples[int(self.example_index[i])])
                for i in order]

    # ---------------------------------------------------------------- persistence
    def _save(self, store) -> None:
        for kind, arr in self._scores.items():
            store.write_array(f"scores.{kind}", np.asarray(arr, dtype=np.float64))  # as computed: reopened == fresh
        store.write_json("result", {
            "format": SEARCH_FORMAT, "config": self.config.to_dict(), "summary": self.summary,
            "labels": list(self.labels), "example_index": self.example_index.tolist(), "y": self.y.tolist(),
            "split": self.split.to_dict(), "sites": list(self.sites), "layers": list(self.layers),
            "top_k": self.top_k.to_dict(orient="records"), "layer_best": self._layer_best,
            "layer_top": self._layer_top,
            "baselines": self.baselines, "extraction_key": self.extraction_key, "task_spec": self._task_spec})
        store.mark_complete({"kind": "search", "model_id": self.summary["model_id"], "task": self.summary["task"],
                             "summary": {k: self.summary.get(k) for k in (
                                 "sn_neuron_id", "sn_test_accuracy", "sn_probe_accuracy", "base_accuracy",
                                 "n_probe", "n_test")},
                             "config": self.config.to_dict()})

    @classmethod
    def load(cls, key: str, root=None, task: Task | None = None) -> "SearchResult":
        """Reopen a finished search from the store (``cache_hit`` true)."""
        import pandas as pd

        from .store import ActivationStore

        store = ActivationStore(key, root=root)
        if not store.is_complete() or store.meta().get("kind") != "search":
            raise KeyError(f"no finished search with key {key!r} in the store")
        doc = store.read_json("result")
        if doc.get("format") != SEARCH_FORMAT:
            raise KeyError(f"search {key!r} was stored in an older format; re-run it")
        sites = tuple(doc["sites"])
        summary = dict(doc["summary"])
        summary["cache_hit"] = True
        summary["extraction_cache_hit"] = True  # reopening a finished search extracts nothing: all from the store
        res = cls(key=key, config=SearchConfig.from_dict(doc["config"]), summary=summary,
                  labels=tuple(doc["labels"]), example_index=np.asarray(doc["example_index"], dtype=np.int64),
                  y=np.asarray(doc["y"], dtype=str),
                  split=Split(np.asarray(doc["split"]["probe"], dtype=np.int64),
                              np.asarray(doc["split"]["test"], dtype=np.int64), doc["split"]["seed"]),
                  sites=sites, layers=tuple(doc["layers"]),
                  top_k=pd.DataFrame(doc["top_k"], columns=list(TOP_K_COLUMNS)),
                  baselines=doc["baselines"], extraction_key=doc["extraction_key"], cache_hit=True, root=root,
                  _scores={k: store.read_array(f"scores.{k}").astype(np.float64) for k in sites},
                  _layer_best=doc["layer_best"], _layer_top=doc.get("layer_top", {}), _task=task,
                  _task_spec=doc["task_spec"])
        return res


def list_searches(root=None) -> list[dict]:
    """Finished searches in the store, newest first: ``{key, created, model_id, task, summary, config}``."""
    from .store import list_stores

    out = []
    for s in list_stores(root):
        meta = s.get("meta") or {}
        if s.get("complete") and meta.get("kind") == "search":
            out.append({"key": s["key"], "created": s["modified"], "model_id": meta.get("model_id"),
                        "task": meta.get("task"), "summary": meta.get("summary", {}),
                        "config": meta.get("config", {})})
    return out


# ------------------------------------------------------------------------------------------ run_search
def _search_layers(cfg: SearchConfig, n_layers: int) -> tuple[int, ...]:
    """The layers a search scores: ``cfg.layers`` (default all) up to ``cfg.l_max``. Layers above ``l_max`` are
    dropped before the range check, since the model may have been loaded only up to ``l_max``."""
    layers = tuple(range(n_layers)) if cfg.layers is None else cfg.layers
    if cfg.l_max is not None:
        layers = tuple(v for v in layers if v <= cfg.l_max)
    bad = [v for v in layers if v >= n_layers]
    if bad:
        raise ValueError(f"layer {bad[0]} requested, the model has {n_layers} decoder layers (0..{n_layers - 1})")
    return layers


def search_key(cfg: SearchConfig, loaded, fingerprint: str, prompt_hash: str) -> str:
    """The store key of a search: everything its results depend on. That includes the layers actually scored
    (``layers=None`` means all layers *of the model as loaded*, so a model loaded with ``max_layers`` must not
    share a key with the whole model) and, with baselines, the number of layers they could use."""
    from .store import content_key

    c = cfg.to_dict()
    for k in ("model", "task", "device", "batch_size", "n_examples", "data_seed", "question", "instruction", "dtype"):
        c.pop(k)  # covered by model_id/weights hash, the task fingerprint/prompts and the resolved dtype, or irrelevant
    return content_key(kind="search", format=SEARCH_FORMAT, model_id=loaded.model_id,
                       weights_hash=loaded.weights_hash, config_hash=loaded.config_hash,
                       task=fingerprint, prompts=prompt_hash,
                       dtype=str(loaded.dtype).replace("torch.", ""), config=c,
                       layers=list(_search_layers(cfg, loaded.n_layers)),
                       baseline_layers=int(loaded.n_layers) if cfg.baselines else None)


def run_search(config: SearchConfig | None = None, task: Task | None = None, loaded=None,
               progress: Progress | None = None, root=None) -> SearchResult:
    """Run (or reopen) a Super Neuron search; see the module docstring and docs/api.md."""
    import hashlib

    import pandas as pd

    from . import baselines as bl
    from .classifier import SuperNeuronClassifier
    from .extract import extract, task_fingerprint, task_prompts
    from .models import load_model
    from .scoring import null_control, predict_neurons, score_neurons
    from .store import ActivationStore

    t_start = time.perf_counter()
    cfg = (config or SearchConfig()).validate()
    if task is None:
        task = resolve_task(cfg)
    elif cfg.instruction is not None:  # on a copy: the caller's task keeps its own instruction
        task = dataclasses.replace(task, instruction=cfg.instruction)
    split = make_split(task.y, cfg.probe_per_class, cfg.test_per_class, cfg.seed)
    used = np.union1d(split.probe, split.test)  # [n_used] sorted example indices
    sub = task if len(used) == len(task) else Task(task.name, task.labels, [task.examples[i] for i in used],
                                                   instruction=task.instruction, source=task.source)
    fingerprint = task_fingerprint(sub)

    def cached(ident):
        """The stored result for this model identity, or None (no model weights needed to ask)."""
        prompts_ = task_prompts(ident, sub)
        key_ = search_key(cfg, ident, fingerprint, hashlib.sha256("\n\0".join(prompts_).encode()).hexdigest())
        try:
            res_ = SearchResult.load(key_, root=root, task=task)
        except (KeyError, FileNotFoundError):
            return None
        # Same content, same settings: the stored result answers, under this request's names (a copy of a manifest
        # at another path is another task name; the config names this request's model path and task).
        res_.config, res_.summary["task"] = cfg, task.name
        res_.summary["compute_seconds"] = res_.summary.get("compute_seconds", res_.summary.get("seconds"))
        res_.summary["seconds"] = time.perf_counter() - t_start
        if progress:
            progress("score", 1, 1)
        return res_

    if loaded is None:
        from .models import peek_model

        hit = cached(peek_model(cfg.model, device=cfg.device, dtype=cfg.dtype))
        if hit is not None:
            return hit
        max_layers = None
        if not cfg.baselines:
            deepest = [cfg.l_max] if cfg.l_max is not None else []
            if cfg.layers is not None:
                deepest.append(max(cfg.layers))
            max_layers = min(deepest) + 1 if deepest else None
        loaded = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype, max_layers=max_layers,
                            progress=progress)
    layers = _search_layers(cfg, loaded.n_layers)
    if not layers:
        raise ValueError(f"no layer to search: layers={cfg.layers}, l_max={cfg.l_max}")
    n_searched = sum(int(loaded.widths[site_kind(s)]) for s in cfg.sites) * len(layers)
    if cfg.k > n_searched:
        raise ValueError(f"k={cfg.k} neurons in the vote, but the search covers only {n_searched} neurons "
                         f"({', '.join(cfg.sites)} x {len(layers)} layer(s))")

    # ---- cache lookup with the loaded model's identity (the split was made above: stratified, seeded, disjoint)
    hit = cached(loaded)
    if hit is not None:
        return hit
    prompts = task_prompts(loaded, sub)
    key = search_key(cfg, loaded, fingerprint, hashlib.sha256("\n\0".join(prompts).encode()).hexdigest())

    # One computation per key: a second identical search (another process or app session) waits here, then
    # finds the first one's result instead of computing it again (docs/limits.md, "Lock").
    search_store = ActivationStore(key, root=root)
    with search_store.lock():
        hit = cached(loaded)
        if hit is not None:
            return hit
        # ---- activations
        ext_sites = tuple(dict.fromkeys(cfg.sites + (("resid", "attn") if cfg.baselines else ())))
        ext_layers = tuple(range(loaded.n_layers)) if cfg.baselines else layers
        ext = extract(loaded, sub, sites=ext_sites, layers=ext_layers, batch_size=cfg.batch_size, root=root,
                      progress=progress)
        pos = {int(e): i for i, e in enumerate(used)}
        p_idx = np.array([pos[int(i)] for i in split.probe])  # positions of probe examples in `used`
        t_idx = np.array([pos[int(i)] for i in split.test])
        # Class codes follow the sorted label order, as SuperNeuronClassifier's classes_ do, so the per-neuron
        # table and the fitted classifier break ties identically.
        labels = tuple(sorted(set(task.y)))
        code = {lbl: i for i, lbl in enumerate(labels)}
        y_all = np.array([task.examples[i].label for i in used])  # [n_used] str
        y_codes = np.array([code[v] for v in y_all])  # [n_used]
        yp, yt = y_codes[p_idx], y_codes[t_idx]
        n_classes = len(labels)

        # ---- score every neuron of every searched layer on the probe split
        total = len(cfg.sites) * len(layers)
        done = 0
        all_scores, all_sep, all_ids, site_scores, per_site_params = [], [], [], {}, {}
        layer_best: dict[str, list] = {}
        layer_top: dict[str, list] = {}
        for kind in cfg.sites:
            rows_s, rows_sep, params_l = [], [], []
            for layer in layers:
                X = ext.get(kind, layer)  # [n_used, width]
                ps = score_neurons(X[p_idx], yp, n_classes, rule=cfg.rule, metric=cfg.metric)
                rows_s.append(ps.scores)
                rows_sep.append(separation(X[p_idx], yp, n_classes))
                params_l.append(ps)
                done += 1
                if progress:
                    progress("score", done, total)
            site_scores[kind] = np.stack(rows_s)  # [n_layers, width]
            per_site_params[kind] = params_l
            width = site_scores[kind].shape[1]
            for li, layer in enumerate(layers):
                all_scores.append(rows_s[li])
                all_sep.append(rows_sep[li])
                all_ids.extend((kind, layer, i) for i in range(width))
            # per-layer rankings (same tie-break as the global ranking): the best, and the top max(k, LAYER_TOP)
            layer_best[kind], layer_top[kind] = [], []
            for li, layer in enumerate(layers):
                js = [int(j) for j in _rank(rows_s[li], rows_sep[li])[: max(cfg.k, LAYER_TOP)]]
                pred = predict_neurons(params_l[li], ext.get(kind, layer)[t_idx][:, js], index=js)  # [n_test, len(js)]
                for rank, (j, hit) in enumerate(zip(js, (pred == yt[:, None]).T), start=1):
                    row = {"layer": layer, "neuron_id": neuron_id(kind, layer, j), "index": j,
                           "probe_score": float(rows_s[li][j]), "test_accuracy": float(hit.mean()),
                           "rule": params_l[li].rule}
                    layer_top[kind].append(dict(row, rank=rank, separation=float(rows_sep[li][j])))
                    if rank == 1:
                        layer_best[kind].append(row)
        scores_flat = np.concatenate(all_scores)  # [n_neurons_total]
        sep_flat = np.concatenate(all_sep)
        order = _rank(scores_flat, sep_flat)[: cfg.n_top]

        rows = []
        for rank, flat in enumerate(order, start=1):
            kind, layer, j = all_ids[int(flat)]
            li = layers.index(layer)
            X = ext.get(kind, layer)
            pred = predict_neurons(per_site_params[kind][li], X[t_idx][:, [j]], index=[j])[:, 0]
            rows.append({"rank": rank, "neuron_id": neuron_id(kind, layer, j), "site": kind, "layer": layer,
                         "index": j, "probe_score": float(scores_flat[flat]),
                         "test_accuracy": float((pred == yt).mean()), "rule": per_site_params[kind][li].rule,
                         "separation": float(sep_flat[flat])})
        top = pd.DataFrame(rows, columns=list(TOP_K_COLUMNS))

        # ---- the Super Neuron(s): top-k vote, fitted on probe, accuracy on test
        chosen = list(top["neuron_id"][: cfg.k])
        cols = [ext.get(*parse_neuron_id(n)[:2])[:, parse_neuron_id(n)[2]] for n in chosen]
        Xk = np.stack(cols, axis=1)  # [n_used, k]
        clf = SuperNeuronClassifier(neurons=tuple(chosen), rule=cfg.rule, metric=cfg.metric)
        clf.fit(Xk[p_idx], y_all[p_idx])
        sn_test = float(clf.score(Xk[t_idx], y_all[t_idx]))
        sn_probe = float(clf.score(Xk[p_idx], y_all[p_idx]))

        # ---- null control over every searched neuron
        X_probe_all = np.concatenate([ext.get(kind, layer)[p_idx] for kind in cfg.sites for layer in layers], axis=1)
        null = null_control(X_probe_all, yp, n_classes, seed=cfg.seed, rule=cfg.rule, metric=cfg.metric)
        del X_probe_all

        # ---- baselines on the same test split
        base = {"base": None, "sav": None, "probe_lr": None}
        if cfg.baselines:
            if progress:
                progress("baselines", 0, 3)
            if loaded.truncated:
                base["base"] = {"skipped": "model loaded with max_layers; generation needs every layer"}
            else:
                test_ex = [sub.examples[i] for i in t_idx]
                gen = bl.generate_answers(loaded, [e.image for e in test_ex], [prompts[i] for i in t_idx], labels,
                                          batch_size=cfg.batch_size,
                                          progress=(lambda s, d, t: progress("generate", d, t)) if progress else None)
                base["base"] = {"test_accuracy": gen.accuracy([e.label for e in test_ex]),
                                "max_new_tokens": gen.max_new_tokens, "seconds": gen.seconds,
                                "outside_label_set": int(sum(p is None for p in gen.predicted)),
                                "answers": gen.answers}
            if progress:
                progress("baselines", 1, 3)
            attn = ext.stack("attn")  # [n_layers_all, n_used, n_heads*d_head]
            base["sav"] = bl.sav_baseline(attn[:, p_idx], yp, attn[:, t_idx], yt, loaded.n_heads, n_classes,
                                          layers=ext.layers)
            if progress:
                progress("baselines", 2, 3)
            resid = ext.stack("resid")  # [n_layers_all, n_used, d_model]
            base["probe_lr"] = bl.linear_probe_baseline(resid[:, p_idx], yp, resid[:, t_idx], yt, layers=ext.layers,
                                                        seed=cfg.seed)
            if progress:
                progress("baselines", 3, 3)

        def acc(name):
            b = base.get(name)
            return None if not b or "test_accuracy" not in b else float(b["test_accuracy"])

        kind0, layer0, idx0 = parse_neuron_id(chosen[0])
        summary = {
            "model_id": loaded.model_id, "weights_hash": loaded.weights_hash, "task": task.name,
            "dtype": str(loaded.dtype).replace("torch.", ""),
            "task_fingerprint": fingerprint, "instruction": task.instruction,
            "prompt_template": loaded.prompt(task.prompt_text("{question}")),
            "n_examples": int(len(used)), "n_probe": int(len(split.probe)), "n_test": int(len(split.test)),
            "n_classes": n_classes, "labels": list(labels), "chance": chance_accuracy(yt), "seed": cfg.seed,
            "rule": clf.rule_, "metric": cfg.metric, "k": cfg.k, "sites": list(cfg.sites), "layers": list(layers),
            "n_neurons_searched": int(len(scores_flat)), "n_layers_total": int(loaded.n_layers_total),
            "sn_neuron_id": chosen[0], "sn_site": kind0, "sn_layer": layer0, "sn_neuron": idx0,
            "sn_neuron_ids": chosen, "sn_probe_score": float(top["probe_score"][0]),
            "sn_probe_accuracy": sn_probe, "sn_test_accuracy": sn_test, "exit_layer": int(clf.exit_layer_),
            "null_probe_accuracy": float(null),
            "base_accuracy": acc("base"), "sav_test_accuracy": acc("sav"), "probe_lr_test_accuracy": acc("probe_lr"),
            "probe_lr_layer": base["probe_lr"]["layer"] if base.get("probe_lr") else None,
            "extraction_cache_hit": bool(ext.cache_hit), "cache_hit": False,
            "seconds": time.perf_counter() - t_start,
        }
        summary["compute_seconds"] = summary["seconds"]
        res = SearchResult(key=key, config=cfg, summary=summary, labels=labels, example_index=used.astype(np.int64),
                           y=y_all, split=split, sites=tuple(cfg.sites), layers=layers, top_k=top, baselines=base,
                           extraction_key=ext.key, cache_hit=False, root=root, _scores=site_scores,
                           _layer_best=layer_best, _layer_top=layer_top, _task=task,
                           _task_spec=_task_spec(task, cfg), _extraction=ext)
        res._save(search_store)  # (the lock is reentrant: held since the second cache look-up)
        return res


__all__ = ["NeuronValues", "SITE_KINDS", "SearchConfig", "SearchResult", "TaskError", "list_searches",
           "resolve_task", "run_search", "separation"]
