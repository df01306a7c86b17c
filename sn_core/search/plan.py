"""The first stage of a search: the task, its seeded stratified split, the layers scored and the store key.

Everything here is decided before any model weight is read, so a stored search can answer without loading a model.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from sn_core.config import SearchConfig
from sn_core.data import Split, Task, make_split
from sn_core.data.resolve import resolve_task
from sn_core.data.tasks import task_fingerprint
from sn_core.store.cache import content_key

SEARCH_FORMAT = 2  # (sn_core.search.result re-exports it: the format a stored search is written in)


@dataclasses.dataclass
class Plan:
    """The task, its split, and the examples the search uses (``sub``: probe + test, in task order)."""

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


def positions_of(used: np.ndarray, indices) -> np.ndarray:
    """Positions in ``used`` (the sorted task indices a search extracted) of the task indices ``indices``, in their
    order: the one map from task examples to rows of the stored activations. ValueError for an index not used."""
    used, indices = np.asarray(used, dtype=np.int64), np.asarray(indices, dtype=np.int64).reshape(-1)
    pos = np.searchsorted(used, indices)
    if len(indices) and (pos.max() >= len(used) or not np.array_equal(used[np.minimum(pos, len(used) - 1)], indices)):
        raise ValueError("task indices outside the examples the search extracted")
    return pos.astype(np.int64)


def extraction_plan(cfg: SearchConfig, n_layers: int, layers: tuple[int, ...]) -> tuple[tuple, tuple]:
    """(sites, layers) a search extracts: the searched sites plus ``resid``/``attn`` and every layer when the
    baselines run (SAV and the linear probe read them), else only the searched ones."""
    sites = tuple(dict.fromkeys(cfg.sites + (("resid", "attn") if cfg.baselines else ())))
    return sites, (tuple(range(n_layers)) if cfg.baselines else tuple(layers))


def max_layers(cfg: SearchConfig) -> int | None:
    """The decoder layers a search loads: only up to the deepest one it can use when no baseline needs them all."""
    deepest = [] if cfg.baselines else [v for v in (cfg.l_max, max(cfg.layers) if cfg.layers else None)
                                        if v is not None]
    return min(deepest) + 1 if deepest else None


def search_layers(cfg: SearchConfig, n_layers: int) -> tuple[int, ...]:
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
                       layers=list(search_layers(cfg, loaded.n_layers)),
                       baseline_layers=int(loaded.n_layers) if cfg.baselines else None)


__all__ = ["Plan", "SEARCH_FORMAT", "extraction_plan", "max_layers", "plan", "positions_of", "search_key",
           "search_layers"]
