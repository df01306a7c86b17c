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


def time_exit_vs_generate(loaded, pred, images, questions, prompts, batch_size: int, repeats: int,
                          gen_kwargs: dict) -> dict:
    """Seconds per example of full generation vs early exit, model work alone and processor calls apart.

    ``full``: ``model.generate(**gen_kwargs)`` on batches encoded beforehand (``loaded.encode(..., generation=True)``
    on the chat ``prompts``); ``early``: ``pred.values_from_inputs`` + the classifier rule (``pred.labels``) on batches encoded
    beforehand (``pred.encode`` on the ``questions``); ``encode_full`` / ``encode_early``: the processor calls each path
    makes (PIL image + text -> tensors)."""
    n = len(images)
    spans = [(lo, min(lo + batch_size, n)) for lo in range(0, n, batch_size)]
    gen_in = [loaded.encode(images[lo:hi], prompts[lo:hi], generation=True) for lo, hi in spans]
    ee_in = [pred.encode(images[lo:hi], questions[lo:hi]) for lo, hi in spans]

    def full():
        with torch.inference_mode():
            for b in gen_in:
                loaded.model.generate(**b, **gen_kwargs)

    def early():
        for b in ee_in:
            pred.labels(pred.values_from_inputs(b))

    def enc_full():
        for lo, hi in spans:
            loaded.encode(images[lo:hi], prompts[lo:hi], generation=True)

    def enc_early():
        for lo, hi in spans:
            pred.encode(images[lo:hi], questions[lo:hi])

    t = time_interleaved({"full": full, "early": early}, repeats, loaded.device)
    t.update(time_interleaved({"encode_full": enc_full, "encode_early": enc_early}, repeats, loaded.device))
    return {k: v / n for k, v in t.items()}
