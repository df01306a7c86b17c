"""Standalone shortcuts: a Super Neuron classifier exported as one ONNX graph (vision encoder, projector,
embeddings, causal decoder layers 0..L, the neuron read-out and the rule) with its processor files and a card.

``export_shortcut(classifier, out)`` writes one (``python -m sn_core export``); ``load_shortcut(folder)`` opens it
on onnxruntime; ``shortcut_zip_bytes(...)`` returns it as a ZIP for a download. See docs/shortcut.md.

The export side imports torch lazily; ``load_shortcut`` and the card need neither torch nor the model.
"""
from sn_core.shortcut.card import ShortcutError, read_card
from sn_core.shortcut.runtime import Shortcut, ShortcutPredictions, load_shortcut


def export_shortcut(*args, **kwargs):
    """See :func:`sn_core.shortcut.export.export_shortcut`."""
    from sn_core.shortcut.export import export_shortcut as _export

    return _export(*args, **kwargs)


def shortcut_zip_bytes(*args, **kwargs):
    """See :func:`sn_core.shortcut.export.shortcut_zip_bytes`."""
    from sn_core.shortcut.export import shortcut_zip_bytes as _zip

    return _zip(*args, **kwargs)


def write_shortcut_zip(*args, **kwargs):
    """See :func:`sn_core.shortcut.export.write_shortcut_zip`."""
    from sn_core.shortcut.export import write_shortcut_zip as _w

    return _w(*args, **kwargs)


__all__ = ["write_shortcut_zip", "Shortcut", "ShortcutError", "ShortcutPredictions", "export_shortcut",
           "load_shortcut", "read_card", "shortcut_zip_bytes"]
