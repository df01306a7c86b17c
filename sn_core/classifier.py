"""``SuperNeuronClassifier``: the chosen Super Neuron(s) as a scikit-learn style classifier with a JSON artifact.

Each column of ``X [n_samples, k]`` is one chosen neuron's value (column 0 = the best-ranked neuron). ``fit`` gives
every column its own 1-D classifier (``sn_core.scoring``: stump for binary, nearest class mean for multi-class, or
one-vs-rest stumps); ``predict`` takes the majority vote of the ``k`` columns, ties going to the class of the
best-ranked (earliest) column among the tied classes (docs/method.md, "Selection and ensembles"). With ``k = 1`` this is
the single Super Neuron's rule.

The artifact (``to_json`` / ``from_json``) is plain JSON, never pickle: format name and version, model id, weights
hash, neurons (id, site, layer, index), rule, thresholds/polarities/class means, labels, prompt/instruction, task.
``from_json`` validates every field and raises ``ArtifactError`` (a ``ValueError``) naming the problem.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from sn_core.scoring import METRICS, RULES, NeuronScores, predict_neurons, resolve_rule, score_neurons
from sn_core.sites import parse_neuron_id, site_name

ARTIFACT_FORMAT = "super-neuron-classifier"
ARTIFACT_VERSION = 1
MB = 1024 * 1024  # the unit of every size message, as Streamlit's server.maxUploadSize counts it
MAX_ARTIFACT_BYTES = 64 * MB  # a k-neuron artifact is a few KB; larger files are refused unread
MAX_INDEX = 10 ** 9  # no model has a billion layers or a site a billion wide
ARTIFACT_DTYPES = ("fp32", "float32", "float", "fp16", "float16", "half", "bf16", "bfloat16")  # meta.dtype
INT_LO, INT_HI = -(2 ** 63), 2 ** 63 - 1  # integers the classifier stores as int64
# Top-level metadata that to_json(**meta) promotes out of "meta" (the early-exit predictor reads them).
META_KEYS = ("model_id", "weights_hash", "task", "prompt", "instruction")


class ArtifactError(ValueError):
    """A classifier artifact that cannot be used: unreadable, wrong format/version/types, or for another model."""


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
        from sn_core.store import _jsonable  # numpy scalars/arrays -> JSON; anything else: TypeError naming the key

        extra = {k: v for k, v in self.meta_.get("meta", {}).items()}
        extra.update(_jsonable(meta, "meta"))
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
        from sn_core.store import atomic_write_bytes  # local: keeps the classifier importable on its own

        doc = self.to_dict(**meta)
        text = json.dumps(doc, indent=1, allow_nan=False)
        path = Path(path)
        atomic_write_bytes(path, text.encode("utf-8"))
        return path

    @classmethod
    def from_dict(cls, doc, expect_model_id: str | None = None,
                  expect_weights_hash: str | None = None) -> "SuperNeuronClassifier":
        """Rebuild a fitted classifier from an artifact dict, validating every field (``ArtifactError``)."""
        _validate_artifact(doc)
        for key, want in (("model_id", expect_model_id), ("weights_hash", expect_weights_hash)):
            if want is not None and doc.get(key) != want:
                raise ArtifactError(f"artifact was made for {key}={_short(doc.get(key))}, but the loaded model has "
                                    f"{key}={want!r}; re-run the search on this model")
        named = doc["neurons"][0]["site"] is not None
        neurons = tuple(n["id"] for n in doc["neurons"])
        clf = cls(neurons=neurons if named else None, rule=doc["rule"], metric=doc["metric"])
        k, n_classes = len(neurons), len(doc["labels"])
        clf.classes_ = np.array(doc["labels"])
        clf.n_features_in_ = k
        params = NeuronScores(
            scores=np.array([_f(n["probe_score"]) for n in doc["neurons"]]), rule=doc["rule"], metric=doc["metric"],
            n_classes=n_classes, threshold=np.array([_f(n["threshold"]) for n in doc["neurons"]]),
            polarity=np.array([n["polarity"] for n in doc["neurons"]], dtype=np.int8),
            class_means=np.array([[_f(v) for v in n["class_means"]] for n in doc["neurons"]]).T.reshape(n_classes, k),
            class_counts=np.array(doc["class_counts"], dtype=np.int64),
            ovr_threshold=(np.array([[_f(v) for v in n["ovr_threshold"]] for n in doc["neurons"]]).T
                           if doc["rule"] == "ovr_stump" else None),
            ovr_polarity=(np.array([n["ovr_polarity"] for n in doc["neurons"]], dtype=np.int8).T
                          if doc["rule"] == "ovr_stump" else None),
        )
        clf._set_params_from(params, neurons)
        clf.meta_ = {k: doc.get(k) for k in META_KEYS}
        clf.meta_["meta"] = dict(doc.get("meta") or {})
        return clf

    @classmethod
    def from_json(cls, path, expect_model_id: str | None = None,
                  expect_weights_hash: str | None = None) -> "SuperNeuronClassifier":
        """Load an artifact written by ``to_json``; ``expect_*``: refuse an artifact made for another model."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_ARTIFACT_BYTES:
                raise ArtifactError(f"{path}: file is {size / MB:.1f} MB, more than the {MAX_ARTIFACT_BYTES / MB:.0f} "
                                    "MB a classifier artifact can be; refused unread")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ArtifactError(f"classifier artifact not found: {path}") from None
        except (OSError, UnicodeDecodeError, ValueError) as err:  # ValueError: a NUL byte in the path
            if isinstance(err, ArtifactError):
                raise
            raise ArtifactError(f"cannot read classifier artifact {path}: {err}") from None
        try:
            doc = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise ArtifactError(f"{path} is not a classifier artifact: its JSON is nested too deeply") from None
        except (json.JSONDecodeError, ValueError) as err:
            raise ArtifactError(f"{path} is not valid JSON: {err}") from None
        try:
            return cls.from_dict(doc, expect_model_id=expect_model_id, expect_weights_hash=expect_weights_hash)
        except ArtifactError as err:
            raise ArtifactError(f"{path}: {err}") from None


# ------------------------------------------------------------------------------------------------ helpers
def _number(v, what: str, nullable: bool = False, lo: float | None = None, hi: float | None = None):
    """A JSON number as a finite float (``None`` passes when ``nullable``); ArtifactError otherwise. JSON reads
    ``1e400`` as infinity and ``10**400`` as an int no float holds: both are refused, as are values outside
    ``[lo, hi]``."""
    if v is None and nullable:
        return None
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise ArtifactError(f"{what} must be a number{' or null' if nullable else ''}, got {_type_name(v)}")
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise ArtifactError(f"{what} must be a finite number, got {_short(v)}")
    if (lo is not None and f < lo) or (hi is not None and f > hi):
        raise ArtifactError(f"{what} must be between {lo} and {hi}, got {_short(v)}")
    return f


def _short(v, limit: int = 80) -> str:
    """``repr(v)`` cut to ``limit`` characters (a malformed field can be megabytes long). Python refuses to print
    an int of more than 4300 digits, so huge ints are described by their length."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10 ** 30:
        return f"an integer of {len(str(abs(v))) if abs(v) < 10 ** 4000 else 'over 4000'} digits"
    text = repr(v)
    return text if len(text) <= limit else text[:limit] + "..."


def _int(v, lo: int = INT_LO, hi: int = INT_HI) -> bool:
    """Whether ``v`` is a (non-bool) integer in ``[lo, hi]``."""
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _num(v):
    """float for JSON; NaN (no value) -> None."""
    v = float(v)
    return None if math.isnan(v) else v


def _f(v):
    return math.nan if v is None else float(v)


def _label(c):
    if isinstance(c, (np.integer, int)) and not isinstance(c, bool):
        return int(c)
    return str(c)


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _type_name(v) -> str:
    return type(v).__name__


def _require(doc: dict, key: str, types, what: str):
    """``doc[key]``, checked to be one of ``types`` (a bool never passes for int/float)."""
    if key not in doc:
        raise ArtifactError(f"missing key {key!r} in {what}")
    types = types if isinstance(types, tuple) else (types,)
    v = doc[key]
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        names = " or ".join(t.__name__ for t in types)
        raise ArtifactError(f"{what}[{key!r}] must be {names}, got {_type_name(v)} {_short(v)}")
    return v


def _validate_artifact(doc) -> None:
    """Raise ``ArtifactError`` naming the first problem of an artifact dict."""
    if not isinstance(doc, dict):
        raise ArtifactError(f"artifact must be a JSON object, got {_type_name(doc)}")
    fmt = doc.get("format")
    if fmt != ARTIFACT_FORMAT:
        raise ArtifactError(f"not a Super Neuron classifier artifact: format={_short(fmt)} (expected {ARTIFACT_FORMAT!r})")
    version = _require(doc, "format_version", int, "artifact")
    if version != ARTIFACT_VERSION:
        raise ArtifactError(f"unsupported format_version {_short(version)}; this code reads version {ARTIFACT_VERSION}")
    for key in META_KEYS:
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise ArtifactError(f"artifact[{key!r}] must be a string or null, got {_type_name(doc[key])}")
    rule = _require(doc, "rule", str, "artifact")
    if rule not in RULES[1:]:
        raise ArtifactError(f"unknown rule {_short(rule)}; expected one of {RULES[1:]}")
    metric = _require(doc, "metric", str, "artifact")
    if metric not in METRICS:
        raise ArtifactError(f"unknown metric {_short(metric)}; expected one of {METRICS}")
    labels = _require(doc, "labels", list, "artifact")
    if len(labels) < 2:
        raise ArtifactError(f"labels must list at least 2 classes, got {_short(labels)}")
    kinds = {type(v) for v in labels}
    if not (kinds <= {str} or kinds <= {int}):
        raise ArtifactError(f"labels must be all strings or all integers, got {_short(labels)}")
    if kinds <= {int} and not all(_int(v) for v in labels):
        raise ArtifactError(f"integer labels must fit in 64 bits, got {_short(labels)}")
    if len(set(labels)) != len(labels):
        raise ArtifactError(f"labels contain duplicates: {_short(labels)}")
    if list(labels) != sorted(labels):
        raise ArtifactError(f"labels must be sorted (the order of class codes), got {_short(labels)}")
    n_classes = len(labels)
    counts = _require(doc, "class_counts", list, "artifact")
    if len(counts) != n_classes or not all(_int(c, 0) for c in counts):
        raise ArtifactError(f"class_counts must be {n_classes} non-negative integers (one per label, below 2**63), "
                            f"got {_short(counts)}")
    if rule == "stump" and n_classes != 2:
        raise ArtifactError(f"rule 'stump' needs 2 labels, got {n_classes}: {_short(labels)}")
    neurons = _require(doc, "neurons", list, "artifact")
    if not neurons:
        raise ArtifactError("artifact lists no neurons")
    named = None
    layers = []
    for j, n in enumerate(neurons):
        what = f"neurons[{j}]"
        if not isinstance(n, dict):
            raise ArtifactError(f"{what} must be an object, got {_type_name(n)}")
        nid = _require(n, "id", str, what)
        has_site = n.get("site") is not None
        if named is None:
            named = has_site
        elif named != has_site:
            raise ArtifactError(f"{what}: either every neuron has a site/layer/index or none does")
        if has_site:
            try:
                kind, layer, index = parse_neuron_id(nid)
            except ValueError as err:
                raise ArtifactError(f"{what}: {str(err)[:200]}") from None
            if layer > MAX_INDEX or index > MAX_INDEX:
                raise ArtifactError(f"{what}: layer and index must be at most {MAX_INDEX}, got id {_short(nid)}")
            got = (n.get("site"), n.get("layer"), n.get("index"))
            if got != (site_name(kind, layer), layer, index):
                raise ArtifactError(f"{what}: site/layer/index {_short(got)} do not match id {_short(nid)}")
            layers.append(layer)
        _require(n, "probe_score", (int, float), what)
        _number(n["probe_score"], f"{what}['probe_score']", lo=0.0, hi=1.0)
        if "threshold" not in n:
            raise ArtifactError(f"missing key 'threshold' in {what}")
        thr = _number(n["threshold"], f"{what}['threshold']", nullable=True)
        pol = _require(n, "polarity", int, what)
        if pol not in (1, 0, -1):
            raise ArtifactError(f"{what}['polarity'] must be +1, -1 or 0, got {_short(pol)}")
        if rule == "stump" and (pol not in (1, -1) or thr is None):
            raise ArtifactError(f"{what}: a stump needs a numeric threshold and polarity +1/-1, "
                                f"got threshold={thr!r} polarity={_short(pol)}")
        means = _require(n, "class_means", list, what)
        if len(means) != n_classes:
            raise ArtifactError(f"{what}['class_means'] must hold {n_classes} numbers/nulls (one per label), "
                                f"got {_short(means)}")
        for i, v in enumerate(means):
            _number(v, f"{what}['class_means'][{i}]", nullable=True)
        if rule == "ovr_stump":
            ot = _require(n, "ovr_threshold", list, what)
            op = _require(n, "ovr_polarity", list, what)
            if len(ot) != n_classes:
                raise ArtifactError(f"{what}['ovr_threshold'] must hold {n_classes} numbers, got {_short(ot)}")
            for i, v in enumerate(ot):
                _number(v, f"{what}['ovr_threshold'][{i}]")
            if len(op) != n_classes or not all(v in (1, -1) and not isinstance(v, bool) for v in op):
                raise ArtifactError(f"{what}['ovr_polarity'] must hold {n_classes} values +1/-1, got {_short(op)}")
    ids = [n["id"] for n in neurons]
    if len(set(ids)) != len(ids):
        raise ArtifactError(f"duplicate neuron ids: {_short(ids)}")
    exit_layer = doc.get("exit_layer")
    if named and exit_layer != max(layers):
        raise ArtifactError(f"exit_layer {_short(exit_layer)} does not match the deepest neuron layer {max(layers)}")
    if named and not doc.get("weights_hash"):  # the thresholds only mean something on the weights they came from
        raise ArtifactError("the artifact has no weights_hash, so nothing ties its thresholds to the weights they "
                            "were fitted on; refused (save it again from its search: search --save-classifier)")
    if doc.get("meta") is not None and not isinstance(doc["meta"], dict):
        raise ArtifactError(f"artifact['meta'] must be an object, got {_type_name(doc['meta'])}")
    dtype = (doc.get("meta") or {}).get("dtype")
    if dtype is not None and dtype not in ARTIFACT_DTYPES:
        raise ArtifactError(f"artifact['meta']['dtype'] must be one of {ARTIFACT_DTYPES} or null, got {_short(dtype)}")


__all__ = ["SuperNeuronClassifier", "ArtifactError", "ARTIFACT_FORMAT", "ARTIFACT_VERSION", "META_KEYS"]
