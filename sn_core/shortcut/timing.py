"""Latency measurement: one warm-up call per path, then repeats interleaved path by path, median per path.

Interleaving (every repeat runs each path once, in turn) means a burst of load on a shared machine slows all paths
alike instead of one path's whole stretch. Used by the Compare and Playground pages and by ``bench/``.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Mapping


def sync(device) -> None:
    """Wait for queued GPU work, so that wall time covers it."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device=None) -> float:
    """Wall seconds of one ``fn()`` call, GPU work included."""
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def median_seconds(measure: Mapping[str, Callable[[], float]], repeats: int, *,
                   warmup: Mapping[str, Callable[[], object]] | None = None,
                   on_repeat: Callable[[int], None] | None = None) -> dict[str, float]:
    """Median of the seconds each ``measure[name]()`` returns over ``repeats`` interleaved repeats.

    Warm-up first, path by path: ``warmup[name]()`` where given (e.g. one small batch of the same path), otherwise
    one ``measure[name]()`` whose value is dropped. Then each repeat calls every ``measure`` in turn, the order
    rotating by one path each repeat, so no path always runs first (right after ``on_repeat``, or after the same
    other path); ``on_repeat(i)`` runs before repeat ``i`` (progress display)."""
    warmup = warmup or {}
    for name, fn in measure.items():
        warmup.get(name, fn)()
    names = list(measure)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        if on_repeat is not None:
            on_repeat(i)
        for name in names[i % len(names):] + names[:i % len(names)]:
            seconds[name].append(measure[name]())
    return {name: statistics.median(v) for name, v in seconds.items()}


def time_interleaved(fns: Mapping[str, Callable[[], object]], repeats: int, device=None) -> dict[str, float]:
    """Median wall seconds of each ``fns[name]()``, after one untimed warm-up call each, measured repeat by repeat
    in turn (interleaved, so a noisy machine slows all of them alike)."""
    return median_seconds({k: (lambda fn=fn: timed(fn, device)) for k, fn in fns.items()}, repeats, warmup=fns)


def time_chunks_interleaved(fns: Mapping[str, Callable[[int], object]], n_chunks: int, repeats: int,
                            device=None) -> dict[str, float]:
    """Median over ``repeats`` of each path's total wall seconds over ``n_chunks`` chunks, ``fns[name](i)`` running
    chunk ``i``. Paths alternate chunk by chunk (and their order rotates each repeat), so every path sees the same
    few milliseconds of a noisy machine rather than its own stretch of seconds. One warm-up pass each first."""
    names = list(fns)
    for fn in fns.values():
        for i in range(n_chunks):
            fn(i)
    totals: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        run = dict.fromkeys(names, 0.0)
        for i in range(n_chunks):
            for k in order:
                run[k] += timed(lambda: fns[k](i), device)
        for k in names:
            totals[k].append(run[k])
    return {k: statistics.median(v) for k, v in totals.items()}
