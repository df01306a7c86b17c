"""Baselines a Super Neuron is compared with, all on the same held-out test split (docs/method.md, "Baselines").

- :func:`generate_answers`: the base model itself, greedy generation of the answer, normalised and matched to the
  label set (``sn_core.models.prompts.match_label``); an answer outside the label set counts as wrong.
- :func:`sav_baseline`: Sparse Attention Vectors (Mitra et al., chancharikmitra/SAVs defaults): per-head
  ``attn.hook_z`` vectors at the read position, class means on the probe split, cosine-nearest class mean per
  head, heads ranked by their probe accuracy, the top 20 heads vote.
- :func:`linear_probe_baseline`: logistic regression on the full residual stream (``hook_resid_post``) of the
  best layer, an upper reference that is *not* training-free. "Best layer" is chosen on the probe split only:
  the layer with the highest stratified k-fold cross-validated probe accuracy (ties: the earlier layer).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from sn_core.models.prompts import match_label

Progress = Callable[[str, int, int], None]
SAV_TOP_HEADS = 20  # chancharikmitra/SAVs: the 20 best heads vote


# ------------------------------------------------------------------------------------------ base model
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


# ------------------------------------------------------------------------------------------ SAV
def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def sav_head_predictions(attn: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Cosine-nearest class mean per head: ``attn [n_layers, n, H, d_head]``, ``means [n_layers, H, C, d_head]``
    -> class codes ``[n_layers, H, n]``."""
    sims = np.einsum("lnhd,lhcd->lhnc", _unit(attn), _unit(means))  # [n_layers, H, n, C]
    return sims.argmax(-1)


def sav_baseline(attn_probe: np.ndarray, y_probe: np.ndarray, attn_test: np.ndarray, y_test: np.ndarray,
                 n_heads: int, n_classes: int | None = None, n_top_heads: int = SAV_TOP_HEADS,
                 layers: Sequence[int] | None = None) -> dict:
    """SAV on ``attn.hook_z`` values ``[n_layers, n, n_heads*d_head]``; ``y`` are int class codes.

    Heads are ranked by their accuracy on the probe split (the same support set their class means come from, as
    in SAVs), ties to the earlier (layer, head); the top ``n_top_heads`` vote, ties to the better-ranked head.
    Returns ``test_accuracy``, ``probe_accuracy`` (of the vote), and ``heads`` (layer, head, probe accuracy).
    """
    y_probe, y_test = np.asarray(y_probe), np.asarray(y_test)
    n_classes = int(n_classes or max(y_probe.max(), y_test.max()) + 1)
    L, n_p, width = attn_probe.shape
    d_head = width // n_heads
    ap = attn_probe.reshape(L, n_p, n_heads, d_head).astype(np.float64)  # [L, n_probe, H, d_head]
    at = attn_test.reshape(L, attn_test.shape[1], n_heads, d_head).astype(np.float64)  # [L, n_test, H, d_head]
    onehot = np.eye(n_classes)[y_probe]  # [n_probe, C]
    counts = np.maximum(onehot.sum(0), 1)  # [C]
    means = np.einsum("lnhd,nc->lhcd", ap, onehot) / counts[None, None, :, None]  # [L, H, C, d_head]
    probe_pred = sav_head_predictions(ap, means)  # [L, H, n_probe]
    head_acc = (probe_pred == y_probe[None, None, :]).mean(-1)  # [L, H]
    order = np.argsort(-head_acc.reshape(-1), kind="stable")[:n_top_heads]  # flat (layer, head) indices
    chosen = [(int(i // n_heads), int(i % n_heads)) for i in order]

    def vote(pred: np.ndarray) -> np.ndarray:  # pred [L, H, n] -> [n]
        votes = np.stack([pred[li, h] for li, h in chosen], axis=1)  # [n, n_top]
        counts_ = np.zeros((votes.shape[0], n_classes), dtype=np.int64)
        np.add.at(counts_, (np.arange(votes.shape[0])[:, None], votes), 1)
        top = counts_ == counts_.max(1, keepdims=True)
        first = np.argmax(np.take_along_axis(top, votes, axis=1), axis=1)
        return votes[np.arange(votes.shape[0]), first]

    test_pred = vote(sav_head_predictions(at, means))
    layer_ids = list(layers) if layers is not None else list(range(L))
    return {"test_accuracy": float((test_pred == y_test).mean()),
            "probe_accuracy": float((vote(probe_pred) == y_probe).mean()),
            "n_top_heads": len(chosen),
            "heads": [{"layer": layer_ids[li], "head": h, "probe_accuracy": float(head_acc[li, h])}
                      for li, h in chosen],
            "test_predictions": test_pred.tolist()}


# ------------------------------------------------------------------------------------------ linear probe
def _lr():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))


def linear_probe_baseline(resid_probe: np.ndarray, y_probe: np.ndarray, resid_test: np.ndarray, y_test: np.ndarray,
                          layers: Sequence[int] | None = None, seed: int = 0, folds: int = 5) -> dict:
    """Logistic regression (standardised features, L2, C=1) on ``hook_resid_post`` ``[n_layers, n, d_model]``.

    The layer is chosen by stratified ``folds``-fold cross-validation on the probe split (ties: earlier layer);
    the model is then fitted on the whole probe split and scored on the test split.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    y_probe, y_test = np.asarray(y_probe), np.asarray(y_test)
    L = resid_probe.shape[0]
    layer_ids = list(layers) if layers is not None else list(range(L))
    counts = np.bincount(y_probe) if len(y_probe) else np.zeros(1, dtype=int)
    min_class = int(counts[counts > 0].min()) if counts.any() else 0
    k = min(folds, min_class)
    cv = []
    for li in range(L):
        if k >= 2:
            skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            cv.append(float(cross_val_score(_lr(), resid_probe[li], y_probe, cv=skf).mean()))
        else:  # too few probe examples per class to cross-validate: fall back to training accuracy
            cv.append(float(_lr().fit(resid_probe[li], y_probe).score(resid_probe[li], y_probe)))
    best = int(np.argmax(cv))
    model = _lr().fit(resid_probe[best], y_probe)
    return {"layer": layer_ids[best], "test_accuracy": float(model.score(resid_test[best], y_test)),
            "cv_probe_accuracy": {str(layer_ids[i]): cv[i] for i in range(L)}, "folds": k}


# ------------------------------------------------------------------------------------------ search stage
def run_baselines(loaded, ext, sub, prompts: Sequence[str], data, labels: Sequence[str], batch_size: int,
                  seed: int, progress: Progress | None = None) -> dict:
    """The search's baselines on its test split: base model (greedy generation), SAV (``attn`` at every layer) and
    the linear probe (``resid`` at every layer). ``ext`` is the search's extraction of ``sub``'s examples; ``data``
    its ``ranking.SplitData``. Returns ``{"base": ..., "sav": ..., "probe_lr": ...}``."""
    base: dict = {"base": None, "sav": None, "probe_lr": None}
    step = (lambda d: progress("baselines", d, 3)) if progress else (lambda d: None)
    step(0)
    if loaded.truncated:
        base["base"] = {"skipped": "model loaded with max_layers; generation needs every layer"}
    else:
        test_ex = [sub.examples[i] for i in data.t_idx]
        gen = generate_answers(loaded, [e.image for e in test_ex], [prompts[i] for i in data.t_idx], labels,
                               batch_size=batch_size,
                               progress=(lambda s, d, t: progress("generate", d, t)) if progress else None)
        base["base"] = {"test_accuracy": gen.accuracy([e.label for e in test_ex]),
                        "max_new_tokens": gen.max_new_tokens, "seconds": gen.seconds,
                        "outside_label_set": int(sum(p is None for p in gen.predicted)), "answers": gen.answers}
    step(1)
    attn = ext.stack("attn")  # [n_layers_all, n_used, n_heads*d_head]
    base["sav"] = sav_baseline(attn[:, data.p_idx], data.yp, attn[:, data.t_idx], data.yt, loaded.n_heads,
                               data.n_classes, layers=ext.layers)
    step(2)
    resid = ext.stack("resid")  # [n_layers_all, n_used, d_model]
    base["probe_lr"] = linear_probe_baseline(resid[:, data.p_idx], data.yp, resid[:, data.t_idx], data.yt,
                                             layers=ext.layers, seed=seed)
    step(3)
    return base
