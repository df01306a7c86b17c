"""The store's byte- and JSON-level helpers: canonical JSON, content keys, checksums and atomic file writes.

``atomic_write_bytes`` writes a temporary file in the same folder, fsyncs it, renames it over the target with
``os.replace`` and fsyncs the folder, so a crash leaves either the old file or the new one. ``content_key`` is the
sha256 of the canonical JSON (sorted keys, no spaces, ASCII) of its parts. ``sn_core.store.cache`` re-exports every name.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def jsonable(obj: Any, where: str = "value"):
    """Canonical JSON-ready form: tuples -> lists, numpy scalars/arrays -> Python, Paths -> str; else TypeError."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if not np.isfinite(f):
            raise TypeError(f"{where}: non-finite float {f} has no canonical JSON form")
        return f
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist(), where)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: dict keys must be str, got {k!r}")
            out[k] = jsonable(v, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"{where}: cannot hash/serialise {type(obj).__name__} {obj!r} as JSON")


def canonical_json(obj: Any, where: str = "value") -> str:
    """Sorted keys, no spaces, ASCII: the same parts always give the same text."""
    return json.dumps(jsonable(obj, where), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_key(**parts) -> str:
    """sha256 hex of the canonical JSON of ``parts`` (model id, weights hash, task fingerprint, prompt, split...)."""
    if not parts:
        raise ValueError("content_key needs at least one part")
    return hashlib.sha256(canonical_json(parts, "parts").encode("utf-8")).hexdigest()


def file_signature(path: Path) -> tuple[int, int, int]:
    """(inode, size, mtime_ns): changes whenever a file is replaced or rewritten."""
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, ``os.replace``, fsync folder.

    On any failure the temp file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make renames inside ``folder`` durable (best effort: not every platform or file system can fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


__all__ = ["atomic_write_bytes", "canonical_json", "content_key", "file_signature", "fsync_folder", "jsonable",
           "sha256_bytes"]
