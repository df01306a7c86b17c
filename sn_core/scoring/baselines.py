"""The training-free and trained references a Super Neuron is compared with on the same test split
(docs/method.md, "Baselines"), on stored activations (no model):

- :func:`sav_baseline`: Sparse Attention Vectors (Mitra et al., chancharikmitra/SAVs defaults): per-head
  ``attn.hook_z`` vectors at the read position, class means on the probe split, cosine-nearest class mean per
  head, heads ranked by their probe accuracy, the top 20 heads vote.
- :func:`linear_probe_baseline`: logistic regression on the full residual stream (``hook_resid_post``) of the
  best layer, an upper reference that is *not* training-free. "Best layer" is chosen on the probe split only:
  the layer with the highest stratified k-fold cross-validated probe accuracy (ties: the earlier layer).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

SAV_TOP_HEADS = 20  # chancharikmitra/SAVs: the 20 best heads vote


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
