"""The shortcut card: ``card.json`` beside the exported graph, describing it and pinning its files by sha256.

A card holds the source model (id, family, weights hash), the neuron(s) and their site, the rule parameters
(the classifier artifact, ``sn_core.classifier``), the labels, the prompt template and instruction, the probe /
test accuracy where known, the FLOP limit of the exit, the ONNX opset, the library versions used to export, and
the sha256 of the graph and of every processor / tokenizer file. ``card_sha256`` is the sha256 of the card's
own canonical JSON without that field, so an edited card is detected too.

``read_card(folder)`` verifies all of it and raises :class:`ShortcutError` (one line) on any mismatch. It needs
neither torch nor onnxruntime.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

CARD_FORMAT = "super-neuron-shortcut"
CARD_VERSION = 1
CARD_NAME = "card.json"
GRAPH_NAME = "shortcut.onnx"
PROCESSOR_DIR = "processor"


class ShortcutError(ValueError):
    """A shortcut that cannot be exported or used: the message is one line saying why."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _canonical(doc: dict) -> bytes:
    return json.dumps({k: v for k, v in doc.items() if k != "card_sha256"}, sort_keys=True,
                      separators=(",", ":"), allow_nan=False).encode("utf-8")


def seal(card: dict) -> dict:
    """``card`` with ``card_sha256`` set over the rest of it."""
    out = dict(card)
    out["card_sha256"] = hashlib.sha256(_canonical(out)).hexdigest()
    return out


def processor_files(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of the processor / tokenizer files under ``folder/processor``."""
    root = Path(folder) / PROCESSOR_DIR
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def read_card(folder) -> dict:
    """The verified card of the shortcut in ``folder``: format, card hash, graph hash, processor file hashes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ShortcutError(f"shortcut folder {str(folder)!r} does not exist" if not folder.exists()
                            else f"shortcut path {str(folder)!r} is not a folder")
    path = folder / CARD_NAME
    if not path.is_file():
        raise ShortcutError(f"{str(folder)!r} is not an exported shortcut: no {CARD_NAME}")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ShortcutError(f"{path}: unreadable card ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ShortcutError(f"{path}: not a shortcut card (format {card.get('format') if isinstance(card, dict) else None!r})")
    if card.get("format_version") != CARD_VERSION:
        raise ShortcutError(f"{path}: card version {card.get('format_version')!r}, this library reads {CARD_VERSION}")
    try:
        want = hashlib.sha256(_canonical(card)).hexdigest()
    except (TypeError, ValueError):
        want = None
    if card.get("card_sha256") != want:
        raise ShortcutError(f"{path}: card hash mismatch (the card was edited after export); export the shortcut "
                            "again")
    graph = folder / card["onnx"]["file"]
    if not graph.is_file():
        raise ShortcutError(f"{str(folder)!r}: the graph {card['onnx']['file']} is missing")
    if file_sha256(graph) != card["onnx"]["sha256"]:
        raise ShortcutError(f"{graph}: graph hash mismatch (the graph was edited or replaced after export); export "
                            "the shortcut again")
    files = processor_files(folder)
    for name, digest in card.get("files", {}).items():
        if files.get(name) != digest:
            what = "missing" if name not in files else "edited after export (hash mismatch)"
            raise ShortcutError(f"{str(folder)!r}: processor file {name} is {what}; export the shortcut again")
    extra = sorted(set(files) - set(card.get("files", {})))
    if extra:
        raise ShortcutError(f"{str(folder)!r}: processor file {extra[0]} is not listed on the card (hash mismatch); "
                            "export the shortcut again")
    return card


__all__ = ["CARD_FORMAT", "CARD_VERSION", "CARD_NAME", "GRAPH_NAME", "PROCESSOR_DIR", "ShortcutError",
           "file_sha256", "processor_files", "read_card", "seal"]
