"""Super Neuron search, as named stages (docs/method.md):

plan (task, seeded stratified split: ``search_plan``) -> reopen a stored result? -> load the model -> extract the
activations at the read position -> score every neuron on the probe split -> rank (top-k, per layer, exit-layer
frontier: ``ranking``) -> fit the Super Neuron classifier -> null control -> baselines -> summary and uncertainty
-> save.

``run_search(SearchConfig(...))`` returns a :class:`~sn_core.search.result.SearchResult`, also written to the store, so
the same search (same model weights, task content and settings) reopens instantly (``summary.cache_hit``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import time

import numpy as np

from sn_core.progress import Progress
from sn_core.search import baselines as bl
from sn_core.classifier.estimator import SuperNeuronClassifier
from sn_core.config import SearchConfig
from sn_core.data import Task
from sn_core.data.resolve import TaskError, resolve_task, task_spec
from sn_core.activations.extract import extract, task_prompts
from sn_core.models.flops import search_flop_limits
from sn_core.scoring.metrics import chance_accuracy
from sn_core.scoring.ranking import LAYER_TOP, SplitData, exit_frontier, layer_rankings, score_layers, separation, top_table
from sn_core.search.result import NeuronValues, SearchResult, list_searches
from sn_core.scoring.neuron_scores import null_control
from sn_core.search.plan import Plan, extraction_plan, max_layers, plan, positions_of, search_key, search_layers
from sn_core.sites import SITE_KINDS, parse_neuron_id, site_kind
from sn_core.store.cache import ActivationStore
from sn_core.search.summary import build_summary
from sn_core.search.uncertainty import search_uncertainty



def run_search(config: SearchConfig | None = None, task: Task | None = None, loaded=None,
               progress: Progress | None = None, root=None) -> SearchResult:
    """Run (or reopen) a Super Neuron search; see the module docstring and docs/api.md."""
    t_start = time.perf_counter()
    p = plan((config or SearchConfig()).validate(), task)
    if loaded is None:
        from sn_core.models import peek_model

        hit = reopen(p, peek_model(p.cfg.model, device=p.cfg.device, dtype=p.cfg.dtype), root, t_start, progress)
        if hit is not None:
            return hit
        loaded = load_for(p.cfg, progress)
    layers = search_layers(p.cfg, loaded.n_layers)
    if not layers:
        raise ValueError(f"no layer to search: layers={p.cfg.layers}, l_max={p.cfg.l_max}")
    n_searched = sum(int(loaded.widths[site_kind(s)]) for s in p.cfg.sites) * len(layers)
    if p.cfg.k > n_searched:
        raise ValueError(f"k={p.cfg.k} neurons in the vote, but the search covers only {n_searched} neurons "
                         f"({', '.join(p.cfg.sites)} x {len(layers)} layer(s))")
    key, prompts = _key(p, loaded)
    # One computation per key: a second identical search (another process or app session) waits here, then
    # finds the first one's result instead of computing it again (docs/limits.md, "Lock").
    store = ActivationStore(key, root=root)
    with store.lock():
        hit = reopen(p, loaded, root, t_start, progress)
        if hit is not None:
            return hit
        res = compute(p, loaded, layers, key, prompts, root, progress, t_start)
        res._save(store)  # (the lock is reentrant: held since the second cache look-up)
        return res


def _key(p: Plan, ident) -> tuple[str, list[str]]:
    prompts = task_prompts(ident, p.sub)
    return search_key(p.cfg, ident, p.fingerprint, hashlib.sha256("\n\0".join(prompts).encode()).hexdigest()), prompts


def reopen(p: Plan, ident, root, t_start: float, progress=None) -> SearchResult | None:
    """The stored result for this model identity, or None (no model weights needed to ask). It answers under this
    request's names (a copy of a manifest at another path is another task name)."""
    try:
        res = SearchResult.load(_key(p, ident)[0], root=root, task=p.task)
    except (KeyError, FileNotFoundError):
        return None
    res.config, res.summary.task = p.cfg, p.task.name
    from sn_core.search.summary import _benchmark_notes

    res.summary.extra.update(_benchmark_notes(p.task))  # this request's rows and notes (same content, other path)
    res.summary.compute_seconds = res.summary.compute_seconds or res.summary.seconds
    res.summary.seconds = time.perf_counter() - t_start
    if progress:
        progress("score", 1, 1)
    return res


def load_for(cfg: SearchConfig, progress: Progress | None):
    """The model, with only the decoder layers the search can use when no baseline needs all of them."""
    from sn_core.models import load_model

    return load_model(cfg.model, device=cfg.device, dtype=cfg.dtype, max_layers=max_layers(cfg), progress=progress)


def compute(p: Plan, loaded, layers, key: str, prompts, root, progress, t_start: float) -> SearchResult:
    """Extract, score, rank, fit, null control, baselines, summary: the result, not yet saved."""
    cfg = p.cfg
    ext_sites, ext_layers = extraction_plan(cfg, loaded.n_layers, layers)
    ext = extract(loaded, p.sub, sites=ext_sites, layers=ext_layers, batch_size=cfg.batch_size, root=root,
                  progress=progress)
    # Class codes follow the sorted label order, as SuperNeuronClassifier's classes_ do, so the per-neuron tables
    # and the fitted classifier break ties identically.
    labels = tuple(sorted(set(p.task.y)))
    y_all = np.array([p.task.examples[i].label for i in p.used])  # [n_used] str
    data = SplitData(positions_of(p.used, p.split.probe), positions_of(p.used, p.split.test),
                     np.array([labels.index(v) for v in y_all]), len(labels))

    ls = score_layers(ext, cfg.sites, layers, data, cfg.rule, cfg.metric, progress)
    layer_best, layer_top = layer_rankings(ls, ext, data, depth=max(cfg.k, LAYER_TOP))
    top = top_table(ls, ext, data, cfg.n_top)
    limits = search_flop_limits(loaded, p.sub, prompts, labels, layers)
    frontier = exit_frontier(ls, ext, data, limits)

    chosen = list(top["neuron_id"][: cfg.k])
    Xk = np.stack([ext.get(*parse_neuron_id(n)[:2])[:, parse_neuron_id(n)[2]] for n in chosen], axis=1)  # [n_used, k]
    clf = SuperNeuronClassifier(neurons=tuple(chosen), rule=cfg.rule, metric=cfg.metric)
    clf.fit(Xk[data.p_idx], y_all[data.p_idx])

    X_probe_all = np.concatenate([ext.get(kind, layer)[data.p_idx] for kind in cfg.sites for layer in layers], axis=1)
    null = null_control(X_probe_all, data.yp, data.n_classes, seed=cfg.seed, rule=cfg.rule, metric=cfg.metric)
    del X_probe_all

    base = (bl.run_baselines(loaded, ext, p.sub, prompts, data, labels, cfg.batch_size, cfg.seed, progress)
            if cfg.baselines else {"base": None, "sav": None, "probe_lr": None})
    summary = build_summary(p, loaded, layers, labels, clf, top, frontier, limits, base, bool(ext.cache_hit),
                            float(null), float(clf.score(Xk[data.t_idx], y_all[data.t_idx])),
                            float(clf.score(Xk[data.p_idx], y_all[data.p_idx])), chance_accuracy(data.yt),
                            time.perf_counter() - t_start)
    res = SearchResult(key=key, config=cfg, summary=summary, labels=labels, example_index=p.used.astype(np.int64),
                       y=y_all, split=p.split, sites=tuple(cfg.sites), layers=layers, top_k=top, baselines=base,
                       extraction_key=ext.key, cache_hit=False, root=root, _scores=ls.scores,
                       _layer_best=layer_best, _layer_top=layer_top, _task=p.task,
                       _task_spec=task_spec(p.task, cfg.data_seed), _extraction=ext, _frontier=frontier)
    u = search_uncertainty(res)
    res.summary = dataclasses.replace(summary, **{k: u[k] for k in ("sn_test_ci", "base_ci", "p_sn_vs_base",
                                                                    "p_sn_vs_sav")})
    return res


__all__ = ["NeuronValues", "Plan", "SITE_KINDS", "SearchConfig", "SearchResult", "TaskError", "list_searches",
           "plan", "resolve_task", "run_search", "search_key", "search_layers", "separation"]
