"""Early exit: answer with the Super Neuron(s) after decoder layer ``exit_layer``, skipping the rest of the model.

The predictor runs vision tower, projector, embeddings and decoder layers ``0..exit_layer`` only, through the same
tracing scope as extraction (``sn_core.activations.trace.Trace``, which ends the forward pass after the exit layer), reads
the chosen neurons at the read position and applies the classifier's stump / nearest-mean rule. Later layers, the
final norm, the LM head and all decoding are skipped (docs/method.md, "Early exit"). Load the model with
``max_layers=exit_layer + 1`` to also skip loading the later layers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from sn_core.activations.trace import Trace
from sn_core.data.images import as_rgb
from sn_core.sites import parse_neuron_id, site_name


@dataclass
class Prediction:
    label: str
    values: dict[str, float]  # neuron id -> value at the read position
    exit_layer: int
    seconds: float  # wall time of encode + truncated forward + rule (per example for predict_batch: batch / n)


class EarlyExitPredictor:
    """``EarlyExitPredictor(loaded, clf).predict(image, question) -> Prediction``.

    ``instruction``: the answer-format instruction appended to the question; default the one stored in the
    classifier artifact (the search's task instruction), else "Answer with one word.".
    """

    def __init__(self, loaded, clf, instruction: str | None = None):
        from sklearn.utils.validation import check_is_fitted

        from sn_core.data import DEFAULT_INSTRUCTION

        check_is_fitted(clf, "classes_")
        want = (getattr(clf, "meta_", None) or {}).get("weights_hash")
        if want and want != loaded.weights_hash:  # a classifier only means something on the weights it was fitted on
            from sn_core.classifier.estimator import ArtifactError

            raise ArtifactError(f"the classifier was fitted on weights {want[:12]}..., but the loaded model "
                                f"{loaded.model_id!r} has weights {loaded.weights_hash[:12]}...; re-run the search "
                                "on this model")
        if clf.neurons is None:
            raise ValueError("the classifier has anonymous columns; early exit needs neuron ids")
        self.loaded, self.clf = loaded, clf
        self.neurons = [parse_neuron_id(n) for n in clf.neurons_]
        self.exit_layer = max(layer for _, layer, _ in self.neurons)
        if self.exit_layer >= loaded.n_layers:
            raise ValueError(f"the classifier exits after layer {self.exit_layer}, but the model has only "
                             f"{loaded.n_layers} decoder layers loaded")
        for kind, layer, index in self.neurons:
            if index >= loaded.widths[kind]:
                raise ValueError(f"neuron {site_name(kind, layer)}[{index}] is out of range: the site has width "
                                 f"{loaded.widths[kind]}")
        meta_instr = (getattr(clf, "meta_", None) or {}).get("instruction")
        self.instruction = instruction if instruction is not None else (
            meta_instr if meta_instr is not None else DEFAULT_INSTRUCTION)
        self.sites = sorted({(kind, layer) for kind, layer, _ in self.neurons}, key=lambda s: (s[1], s[0]))

    def prompt(self, question: str) -> str:
        text = f"{question} {self.instruction}".strip() if self.instruction else question
        return self.loaded.prompt(text)

    def values(self, images: Sequence, questions: Sequence[str]) -> np.ndarray:
        """Neuron values ``[n, k]`` (float64, column j = ``clf.neurons_[j]``) from one truncated forward pass."""
        return self.values_from_inputs(self.encode(images, questions))

    def encode(self, images: Sequence, questions: Sequence[str]) -> dict:
        """The model inputs ``values`` runs on (processor call: chat prompt, image tokens, pixels)."""
        return self.loaded.encode([as_rgb(im) for im in images], [self.prompt(q) for q in questions])

    def values_from_inputs(self, inputs: dict) -> np.ndarray:
        """``values`` on an already encoded batch (``encode``): the truncated forward pass and the read only."""
        with Trace(self.loaded, self.sites, stop_after=self.exit_layer) as tr:
            acts = tr.run(inputs)  # {site name: [batch, width]}
            cols = [acts[site_name(kind, layer)][:, index].float() for kind, layer, index in self.neurons]
            return torch.stack(cols, dim=1).cpu().numpy().astype(np.float64)  # [batch, k]

    def labels(self, X: np.ndarray) -> np.ndarray:
        """The classifier's rule on values from :meth:`values` (``[n, k]`` float64, ``clf.neurons_`` order), without
        scikit-learn's input validation, which costs more than an early exit's decoder layer at batch 1."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.neurons):
            raise ValueError(f"expected values of shape [n, {len(self.neurons)}], got {X.shape}")
        return self.clf._vote(X)

    def predict(self, image, question: str) -> Prediction:
        return self.predict_batch([image], [question])[0]

    def predict_batch(self, images: Sequence, questions: Sequence[str], batch_size: int = 16) -> list[Prediction]:
        if len(images) != len(questions):
            raise ValueError(f"{len(images)} images but {len(questions)} questions")
        out = []
        for start in range(0, len(images), batch_size):
            t0 = time.perf_counter()
            X = self.values(images[start:start + batch_size], questions[start:start + batch_size])
            labels = self.labels(X)
            dt = (time.perf_counter() - t0) / len(X)
            for row, lbl in zip(X, labels):
                out.append(Prediction(str(lbl), {n: float(v) for n, v in zip(self.clf.neurons_, row)},
                                      self.exit_layer, dt))
        return out


def load_predictor(path, model: str | None = None, device: str = "cpu", dtype=None,
                   truncate: bool = True) -> EarlyExitPredictor:
    """An :class:`EarlyExitPredictor` from a classifier artifact: loads the model the artifact names (or
    ``model``) in the dtype its search ran in (or ``dtype``), only up to the exit layer when ``truncate``, and
    refuses an artifact whose weights hash does not match the loaded model."""
    from sn_core.classifier.estimator import ArtifactError, SuperNeuronClassifier
    from sn_core.models import UnknownModelError, load_model

    clf = SuperNeuronClassifier.from_json(Path(path))
    if clf.neurons is None:
        raise ArtifactError(f"{path}: the classifier has anonymous columns (no neuron ids), so there is no layer "
                            "to exit after; save one made by a search (or fitted with neurons=...)")
    name = model or clf.meta_.get("model_id")
    if not name:
        raise ArtifactError(f"{path}: the artifact names no model; pass one (--model)")
    if dtype is None:  # the precision the search ran in (bf16 values differ from fp32 ones near a threshold)
        dtype = (clf.meta_.get("meta") or {}).get("dtype")
    try:
        loaded = load_model(name, device=device, dtype=dtype,
                            max_layers=(clf.exit_layer_ + 1) if truncate else None)
    except UnknownModelError as e:
        if model:
            raise
        raise UnknownModelError(f"{path}: the classifier names model {name!r}, which cannot be loaded here ({e}); "
                                "if the model moved, pass its folder (--model / model=)") from None
    want = clf.meta_.get("weights_hash") or ""  # from_json refuses an artifact of model neurons without one
    if want != loaded.weights_hash:
        raise ArtifactError(f"{path}: the classifier was fitted on weights {want[:12]}..., but model {name!r} has "
                            f"weights {loaded.weights_hash[:12]}...; re-run the search on this model")
    return EarlyExitPredictor(loaded, clf)
