"""Full generation against early exit, timed for ``bench/early_exit.py`` and ``early_exit_scale.py`` with the
interleaved timing of ``sn_core.shortcut.timing``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sn_core.shortcut.timing import time_chunks_interleaved


@dataclass
class FreshSet:
    """Examples a benchmark times: fresh ones (generator seed 99, never the search's), encoded for both paths."""

    task: object
    images: list
    questions: list
    truth: np.ndarray
    prompts: list
    new_tokens: int  # greedy generation budget: the longest label's tokens
    pad_id: int
    prompt_len: int


def fresh_eval_set(loaded, task_name: str, n: int) -> FreshSet:
    from sn_core.data import get_task
    from sn_core.data.images import as_rgb
    from sn_core.models.generation import label_token_budget

    task = get_task(task_name, n, seed=99, part="eval")  # fresh examples, not the search's
    images = [as_rgb(e.image) for e in task.examples]
    questions = [e.question for e in task.examples]
    prompts = [loaded.prompt(task.prompt_text(q)) for q in questions]
    tok = loaded.processor.tokenizer
    return FreshSet(task, images, questions, np.array([e.label for e in task.examples]), prompts,
                    label_token_budget(loaded.processor, task.labels),
                    tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                    int(loaded.encode(images[:1], prompts[:1])["input_ids"].shape[1]))


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
