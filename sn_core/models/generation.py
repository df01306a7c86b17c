"""The base model's own answer, the first baseline of docs/method.md ("Baselines"): greedy generation of as many
new tokens as the longest label needs, normalised and matched to the label set (``sn_core.data.answers``); an
answer outside the label set counts as wrong."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from sn_core.progress import Progress
from sn_core.data.answers import match_label



@dataclass
class GenerationResult:
    answers: list[str]  # raw decoded continuations
    predicted: list[str | None]  # matched label, None when outside the label set
    max_new_tokens: int
    seconds: float

    def accuracy(self, labels: Sequence[str]) -> float:
        return float(np.mean([p == lbl for p, lbl in zip(self.predicted, labels)])) if labels else float("nan")


def label_token_budget(processor, labels: Sequence[str]) -> int:
    """New tokens greedy generation needs: the longest label's token count, over the ways a model may write it
    (as given or capitalised, with or without a leading space: "yes", " Yes", ...; ``match_label`` ignores case, so
    a capitalised answer cut short would count as wrong). docs/method.md, "Speed": "as many new tokens as the longest
    label needs"; no extra token for an end-of-sequence marker, since the label is read from the first word of the
    answer (``match_label``)."""
    tok = processor.tokenizer
    n = max(len(tok(pre + form, add_special_tokens=False)["input_ids"])
            for lbl in labels for form in dict.fromkeys((lbl, lbl.capitalize())) for pre in ("", " "))
    return int(n)


def generate_answers(loaded, images: Sequence, prompts: Sequence[str], labels: Sequence[str], batch_size: int = 16,
                     max_new_tokens: int | None = None, progress: Progress | None = None) -> GenerationResult:
    """Greedy answers of the full model (``do_sample=False``), decoded and matched to ``labels``."""
    from sn_core.data.images import as_rgb

    if loaded.truncated:
        raise ValueError(f"the model was loaded with only {loaded.n_layers} of {loaded.n_layers_total} decoder "
                         "layers (max_layers); the base-model baseline needs the full model")
    if max_new_tokens is None:
        max_new_tokens = label_token_budget(loaded.processor, labels)
    tok = loaded.processor.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    answers: list[str] = []
    t0 = time.perf_counter()
    n = len(prompts)
    for start in range(0, n, batch_size):
        batch = loaded.encode([as_rgb(im) for im in images[start:start + batch_size]],
                              list(prompts[start:start + batch_size]), generation=True)
        with loaded.lock, torch.inference_mode():  # no other thread's tracing hooks during generation
            out = loaded.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                        pad_token_id=pad_id)  # [batch, pos + new]
        new = out[:, batch["input_ids"].shape[1]:]  # [batch, new]
        answers.extend(tok.batch_decode(new, skip_special_tokens=True))
        if progress:
            progress("generate", min(start + batch_size, n), n)
    predicted = [match_label(a, labels) for a in answers]
    return GenerationResult(answers, predicted, int(max_new_tokens), time.perf_counter() - t0)
