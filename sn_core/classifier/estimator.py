"""``SuperNeuronClassifier``: the chosen Super Neuron(s) as a scikit-learn style classifier with a JSON artifact.

Each column of ``X [n_samples, k]`` is one chosen neuron's value (column 0 = the best-ranked neuron). ``fit`` gives
every column its own 1-D classifier (``sn_core.scoring.neuron_scores``: stump for binary, nearest class mean for multi-class, or
one-vs-rest stumps); ``predict`` takes the majority vote of the ``k`` columns, ties going to the class of the
best-ranked (earliest) column among the tied classes (docs/method.md, "Selection and ensembles"). With ``k = 1`` this is
the single Super Neuron's rule.

The artifact (``to_json`` / ``from_json``) is plain JSON, never pickle: format name and version, model id, weights
hash, neurons (id, site, layer, index), rule, thresholds/polarities/class means, labels, prompt/instruction, task.
``from_json`` validates every field and raises ``ArtifactError`` (a ``ValueError``) naming the problem; the format
and its checks are in ``sn_core.classifier.artifact``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

# The artifact format and its checks live in sn_core.classifier.artifact; its names stay importable from here.
from sn_core.classifier.artifact import (ARTIFACT_DTYPES, ARTIFACT_FORMAT, ARTIFACT_VERSION, INT_HI, INT_LO,  # noqa: F401
                              MAX_ARTIFACT_BYTES, MAX_INDEX, MB, META_KEYS, ArtifactError, _label, _num, _short,
                              artifact_params, read_artifact_file, validate_artifact)
from sn_core.scoring.neuron_scores import METRICS, RULES, NeuronScores, predict_neurons, score_neurons
from sn_core.sites import parse_neuron_id, site_name


class SuperNeuronClassifier(ClassifierMixin, BaseEstimator):
    """Majority vote of per-neuron 1-D classifiers fitted on probe values.

    Parameters
    ----------
    neurons : sequence of str or None, default=None
        Neuron ids of the columns of ``X`` in rank order, e.g. ``("blocks.3.mlp.hook_post[17]",)``. ``None``: anonymous
        columns (plain numeric use, scikit-learn checks); then ``exit_layer_`` is ``None``.
    rule : {"auto", "stump", "nearest_mean", "ovr_stump"}, default="auto"
        Per-neuron rule; "auto" = stump for 2 classes, nearest class mean for more.
    metric : {"accuracy", "balanced_accuracy"}, default="accuracy"
        Metric the stump thresholds maximise and ``scores_`` report. (``score`` is plain accuracy, as in sklearn.)

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)       sorted labels
    rule_ : str                                    rule actually used
    threshold_ : ndarray of shape (k,)             stump thresholds (NaN for other rules)
    polarity_ : ndarray of shape (k,)              +1: ``classes_[1]`` when x > threshold; -1 the reverse; 0 no stump
    class_means_ : ndarray of shape (n_classes, k) per-class probe mean of each neuron (NaN: no finite value)
    ovr_threshold_, ovr_polarity_ : ndarray of shape (n_classes, k) or None   one-vs-rest stumps
    class_counts_ : ndarray of shape (n_classes,)  probe labels per class (tie-break order, non-finite fallback)
    scores_ : ndarray of shape (k,)                probe score of each neuron under ``metric``
    neurons_ : tuple of str                        neuron ids (``x0``, ``x1``, ... when ``neurons`` is None)
    exit_layer_ : int or None                      deepest layer any neuron uses
    n_features_in_ : int
    meta_ : dict                                   artifact metadata (model_id, task, prompt...), {} after fit
    """

    def __init__(self, neurons=None, rule="auto", metric="accuracy"):
        self.neurons = neurons
        self.rule = rule
        self.metric = metric

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # non-finite values are predicted as the majority probe class
        return tags

    # ------------------------------------------------------------------------------------------------ fit
    def _check_params(self, n_features: int) -> tuple[str, ...]:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if self.neurons is None:
            return tuple(f"x{j}" for j in range(n_features))
        if isinstance(self.neurons, str):
            raise ValueError(f"neurons must be a sequence of neuron ids, got the single string {self.neurons!r}; "
                             f"use ({self.neurons!r},)")
        neurons = tuple(str(n) for n in self.neurons)
        for n in neurons:
            parse_neuron_id(n)  # ValueError naming the bad id
        if len(set(neurons)) != len(neurons):
            raise ValueError(f"neurons contains duplicates: {neurons}")
        if len(neurons) != n_features:
            raise ValueError(f"X has {n_features} columns but {len(neurons)} neurons were given: {neurons}")
        return neurons

    def fit(self, X, y):
        """Fit each column's 1-D classifier on ``X [n_samples, k]`` and labels ``y [n_samples]``."""
        X, y = validate_data(self, X, y, ensure_all_finite=False, dtype=np.float64)
        check_classification_targets(y)
        neurons = self._check_params(X.shape[1])
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"SuperNeuronClassifier needs at least 2 classes in y, got 1 class: {classes[0]!r}")
        params = score_neurons(X, codes, len(classes), rule=self.rule, metric=self.metric)
        self.classes_ = classes
        self._set_params_from(params, neurons)
        self.meta_ = {}
        return self

    def _set_params_from(self, params: NeuronScores, neurons: tuple[str, ...]) -> None:
        self.rule_ = params.rule
        self.threshold_ = params.threshold
        self.polarity_ = params.polarity
        self.class_means_ = params.class_means
        self.ovr_threshold_ = params.ovr_threshold
        self.ovr_polarity_ = params.ovr_polarity
        self.class_counts_ = params.class_counts
        self.scores_ = params.scores
        self.neurons_ = neurons
        layers = [parse_neuron_id(n)[1] for n in neurons] if self.neurons is not None else []
        self.exit_layer_ = max(layers) if layers else None

    def _params(self) -> NeuronScores:
        check_is_fitted(self, "classes_")
        return NeuronScores(scores=self.scores_, rule=self.rule_, metric=self.metric, n_classes=len(self.classes_),
                            threshold=self.threshold_, polarity=self.polarity_, class_means=self.class_means_,
                            class_counts=self.class_counts_, ovr_threshold=self.ovr_threshold_,
                            ovr_polarity=self.ovr_polarity_)

    # -------------------------------------------------------------------------------------------- predict
    def _validate_X(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        return validate_data(self, X, reset=False, ensure_all_finite=False, dtype=np.float64)

    def neuron_predictions(self, X) -> np.ndarray:
        """Each neuron's own prediction: labels ``[n_samples, k]``."""
        X = self._validate_X(X)
        return self.classes_[predict_neurons(self._params(), X)]

    def predict(self, X) -> np.ndarray:
        """Majority vote of the ``k`` neurons; ties go to the tied class voted by the earliest column."""
        return self._vote(self._validate_X(X))

    def _vote(self, X: np.ndarray) -> np.ndarray:
        """``predict`` without input validation (about 0.3 ms a call): ``X`` must already be a float64
        ``[n_samples, k]`` array in ``neurons_`` order, as ``EarlyExitPredictor.values`` returns."""
        votes = predict_neurons(self._params(), X)  # [n, k] class codes
        n_classes = len(self.classes_)
        counts = np.zeros((X.shape[0], n_classes), dtype=np.int64)  # [n, n_classes]
        np.add.at(counts, (np.arange(X.shape[0])[:, None], votes), 1)
        top = counts == counts.max(axis=1, keepdims=True)  # [n, n_classes] tied-best classes
        first = np.argmax(np.take_along_axis(top, votes, axis=1), axis=1)  # earliest column voting a top class
        return self.classes_[votes[np.arange(X.shape[0]), first]]

    def neuron_rule(self, j: int = 0) -> dict:
        """Neuron ``j``'s fitted rule as plain values (for display): ``rule``, ``classes``, ``class_means``
        (class -> mean), ``threshold`` / ``polarity`` (stump only, else None: ``polarity * (x - threshold) > 0``
        votes ``classes[1]``), ``ovr_thresholds`` / ``ovr_polarities`` (class -> value; one-vs-rest only),
        ``probe_score``."""
        check_is_fitted(self, "classes_")
        classes = [str(c) for c in self.classes_]
        out = {"rule": self.rule_, "classes": classes, "threshold": None, "polarity": None,
               "class_means": {c: float(m) for c, m in zip(classes, self.class_means_[:, j])},
               "probe_score": float(self.scores_[j])}
        if self.rule_ == "stump":
            out.update(threshold=float(self.threshold_[j]), polarity=int(self.polarity_[j]))
        elif self.rule_ == "ovr_stump":
            out["ovr_thresholds"] = {c: float(t) for c, t in zip(classes, self.ovr_threshold_[:, j])}
            out["ovr_polarities"] = {c: int(p) for c, p in zip(classes, self.ovr_polarity_[:, j])}
        return out

    def decision_values(self, X) -> np.ndarray:
        """Per-neuron margins. Stump: ``[n_samples, k]`` = ``polarity * (x - threshold)`` (> 0 votes ``classes_[1]``).

        Nearest mean: ``[n_samples, k, n_classes]`` = ``-|x - mean_c|``; one-vs-rest: ``p_c * (x - t_c)``; the vote
        of a neuron is the class with the largest margin (NaN for non-finite inputs).
        """
        X = self._validate_X(X)
        if self.rule_ == "stump":
            return self.polarity_[None, :] * (X - self.threshold_[None, :])
        if self.rule_ == "nearest_mean":
            return -np.abs(X[:, :, None] - self.class_means_.T[None, :, :])
        return self.ovr_polarity_.T[None, :, :] * (X[:, :, None] - self.ovr_threshold_.T[None, :, :])

    # ------------------------------------------------------------------------------------------- artifact
    def to_dict(self, **meta) -> dict:
        """The JSON-ready artifact; ``meta`` keys in ``META_KEYS`` go to the top level, others under ``"meta"``."""
        check_is_fitted(self, "classes_")
        top = {k: meta.pop(k, self.meta_.get(k)) for k in META_KEYS}
        for k in META_KEYS:
            if top[k] is not None and not isinstance(top[k], str):
                raise TypeError(f"{k} must be a string, got {type(top[k]).__name__}")
        if self.neurons is not None and not top["weights_hash"]:
            raise ValueError("a classifier of model neurons is saved with the weights hash of the model it was "
                             "fitted on: pass weights_hash=loaded.weights_hash (SearchResult.classifier() sets it)")
        from sn_core.store.io import jsonable  # numpy scalars/arrays -> JSON; anything else: TypeError naming the key

        extra = {k: v for k, v in self.meta_.get("meta", {}).items()}
        extra.update(jsonable(meta, "meta"))
        neurons = []
        for j, nid in enumerate(self.neurons_):
            entry = {"id": nid, "site": None, "layer": None, "index": None}
            if self.neurons is not None:
                kind, layer, index = parse_neuron_id(nid)
                entry.update(site=site_name(kind, layer), layer=layer, index=index)
            entry.update(probe_score=_num(self.scores_[j]), threshold=_num(self.threshold_[j]),
                         polarity=int(self.polarity_[j]), class_means=[_num(v) for v in self.class_means_[:, j]])
            if self.ovr_threshold_ is not None:
                entry["ovr_threshold"] = [_num(v) for v in self.ovr_threshold_[:, j]]
                entry["ovr_polarity"] = [int(v) for v in self.ovr_polarity_[:, j]]
            neurons.append(entry)
        return {"format": ARTIFACT_FORMAT, "format_version": ARTIFACT_VERSION, **top,
                "rule": self.rule_, "metric": self.metric, "labels": [_label(c) for c in self.classes_],
                "class_counts": [int(c) for c in self.class_counts_], "exit_layer": self.exit_layer_,
                "neurons": neurons, "meta": extra}

    def to_json(self, path, **meta) -> Path:
        """Write the artifact to ``path`` (atomically); returns the path."""
        from sn_core.store.io import atomic_write_bytes  # local: keeps the classifier importable on its own

        doc = self.to_dict(**meta)
        text = json.dumps(doc, indent=1, allow_nan=False)
        path = Path(path)
        atomic_write_bytes(path, text.encode("utf-8"))
        return path

    @classmethod
    def from_dict(cls, doc, expect_model_id: str | None = None,
                  expect_weights_hash: str | None = None) -> "SuperNeuronClassifier":
        """Rebuild a fitted classifier from an artifact dict, validating every field (``ArtifactError``)."""
        validate_artifact(doc)
        for key, want in (("model_id", expect_model_id), ("weights_hash", expect_weights_hash)):
            if want is not None and doc.get(key) != want:
                raise ArtifactError(f"artifact was made for {key}={_short(doc.get(key))}, but the loaded model has "
                                    f"{key}={want!r}; re-run the search on this model")
        named = doc["neurons"][0]["site"] is not None
        neurons = tuple(n["id"] for n in doc["neurons"])
        clf = cls(neurons=neurons if named else None, rule=doc["rule"], metric=doc["metric"])
        clf.classes_ = np.array(doc["labels"])
        clf.n_features_in_ = len(neurons)
        params = artifact_params(doc)
        clf._set_params_from(params, neurons)
        clf.meta_ = {k: doc.get(k) for k in META_KEYS}
        clf.meta_["meta"] = dict(doc.get("meta") or {})
        return clf

    @classmethod
    def from_json(cls, path, expect_model_id: str | None = None,
                  expect_weights_hash: str | None = None) -> "SuperNeuronClassifier":
        """Load an artifact written by ``to_json``; ``expect_*``: refuse an artifact made for another model."""
        path = Path(path)
        doc = read_artifact_file(path)
        try:
            return cls.from_dict(doc, expect_model_id=expect_model_id, expect_weights_hash=expect_weights_hash)
        except ArtifactError as err:
            raise ArtifactError(f"{path}: {err}") from None


__all__ = ["SuperNeuronClassifier", "ArtifactError", "ARTIFACT_FORMAT", "ARTIFACT_VERSION", "META_KEYS"]
