"""The classifier artifact format: constants, reading a file, and validating every field of the JSON document.

``SuperNeuronClassifier.to_json`` / ``from_json`` (``sn_core.classifier.estimator``) write and read this format; this module
holds the checks so that each field's rule can be read on its own. Every problem raises ``ArtifactError`` (a
``ValueError``) naming the field; the checks run in document order, so the first problem found is the one reported.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from sn_core.scoring.neuron_scores import METRICS, RULES, NeuronScores
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


# ------------------------------------------------------------------------------------------------ reading
def read_artifact_file(path: Path):
    """The parsed JSON of the artifact at ``path`` (not yet validated); ``ArtifactError`` when the file is missing,
    over ``MAX_ARTIFACT_BYTES``, not UTF-8, not JSON, or nested too deeply."""
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
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ArtifactError(f"{path} is not a classifier artifact: its JSON is nested too deeply") from None
    except (json.JSONDecodeError, ValueError) as err:
        raise ArtifactError(f"{path} is not valid JSON: {err}") from None


def artifact_params(doc: dict) -> NeuronScores:
    """The fitted per-neuron parameters of a validated artifact dict (``None`` in JSON -> NaN)."""
    neurons = doc["neurons"]
    k, n_classes = len(neurons), len(doc["labels"])
    ovr = doc["rule"] == "ovr_stump"
    return NeuronScores(
        scores=np.array([_f(n["probe_score"]) for n in neurons]), rule=doc["rule"], metric=doc["metric"],
        n_classes=n_classes, threshold=np.array([_f(n["threshold"]) for n in neurons]),
        polarity=np.array([n["polarity"] for n in neurons], dtype=np.int8),
        class_means=np.array([[_f(v) for v in n["class_means"]] for n in neurons]).T.reshape(n_classes, k),
        class_counts=np.array(doc["class_counts"], dtype=np.int64),
        ovr_threshold=np.array([[_f(v) for v in n["ovr_threshold"]] for n in neurons]).T if ovr else None,
        ovr_polarity=np.array([n["ovr_polarity"] for n in neurons], dtype=np.int8).T if ovr else None,
    )


# ------------------------------------------------------------------------------------------------ validation
def validate_artifact(doc) -> None:
    """Raise ``ArtifactError`` naming the first problem of an artifact dict."""
    rule = _check_header(doc)
    n_classes = _check_labels(doc, rule)
    named, layers = _check_neurons(doc, rule, n_classes)
    _check_exit_and_meta(doc, named, layers)


def _check_header(doc) -> str:
    """Object, format name and version, string metadata, rule and metric; returns the rule."""
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
    return rule


def _check_labels(doc: dict, rule: str) -> int:
    """Labels (2+, sorted, distinct, all str or all int64) and one class count per label; returns the class count."""
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
    return n_classes


def _check_neurons(doc: dict, rule: str, n_classes: int) -> tuple[bool, list[int]]:
    """Every neuron entry, then distinct ids; returns whether the neurons are named model neurons and their layers."""
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
            layers.append(_check_neuron_site(n, nid, what))
        _check_neuron_rule(n, what, rule, n_classes)
    ids = [n["id"] for n in neurons]
    if len(set(ids)) != len(ids):
        raise ArtifactError(f"duplicate neuron ids: {_short(ids)}")
    return named, layers


def _check_neuron_site(n: dict, nid: str, what: str) -> int:
    """A named neuron: a parseable id whose site/layer/index fields agree with it; returns its layer."""
    try:
        kind, layer, index = parse_neuron_id(nid)
    except ValueError as err:
        raise ArtifactError(f"{what}: {str(err)[:200]}") from None
    if layer > MAX_INDEX or index > MAX_INDEX:
        raise ArtifactError(f"{what}: layer and index must be at most {MAX_INDEX}, got id {_short(nid)}")
    got = (n.get("site"), n.get("layer"), n.get("index"))
    if got != (site_name(kind, layer), layer, index):
        raise ArtifactError(f"{what}: site/layer/index {_short(got)} do not match id {_short(nid)}")
    return layer


def _check_neuron_rule(n: dict, what: str, rule: str, n_classes: int) -> None:
    """A neuron's fitted values: probe score in [0, 1], threshold/polarity, class means, one-vs-rest stumps."""
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
        _check_ovr(n, what, n_classes)


def _check_ovr(n: dict, what: str, n_classes: int) -> None:
    """One-vs-rest stumps: one finite threshold and one polarity +1/-1 per class."""
    ot = _require(n, "ovr_threshold", list, what)
    op = _require(n, "ovr_polarity", list, what)
    if len(ot) != n_classes:
        raise ArtifactError(f"{what}['ovr_threshold'] must hold {n_classes} numbers, got {_short(ot)}")
    for i, v in enumerate(ot):
        _number(v, f"{what}['ovr_threshold'][{i}]")
    if len(op) != n_classes or not all(v in (1, -1) and not isinstance(v, bool) for v in op):
        raise ArtifactError(f"{what}['ovr_polarity'] must hold {n_classes} values +1/-1, got {_short(op)}")


def _check_exit_and_meta(doc: dict, named: bool, layers: list[int]) -> None:
    """Exit layer = deepest neuron layer and a weights hash (model neurons only); ``meta`` an object; a known dtype."""
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


__all__ = ["ArtifactError", "ARTIFACT_FORMAT", "ARTIFACT_VERSION", "ARTIFACT_DTYPES", "MAX_ARTIFACT_BYTES",
           "META_KEYS", "artifact_params", "read_artifact_file", "validate_artifact"]
