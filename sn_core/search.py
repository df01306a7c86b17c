"""Super Neuron search, as named stages (docs/method.md):

plan (task, seeded stratified split) -> cached? (reopen the stored result) -> load the model -> extract the
activations at the read position -> score every neuron on the probe split -> rank (top-k, per layer, exit-layer
frontier) -> fit the Super Neuron classifier -> null control -> baselines -> summary -> save.

``run_search(SearchConfig(...))`` returns a :class:`~sn_core.result.SearchResult`, also written to the store, so
the same search (same model weights, task content and settings) reopens instantly (``summary.cache_hit``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import traceback
from typing import Callable

import numpy as np

from . import baselines as bl
from .classifier import SuperNeuronClassifier
from .config import SearchConfig
from .data import Split, Task, make_split
from .data.resolve import TaskError, resolve_task, task_spec
from .extract import extract, task_fingerprint, task_prompts
from .flops import exit_flop_limits
from .images import load_image
from .metrics import chance_accuracy
from .prompts import match_label
from .ranking import (LAYER_TOP, SplitData, exit_frontier, layer_rankings, recommended_row, score_layers,
                      separation, top_table)
from .result import SEARCH_FORMAT, NeuronValues, SearchResult, list_searches
from .scoring import null_control
from .sites import SITE_KINDS, parse_neuron_id, site_kind
from .stats import mcnemar_exact, wilson_interval
from .store import ActivationStore, content_key
from .summary import SearchSummary

Progress = Callable[[str, int, int], None]


@dataclasses.dataclass
class Plan:
    """Stage 1: the task, its split, and the examples the search uses (``sub``: probe + test, in task order)."""

    cfg: SearchConfig
    task: Task
    split: Split
    used: np.ndarray  # [n_used] sorted example indices into task
    sub: Task
    fingerprint: str


def plan(cfg: SearchConfig, task: Task | None) -> Plan:
    if task is None:
        task = resolve_task(cfg)
    elif cfg.instruction is not None:  # on a copy: the caller's task keeps its own instruction
        task = dataclasses.replace(task, instruction=cfg.instruction)
    split = make_split(task.y, cfg.probe_per_class, cfg.test_per_class, cfg.seed)
    used = np.union1d(split.probe, split.test)
    sub = task if len(used) == len(task) else Task(task.name, task.labels, [task.examples[i] for i in used],
                                                   instruction=task.instruction, source=task.source)
    return Plan(cfg, task, split, used, sub, task_fingerprint(sub))


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
    c = cfg.to_dict()
    for k in ("model", "task", "device", "batch_size", "n_examples", "data_seed", "question", "instruction", "dtype"):
        c.pop(k)  # covered by model_id/weights hash, the task fingerprint/prompts and the resolved dtype, or irrelevant
    return content_key(kind="search", format=SEARCH_FORMAT, model_id=loaded.model_id,
                       weights_hash=loaded.weights_hash, config_hash=loaded.config_hash,
                       task=fingerprint, prompts=prompt_hash,
                       dtype=str(loaded.dtype).replace("torch.", ""), config=c,
                       layers=list(_search_layers(cfg, loaded.n_layers)),
                       baseline_layers=int(loaded.n_layers) if cfg.baselines else None)


def _key(p: Plan, ident) -> tuple[str, list[str]]:
    prompts = task_prompts(ident, p.sub)
    return search_key(p.cfg, ident, p.fingerprint, hashlib.sha256("\n\0".join(prompts).encode()).hexdigest()), prompts


def reopen(p: Plan, ident, root, t_start: float) -> SearchResult | None:
    """Stage 2: the stored result for this model identity, or None (no model weights needed to ask). It answers
    under this request's names (a copy of a manifest at another path is another task name)."""
    try:
        res = SearchResult.load(_key(p, ident)[0], root=root, task=p.task)
    except (KeyError, FileNotFoundError):
        return None
    res.config, res.summary.task = p.cfg, p.task.name
    res.summary.compute_seconds = res.summary.compute_seconds or res.summary.seconds
    res.summary.seconds = time.perf_counter() - t_start
    return res


def load_for(cfg: SearchConfig, progress: Progress | None):
    """Stage 3: the model, with only the decoder layers the search can use when no baseline needs all of them."""
    from .models import load_model

    deepest = [] if cfg.baselines else [v for v in (cfg.l_max, max(cfg.layers) if cfg.layers else None)
                                        if v is not None]
    return load_model(cfg.model, device=cfg.device, dtype=cfg.dtype,
                      max_layers=min(deepest) + 1 if deepest else None, progress=progress)


def run_search(config: SearchConfig | None = None, task: Task | None = None, loaded=None,
               progress: Progress | None = None, root=None) -> SearchResult:
    """Run (or reopen) a Super Neuron search; see the module docstring and docs/api.md."""
    t_start = time.perf_counter()
    p = plan((config or SearchConfig()).validate(), task)
    if loaded is None:
        from .models import peek_model

        hit = reopen(p, peek_model(p.cfg.model, device=p.cfg.device, dtype=p.cfg.dtype), root, t_start)
        if hit is not None:
            return _done(hit, progress)
        loaded = load_for(p.cfg, progress)
    layers = _search_layers(p.cfg, loaded.n_layers)
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
        hit = reopen(p, loaded, root, t_start)
        if hit is not None:
            return _done(hit, progress)
        res = compute(p, loaded, layers, key, prompts, root, progress, t_start)
        res._save(store)  # (the lock is reentrant: held since the second cache look-up)
        return res


def _done(hit: SearchResult, progress) -> SearchResult:
    if progress:
        progress("score", 1, 1)
    return hit


def compute(p: Plan, loaded, layers, key: str, prompts, root, progress, t_start: float) -> SearchResult:
    """Stages 4-9: extract, score, rank, fit, null control, baselines; the result, not yet saved."""
    cfg = p.cfg
    ext_sites = tuple(dict.fromkeys(cfg.sites + (("resid", "attn") if cfg.baselines else ())))
    ext_layers = tuple(range(loaded.n_layers)) if cfg.baselines else layers
    ext = extract(loaded, p.sub, sites=ext_sites, layers=ext_layers, batch_size=cfg.batch_size, root=root,
                  progress=progress)
    # Class codes follow the sorted label order, as SuperNeuronClassifier's classes_ do, so the per-neuron tables
    # and the fitted classifier break ties identically.
    labels = tuple(sorted(set(p.task.y)))
    pos = {int(e): i for i, e in enumerate(p.used)}
    y_all = np.array([p.task.examples[i].label for i in p.used])  # [n_used] str
    data = SplitData(np.array([pos[int(i)] for i in p.split.probe]), np.array([pos[int(i)] for i in p.split.test]),
                     np.array([labels.index(v) for v in y_all]), len(labels))

    ls = score_layers(ext, cfg.sites, layers, data, cfg.rule, cfg.metric, progress)
    layer_best, layer_top = layer_rankings(ls, ext, data, depth=max(cfg.k, LAYER_TOP))
    top = top_table(ls, ext, data, cfg.n_top)
    limits = _flop_limits(loaded, p.sub, prompts, labels, layers)
    frontier = exit_frontier(ls, ext, data, limits)

    chosen = list(top["neuron_id"][: cfg.k])
    Xk = np.stack([ext.get(*parse_neuron_id(n)[:2])[:, parse_neuron_id(n)[2]] for n in chosen], axis=1)  # [n_used, k]
    clf = SuperNeuronClassifier(neurons=tuple(chosen), rule=cfg.rule, metric=cfg.metric)
    clf.fit(Xk[data.p_idx], y_all[data.p_idx])
    sn_hits = clf.predict(Xk[data.t_idx]) == y_all[data.t_idx]  # [n_test]

    X_probe_all = np.concatenate([ext.get(kind, layer)[data.p_idx] for kind in cfg.sites for layer in layers], axis=1)
    null = null_control(X_probe_all, data.yp, data.n_classes, seed=cfg.seed, rule=cfg.rule, metric=cfg.metric)
    del X_probe_all

    base = (bl.run_baselines(loaded, ext, p.sub, prompts, data, labels, cfg.batch_size, cfg.seed, progress)
            if cfg.baselines else {"base": None, "sav": None, "probe_lr": None})
    summary = _summary(p, loaded, layers, labels, chosen, clf, top, frontier, limits, base, ext, float(null),
                       sn_hits, float(clf.score(Xk[data.p_idx], y_all[data.p_idx])), data, t_start)
    return SearchResult(key=key, config=cfg, summary=summary, labels=labels, example_index=p.used.astype(np.int64),
                        y=y_all, split=p.split, sites=tuple(cfg.sites), layers=layers, top_k=top, baselines=base,
                        extraction_key=ext.key, cache_hit=False, root=root, _scores=ls.scores,
                        _layer_best=layer_best, _layer_top=layer_top, _task=p.task,
                        _task_spec=task_spec(p.task, cfg.data_seed), _extraction=ext, _frontier=frontier)


def _flop_limits(loaded, sub: Task, prompts, labels, layers) -> dict[int, float]:
    """FLOP limit of an exit after each searched layer, at the first example's prompt length."""
    try:
        ex = sub.examples[0]
        plen = int(loaded.encode([load_image(ex.image)], [prompts[0]])["input_ids"].shape[1])
        return exit_flop_limits(loaded, plen, layers, bl.label_token_budget(loaded.processor, labels))
    except Exception:  # noqa: BLE001 - an extra beside the accuracies: a family it cannot count leaves it empty
        logging.getLogger(__name__).warning("FLOP limits not computed:\n%s", traceback.format_exc())
        return {}


def _uncertainty(sn_hits: np.ndarray, base: dict, data: SplitData, labels, y_test) -> dict:
    """95% intervals and exact paired McNemar p-values on the test split (``sn_core.stats``)."""
    out = {"sn_test_ci": list(wilson_interval(int(sn_hits.sum()), len(sn_hits)))}
    gen = base.get("base") or {}
    if "answers" in gen:
        base_hits = np.array([match_label(a, labels) == y for a, y in zip(gen["answers"], y_test)])
        out["base_ci"] = list(wilson_interval(int(base_hits.sum()), len(base_hits)))
        out["p_sn_vs_base"] = float(mcnemar_exact(sn_hits, base_hits))
    sav = base.get("sav") or {}
    if "test_predictions" in sav:
        out["p_sn_vs_sav"] = float(mcnemar_exact(sn_hits, np.asarray(sav["test_predictions"]) == data.yt))
    return out


def _summary(p: Plan, loaded, layers, labels, chosen, clf, top, frontier, limits, base, ext, null, sn_hits,
             sn_probe, data: SplitData, t_start: float) -> SearchSummary:
    def acc(name):
        b = base.get(name)
        return None if not b or "test_accuracy" not in b else float(b["test_accuracy"])

    kind0, layer0, idx0 = parse_neuron_id(chosen[0])
    short = recommended_row(frontier) or {}
    seconds = time.perf_counter() - t_start
    return SearchSummary(
        model_id=loaded.model_id, weights_hash=loaded.weights_hash, task=p.task.name,
        dtype=str(loaded.dtype).replace("torch.", ""), task_fingerprint=p.fingerprint,
        instruction=p.task.instruction, prompt_template=loaded.prompt(p.task.prompt_text("{question}")),
        n_examples=int(len(p.used)), n_probe=int(len(p.split.probe)), n_test=int(len(p.split.test)),
        n_classes=len(labels), labels=list(labels), chance=chance_accuracy(data.yt), seed=p.cfg.seed,
        rule=clf.rule_, metric=p.cfg.metric, k=p.cfg.k, sites=list(p.cfg.sites), layers=list(layers),
        n_neurons_searched=sum(int(loaded.widths[site_kind(s)]) for s in p.cfg.sites) * len(layers),
        n_layers_total=int(loaded.n_layers_total),
        sn_neuron_id=chosen[0], sn_site=kind0, sn_layer=layer0, sn_neuron=idx0, sn_neuron_ids=chosen,
        sn_probe_score=float(top["probe_score"][0]), sn_probe_accuracy=sn_probe,
        sn_test_accuracy=float(sn_hits.mean()), exit_layer=int(clf.exit_layer_), null_probe_accuracy=null,
        shortcut_neuron_id=short.get("neuron_id"), shortcut_layer=short.get("layer"),
        shortcut_probe_accuracy=short.get("probe_accuracy"), shortcut_test_accuracy=short.get("test_accuracy"),
        shortcut_flop_limit=short.get("flop_limit"), sn_flop_limit=limits.get(int(clf.exit_layer_)),
        base_accuracy=acc("base"), sav_test_accuracy=acc("sav"), probe_lr_test_accuracy=acc("probe_lr"),
        probe_lr_layer=base["probe_lr"]["layer"] if base.get("probe_lr") else None,
        **_uncertainty(sn_hits, base, data, labels, [labels[c] for c in data.yt]),
        extraction_cache_hit=bool(ext.cache_hit), cache_hit=False, seconds=seconds, compute_seconds=seconds)


__all__ = ["NeuronValues", "Plan", "SITE_KINDS", "SearchConfig", "SearchResult", "TaskError", "list_searches",
           "plan", "resolve_task", "run_search", "search_key", "separation"]
