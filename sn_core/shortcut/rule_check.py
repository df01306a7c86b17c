"""The classifier a shortcut's graph was exported with, recorded in the graph itself.

The graph computes the classifier's rule from constants baked in at export (thresholds, polarities, class means,
the neurons it reads). The card carries the same classifier as JSON, and the runtime names labels by the card. A
card edited and re-sealed (its ``card_sha256`` recomputed) passes the hash check, so the card alone cannot show
that its classifier still is the graph's. At export the sha256 of the classifier's canonical JSON is written into
the graph's metadata (``metadata_props``, key :data:`RULE_KEY`); :func:`check_graph_classifier` compares it with
the card's ``classifier`` when the graph is opened, and refuses a card whose classifier differs (other class
means, another neuron, another polarity, other labels) or a graph that records none.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sn_core.shortcut.card import ShortcutError

RULE_KEY = "sn_core.classifier_sha256"


def classifier_sha256(art) -> str:
    """sha256 of a classifier artifact dict in canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(art, sort_keys=True, separators=(",", ":"), allow_nan=False)
                          .encode("utf-8")).hexdigest()


def stamp_graph(path: Path, art: dict) -> None:
    """Record ``art``'s sha256 in the ONNX graph at ``path`` (rewritten in place; external data untouched)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    kept = [p for p in proto.metadata_props if p.key != RULE_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    entry = proto.metadata_props.add()
    entry.key, entry.value = RULE_KEY, classifier_sha256(art)
    onnx.save(proto, str(path))


def check_graph_classifier(session, card: dict, folder) -> None:
    """ShortcutError unless the graph opened in ``session`` (onnxruntime) records the card's classifier."""
    meta = session.get_modelmeta().custom_metadata_map or {}
    recorded = meta.get(RULE_KEY)
    if recorded is None:
        raise ShortcutError(f"{str(folder)!r}: the graph records no classifier (key {RULE_KEY} missing), so the "
                            "card cannot be checked against it; export the shortcut again")
    try:
        want = classifier_sha256(card.get("classifier"))
    except (TypeError, ValueError):
        want = None
    if recorded != want:
        raise ShortcutError(f"{str(folder)!r}: card field 'classifier' differs from the classifier the graph was "
                            "exported with (class means, neurons, polarities or labels edited); export the "
                            "shortcut again")


__all__ = ["RULE_KEY", "check_graph_classifier", "classifier_sha256", "stamp_graph"]
