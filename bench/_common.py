"""Timing helpers shared by the early-exit benchmarks (``bench/early_exit.py``, ``bench/early_exit_scale.py``)."""
from __future__ import annotations

import statistics
import time

import torch


def sync(device) -> None:
    """Wait for queued GPU work, so that wall time covers it."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def time_pair(fa, fb, repeats: int, device) -> tuple[float, float]:
    """Median wall seconds of ``fa()`` and ``fb()``, warmed up, run interleaved (a noisy machine slows both alike)."""
    fa(), fb()
    ta, tb = [], []
    for _ in range(repeats):
        for f, ts in ((fa, ta), (fb, tb)):
            sync(device)
            t = time.perf_counter()
            f()
            sync(device)
            ts.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


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

    t_full, t_early = time_pair(full, early, repeats, loaded.device)
    e_full, e_early = time_pair(enc_full, enc_early, repeats, loaded.device)
    return {"full": t_full / n, "early": t_early / n, "encode_full": e_full / n, "encode_early": e_early / n}
