"""The shortcut card: ``card.json`` beside the exported graph, describing it and pinning its files by sha256.

A card holds the source model (id, family, weights hash), the neuron(s) and their site, the rule parameters
(the classifier artifact, ``sn_core.classifier.estimator``), the labels, the prompt template and instruction, the probe /
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

from sn_core.safe_json import loads_untrusted

CARD_FORMAT = "super-neuron-shortcut"
CARD_VERSION = 1
CARD_NAME = "card.json"
GRAPH_NAME = "shortcut.onnx"
PROCESSOR_DIR = "processor"


class ShortcutError(ValueError):
    """A shortcut that cannot be exported or used: the message is one line saying why."""


def file_sha256(path: Path, progress=None) -> str:
    """sha256 of a file, read in 1 MiB blocks; ``progress(bytes_done, name)`` after each block when given."""
    h = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            done += len(block)
            if progress is not None:
                progress(done, Path(path).name)
    return h.hexdigest()


def _canonical(doc: dict) -> bytes:
    return json.dumps({k: v for k, v in doc.items() if k != "card_sha256"}, sort_keys=True,
                      separators=(",", ":"), allow_nan=False).encode("utf-8")


def seal(card: dict) -> dict:
    """``card`` with ``card_sha256`` set over the rest of it."""
    out = dict(card)
    out["card_sha256"] = hashlib.sha256(_canonical(out)).hexdigest()
    return out


def pin(path: Path) -> dict:
    """``{"file", "sha256", "bytes"}`` of one file the card pins (the graph, an external-data file)."""
    path = Path(path)
    return {"file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size}


def write_card(folder: Path, card: dict) -> None:
    """Write ``card`` sealed (``card_sha256`` set) as ``folder/card.json``."""
    (Path(folder) / CARD_NAME).write_text(json.dumps(seal(card), indent=1, allow_nan=False), encoding="utf-8")


def processor_files(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of the processor / tokenizer files under ``folder/processor``."""
    root = Path(folder) / PROCESSOR_DIR
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def read_card(folder, progress=None) -> dict:
    """The verified card of the shortcut in ``folder``: format, card hash, graph hash, the hash and size of every
    external-data file the graph loads, processor file hashes. Files are hashed in 1 MiB blocks (no copy in
    memory); ``progress(done_bytes, file_name)`` is called as they are read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ShortcutError(f"shortcut folder {str(folder)!r} does not exist" if not folder.exists()
                            else f"shortcut path {str(folder)!r} is not a folder")
    path = folder / CARD_NAME
    if not path.is_file():
        raise ShortcutError(f"{str(folder)!r} is not an exported shortcut: no {CARD_NAME}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ShortcutError(f"{path}: unreadable card ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    card = loads_untrusted(text, str(path), ShortcutError)  # deep nesting, huge integers: one line naming the field
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
    _check_fields(card, path)
    graph = folder / card["onnx"]["file"]
    if not graph.is_file():
        raise ShortcutError(f"{str(folder)!r}: the graph {card['onnx']['file']} is missing")
    if file_sha256(graph, progress) != card["onnx"]["sha256"]:
        raise ShortcutError(f"{graph}: graph hash mismatch (the graph was edited or replaced after export); export "
                            "the shortcut again")
    for entry in card["onnx"].get("external_data") or []:
        data = folder / entry["file"]
        if not data.is_file():
            raise ShortcutError(f"{str(folder)!r}: the graph's weights file {entry['file']} is missing")
        if "bytes" in entry and data.stat().st_size != entry["bytes"]:
            raise ShortcutError(f"{data}: weights file size {data.stat().st_size} bytes, the card says "
                                f"{entry['bytes']} (edited, truncated or replaced after export); export the "
                                "shortcut again")
        if file_sha256(data, progress) != entry["sha256"]:
            raise ShortcutError(f"{data}: weights file hash mismatch (the external data was edited or replaced "
                                "after export); export the shortcut again")
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


def _check_fields(card: dict, path: Path) -> None:
    """The fields the runtime reads, and their agreement with the classifier the card carries (a card re-sealed
    after an edit passes the hash check, not this one). ShortcutError naming the first bad field."""
    def bad(field: str, why: str):
        raise ShortcutError(f"{path}: card field {field!r} {why}; export the shortcut again")

    onnx = card.get("onnx")
    if not (isinstance(onnx, dict) and isinstance(onnx.get("file"), str) and isinstance(onnx.get("sha256"), str)):
        bad("onnx", "needs 'file' and 'sha256'")
    if Path(onnx["file"]).name != onnx["file"]:
        bad("onnx", "names a file outside the shortcut folder")
    ext = onnx.get("external_data") or []
    if not (isinstance(ext, list) and all(isinstance(e, dict) and isinstance(e.get("file"), str)
                                          and isinstance(e.get("sha256"), str) and Path(e["file"]).name == e["file"]
                                          for e in ext)):
        bad("onnx", "external_data must list files beside the graph, each with 'file' and 'sha256'")
    labels = card.get("labels")
    if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) and x.strip() for x in labels)
            and len(set(labels)) == len(labels)):
        bad("labels", "must list two or more distinct, non-empty labels")
    neurons = card.get("neurons")
    if not (isinstance(neurons, list) and neurons and all(isinstance(n, dict) and isinstance(n.get("id"), str)
                                                          for n in neurons)):
        bad("neurons", "must list one or more neurons with an 'id'")
    if not (isinstance(card.get("exit_layer"), int) and card["exit_layer"] >= 0):
        bad("exit_layer", "must be a non-negative integer")
    if not (isinstance(card.get("inputs"), dict) and isinstance(card["inputs"].get("family"), str)):
        bad("inputs", "needs the model 'family'")
    files = card.get("files", {})
    if not (isinstance(files, dict) and all(isinstance(v, str) for v in files.values())):
        bad("files", "must map each processor file to its sha256")
    clf = card.get("classifier")
    if not isinstance(clf, dict):
        bad("classifier", "is missing")
    if clf.get("labels") != labels:
        bad("labels", f"differs from the classifier's labels {clf.get('labels')!r}")
    ids = [n.get("id") for n in clf.get("neurons") or [] if isinstance(n, dict)]
    if ids != [n["id"] for n in neurons]:
        bad("neurons", f"differs from the classifier's neurons {ids!r}")


__all__ = ["CARD_FORMAT", "CARD_VERSION", "CARD_NAME", "GRAPH_NAME", "PROCESSOR_DIR", "ShortcutError",
           "file_sha256", "pin", "processor_files", "read_card", "seal", "write_card"]
