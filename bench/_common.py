"""Timing helpers shared by the benchmarks (``bench/early_exit.py``, ``early_exit_scale.py``, ``extraction.py``)."""
from __future__ import annotations

import statistics
import time

import torch


def sync(device) -> None:
    """Wait for queued GPU work, so that wall time covers it."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    """Wall seconds of one ``fn()`` call, GPU work included."""
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def time_interleaved(fns: dict, repeats: int, device) -> dict[str, float]:
    """Median wall seconds of each ``fns[name]()``, after one warm-up call each, measured repeat by repeat in turn
    (interleaved, so a noisy machine slows all of them alike)."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(timed(fn, device))
    return {k: statistics.median(v) for k, v in times.items()}


def time_chunks_interleaved(fns: dict, n_chunks: int, repeats: int, device) -> dict[str, float]:
    """Median over ``repeats`` of each path's total wall seconds over ``n_chunks`` chunks, ``fns[name](i)`` running
    chunk ``i``. Paths alternate chunk by chunk (and their order rotates each repeat), so every path sees the same
    few milliseconds of a noisy machine rather than its own stretch of seconds. One warm-up pass each first."""
    names = list(fns)
    for fn in fns.values():
        for i in range(n_chunks):
            fn(i)
    totals = {k: [] for k in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        run = dict.fromkeys(names, 0.0)
        for i in range(n_chunks):
            for k in order:
                run[k] += timed(lambda: fns[k](i), device)
        for k in names:
            totals[k].append(run[k])
    return {k: statistics.median(v) for k, v in totals.items()}


def time_exit_vs_generate(loaded, preds, images, questions, prompts, batch_size: int, repeats: int,
                          gen_kwargs: dict) -> dict:
    """Seconds per example of full generation vs early exit, model work alone and processor calls apart.

    ``preds``: one ``EarlyExitPredictor`` (result key ``early``) or ``{name: predictor}`` (keys ``early:<name>``),
    all timed against the same generation runs. ``full``: ``model.generate(**gen_kwargs)`` on batches encoded
    beforehand (``loaded.encode(..., generation=True)`` on the chat ``prompts``); early: ``pred.values_from_inputs``
    + the classifier rule (``pred.labels``) on batches encoded beforehand (``pred.encode`` on the ``questions``);
    ``encode_full`` / ``encode_early``: the processor calls each path makes (PIL image + text -> tensors), timed
    apart. Paths alternate batch by batch (``time_chunks_interleaved``)."""
    named = {"early": preds} if not isinstance(preds, dict) else {f"early:{k}": p for k, p in preds.items()}
    first = next(iter(named.values()))
    n = len(images)
    spans = [(lo, min(lo + batch_size, n)) for lo in range(0, n, batch_size)]
    gen_in = [loaded.encode(images[lo:hi], prompts[lo:hi], generation=True) for lo, hi in spans]
    ee_in = {k: [p.encode(images[lo:hi], questions[lo:hi]) for lo, hi in spans] for k, p in named.items()}

    def full(i):
        with torch.inference_mode():
            loaded.model.generate(**gen_in[i], **gen_kwargs)

    def early(k, p):
        return lambda i: p.labels(p.values_from_inputs(ee_in[k][i]))

    def enc_full(i):
        lo, hi = spans[i]
        loaded.encode(images[lo:hi], prompts[lo:hi], generation=True)

    def enc_early(i):
        lo, hi = spans[i]
        first.encode(images[lo:hi], questions[lo:hi])

    t = time_chunks_interleaved({"full": full, **{k: early(k, p) for k, p in named.items()}}, len(spans), repeats,
                                loaded.device)
    t.update(time_chunks_interleaved({"encode_full": enc_full, "encode_early": enc_early}, len(spans), repeats,
                                     loaded.device))
    return {k: v / n for k, v in t.items()}
