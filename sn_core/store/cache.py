"""On-disk store of activations and results, keyed by a content hash, safe against crashes and concurrent writers.

Layout of one store (``<root>/<key>/``)::

    chunks/chunk-000000.safetensors  one file per chunk of examples: {name: [n_rows, width]} arrays
    chunks/chunk-000000.json         its manifest: sha256 of the file, names, shapes, dtypes, rows
    arrays/<name>.safetensors (+ .json)   whole arrays (scores, labels, ...), same checksum scheme
    json/<name>.json                 small JSON documents
    complete.json                    written by ``mark_complete``: the store is finished
    .lock                            the ``filelock`` lock file

Every file is written atomically (temporary file in the same folder, fsync, ``os.replace``, fsync of the folder), so
a crash leaves either the old file or the new one, never a partial one. A chunk counts as finished only once its
manifest exists, and the manifest is written after the data; a reader re-hashes the data and compares, and a
mismatch raises ``CorruptShardError`` naming the file, after deleting it so that a rerun recomputes that chunk.
Names are plain strings such as ``blocks.3.mlp.hook_post`` (letters, digits, ``._-``).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import Mapping

import numpy as np
from filelock import FileLock
from safetensors import safe_open
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

# Canonical JSON, keys, checksums and atomic writes live in sn_core.store.io; these names stay importable from here.
from sn_core.store.io import (atomic_write_bytes, canonical_json, content_key, file_signature,  # noqa: F401
                              jsonable, sha256_bytes)

FORMAT_VERSION = 1
CACHE_ENV = "SN_CACHE_DIR"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}


class CorruptShardError(RuntimeError):
    """A stored file does not match its recorded checksum (or cannot be parsed); it has been deleted."""

    def __init__(self, path: Path, reason: str):
        self.path = Path(path)
        super().__init__(f"corrupt store file {self.path}: {reason}; it was deleted, recompute it (rerun the search)")


def default_root() -> Path:
    """The cache root: ``$SN_CACHE_DIR`` if set, else ``~/.cache/super-neuron-explorer``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "super-neuron-explorer"


def _check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"{what} must be 1-200 characters of letters, digits and '._-', got {name!r}")
    return name


def _check_array(name: str, arr) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.name not in _DTYPES:
        raise TypeError(f"array {name!r} has dtype {arr.dtype}; the store keeps {sorted(_DTYPES)} "
                        "(save strings with write_json)")
    return np.ascontiguousarray(arr)


class ActivationStore:
    """One store under ``<root>/<key>``: chunked activations, whole arrays, JSON, completion marker, lock.

    Typical use by a search::

        store = ActivationStore(content_key(model_id=..., task=..., sites=...))
        with store.lock():
            for i in range(n_chunks):
                if i not in store.finished_chunks():
                    store.write_chunk(i, {"blocks.3.mlp.hook_post": acts})  # [rows, d_mlp]
            store.mark_complete({"n_examples": n})
        acts = store.read("blocks.3.mlp.hook_post")  # [n_examples, d_mlp]
    """

    def __init__(self, key: str, root: str | os.PathLike | None = None):
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ValueError(f"store key must be 1-128 characters of letters, digits, '_' or '-', got {key!r}")
        self.key = key
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.path = self.root / key  # created on first write or lock, so looking a key up leaves no empty folder
        # is_singleton: reentrant across ActivationStore objects for the same key in one thread; other threads and
        # processes wait.
        self._lock = FileLock(str(self.path / ".lock"), is_singleton=True)
        self._verified: dict[str, tuple[int, int, int]] = {}  # data file -> signature when its hash last matched

    def __repr__(self) -> str:
        return f"ActivationStore(key={self.key!r}, root={str(self.root)!r})"

    # ------------------------------------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def lock(self, timeout: float = -1):
        """Hold the store's cross-process lock: ``with store.lock(): ...`` (``timeout`` s; -1 waits forever).

        Reentrant in one thread (also across ``ActivationStore`` objects for the same key); other threads and
        processes wait. Raises ``filelock.Timeout`` when another holder keeps it past ``timeout``.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        with self._lock.acquire(timeout=timeout):
            yield self

    def exists(self) -> bool:
        """Whether anything was ever written or locked under this key."""
        return self.path.is_dir()

    # ------------------------------------------------------------------------------------ checksummed files
    def _write_checked(self, data_path: Path, meta_path: Path, arrays: Mapping[str, np.ndarray], extra: dict):
        arrays = {_check_name(k, "array name"): _check_array(k, v) for k, v in arrays.items()}
        if not arrays:
            raise ValueError("nothing to write: give at least one named array")
        blob = _st_save(arrays)
        meta = {"format_version": FORMAT_VERSION, "file": data_path.name, "sha256": sha256_bytes(blob),
                "bytes": len(blob),
                "arrays": {k: {"shape": list(v.shape), "dtype": v.dtype.name} for k, v in arrays.items()}, **extra}
        with self.lock():
            # manifest removed first: a reader never pairs the new data with the old checksum
            meta_path.unlink(missing_ok=True)
            atomic_write_bytes(data_path, blob)
            atomic_write_bytes(meta_path, canonical_json(meta).encode("utf-8"))

    def _load_pair(self, data_path: Path, meta_path: Path) -> tuple[dict | None, bytes, str, tuple | None]:
        """(manifest or None, data, problem or '', file signature if the data did not change while read)."""
        try:
            meta_text = meta_path.read_text()
            sig = file_signature(data_path)
            blob = data_path.read_bytes()
            sig = sig if file_signature(data_path) == sig else None
        except FileNotFoundError:
            raise FileNotFoundError(f"{data_path} is not in store {self.key} (not written or not finished)") from None
        try:
            meta = json.loads(meta_text)
        except json.JSONDecodeError as err:
            return None, blob, f"its manifest {meta_path.name} is not valid JSON ({err})", None
        if not isinstance(meta, dict) or sha256_bytes(blob) != meta.get("sha256"):
            return meta, blob, "sha256 does not match its manifest", None
        return meta, blob, "", sig

    def _read_checked(self, data_path: Path, meta_path: Path) -> tuple[dict, dict[str, np.ndarray]]:
        """Every array of a data file, after checking its sha256 against the manifest."""
        meta, blob, problem, sig = self._load_pair(data_path, meta_path)
        if problem:  # maybe a concurrent rewrite: look again under the lock before calling it corrupt
            with self._lock.acquire(timeout=-1):
                meta, blob, problem, sig = self._load_pair(data_path, meta_path)
                if problem:
                    self._delete(data_path, meta_path)
                    raise CorruptShardError(data_path, problem)
        try:
            arrays = _st_load(blob)
        except Exception as err:  # noqa: BLE001 - any parse failure of a checksummed file means a bad writer
            self._delete(data_path, meta_path)
            raise CorruptShardError(data_path, f"cannot be parsed as safetensors ({err})") from err
        if sig is not None:
            self._verified[str(data_path)] = sig
        return meta, arrays

    def _read_names(self, data_path: Path, meta_path: Path, names: list[str]) -> dict[str, np.ndarray]:
        """The arrays ``names`` (those present) of a data file.

        A file is hashed in full the first time this object reads it; later reads of the same, unchanged file
        (same inode, size and mtime: every rewrite is a new inode through ``os.replace``) load only the requested
        tensors, so reading a chunk's 20 sites one by one costs one hash, not twenty.
        """
        sig = self._verified.get(str(data_path))
        if sig is not None:
            try:
                if file_signature(data_path) == sig:
                    with safe_open(str(data_path), framework="numpy") as fh:
                        keys = set(fh.keys())
                        out = {n: fh.get_tensor(n) for n in names if n in keys}
                    if file_signature(data_path) == sig:
                        return out
            except Exception:  # noqa: BLE001 - anything odd: fall back to the fully verified read
                pass
            self._verified.pop(str(data_path), None)
        arrays = self._read_checked(data_path, meta_path)[1]
        return {n: arrays[n] for n in names if n in arrays}

    @staticmethod
    def _delete(*paths: Path) -> None:
        for p in paths:
            Path(p).unlink(missing_ok=True)

    # ----------------------------------------------------------------------------------------------- chunks
    def _chunk_paths(self, i: int) -> tuple[Path, Path]:
        if int(i) != i or i < 0:
            raise ValueError(f"chunk index must be an integer >= 0, got {i!r}")
        base = self.path / "chunks" / f"chunk-{int(i):06d}"
        return base.with_suffix(".safetensors"), base.with_suffix(".json")

    def write_chunk(self, i: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write chunk ``i``: ``{name: [n_rows, ...]}``; all arrays must have the same number of rows."""
        rows = {k: np.asarray(v).shape[0] if np.asarray(v).ndim else None for k, v in arrays.items()}
        if any(r is None for r in rows.values()) or len(set(rows.values())) > 1:
            raise ValueError(f"chunk {i}: every array needs the same leading (rows) dimension, got {rows}")
        data_path, meta_path = self._chunk_paths(i)
        self._write_checked(data_path, meta_path, arrays, {"chunk": int(i), "n_rows": next(iter(rows.values()), 0)})

    def finished_chunks(self) -> list[int]:
        """Indices of the chunks whose data and manifest are both on disk (sorted); what a resume can skip."""
        folder = self.path / "chunks"
        if not folder.is_dir():
            return []
        out = []
        for meta in folder.glob("chunk-*.json"):
            m = re.match(r"^chunk-(\d+)\.json$", meta.name)
            if m and meta.with_suffix(".safetensors").exists():
                out.append(int(m.group(1)))
        return sorted(out)

    def verified_chunks(self) -> list[int]:
        """The finished chunks that match their checksums (sorted): what a resume can trust. Each is hashed in
        full; one that does not match (or cannot be parsed) is deleted and left out, so the caller recomputes it
        together with the missing ones."""
        out = []
        for i in self.finished_chunks():
            try:
                self.read_chunk(i)
            except (CorruptShardError, FileNotFoundError):
                continue
            out.append(i)
        return out

    def chunk_names(self) -> list[str]:
        """Array names held in the first finished chunk."""
        done = self.finished_chunks()
        if not done:
            return []
        _, meta_path = self._chunk_paths(done[0])
        return sorted(json.loads(meta_path.read_text())["arrays"])

    def read_chunk(self, i: int) -> dict[str, np.ndarray]:
        """All arrays of chunk ``i``, checksum verified (hashed again on every call)."""
        return self._read_checked(*self._chunk_paths(i))[1]

    def _names(self, i: int) -> list[str]:
        try:
            return sorted(json.loads(self._chunk_paths(i)[1].read_text())["arrays"])
        except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
            return []

    def read(self, name: str, chunks: list[int] | None = None) -> np.ndarray:
        """``name`` over chunks ``0..N-1`` (or the given ones) concatenated along rows, each verified.

        Raises ``FileNotFoundError`` if a chunk in ``0..max`` is missing and ``KeyError`` if a chunk lacks ``name``.
        """
        _check_name(name)
        done = self.finished_chunks()
        if chunks is None:
            if not done:
                raise FileNotFoundError(f"store {self.key} has no finished chunks")
            missing = sorted(set(range(done[-1] + 1)) - set(done))
            if missing:
                raise FileNotFoundError(f"store {self.key} is missing chunks {missing[:20]} (resume the search)")
            chunks = done
        parts = []
        for i in chunks:
            arrays = self._read_names(*self._chunk_paths(i), [name])
            if name not in arrays:
                raise KeyError(f"chunk {i} of store {self.key} has no array {name!r}; it has {self._names(i)}")
            parts.append(arrays[name])
        return np.concatenate(parts, axis=0)

    # ----------------------------------------------------------------------------------------- whole arrays
    def _array_paths(self, name: str) -> tuple[Path, Path]:
        _check_name(name)
        return self.path / "arrays" / f"{name}.safetensors", self.path / "arrays" / f"{name}.json"

    def write_array(self, name: str, arr) -> None:
        """Store one whole array (scores, labels codes...) under ``name``, checksummed."""
        data_path, meta_path = self._array_paths(name)
        self._write_checked(data_path, meta_path, {name: arr}, {})

    def read_array(self, name: str) -> np.ndarray:
        data_path, meta_path = self._array_paths(name)
        arrays = self._read_checked(data_path, meta_path)[1]
        if name not in arrays:
            self._delete(data_path, meta_path)
            raise CorruptShardError(data_path, f"does not hold array {name!r}")
        return arrays[name]

    def has_array(self, name: str) -> bool:
        data_path, meta_path = self._array_paths(name)
        return data_path.exists() and meta_path.exists()

    # ------------------------------------------------------------------------------------------------- JSON
    def _json_path(self, name: str) -> Path:
        _check_name(name)
        return self.path / "json" / f"{name}.json"

    def write_json(self, name: str, obj) -> None:
        """Store a JSON document (numpy scalars/arrays converted; NaN/inf rejected) atomically."""
        text = json.dumps(jsonable(obj, name), indent=1, sort_keys=True)
        with self.lock():
            atomic_write_bytes(self._json_path(name), text.encode("utf-8"))

    def read_json(self, name: str):
        path = self._json_path(name)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"store {self.key} has no JSON document {name!r}") from None
        except json.JSONDecodeError as err:
            self._delete(path)
            raise CorruptShardError(path, f"not valid JSON ({err})") from err

    def has_json(self, name: str) -> bool:
        return self._json_path(name).exists()

    # ------------------------------------------------------------------------------------------- completion
    def mark_complete(self, meta: Mapping | None = None) -> None:
        """Record that the store is finished, with ``meta`` (JSON) and a UTC timestamp."""
        doc = {"format_version": FORMAT_VERSION, "key": self.key,
               "completed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "meta": jsonable(dict(meta or {}), "meta")}
        with self.lock():
            atomic_write_bytes(self.path / "complete.json", json.dumps(doc, indent=1).encode("utf-8"))

    def is_complete(self) -> bool:
        return (self.path / "complete.json").exists()

    def meta(self) -> dict:
        """The ``meta`` given to ``mark_complete`` ({} while incomplete or unreadable)."""
        try:
            return json.loads((self.path / "complete.json").read_text()).get("meta", {})
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            return {}  # (AttributeError: valid JSON that is not an object)


def list_stores(root: str | os.PathLike | None = None, skipped: list | None = None) -> list[dict]:
    """Stores under ``root`` (default: the cache root), newest first: key, path, complete, meta, chunks, modified.
    A store that cannot be read (removed while listing, no permission) is left out; with a list given as
    ``skipped``, ``(key, reason)`` is appended to it."""
    root = Path(root).expanduser() if root is not None else default_root()
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if not d.is_dir() or not _KEY_RE.match(d.name):
            continue
        try:
            store = ActivationStore(d.name, root=root)
            complete = store.is_complete()
            mtime = max((p.stat().st_mtime for p in d.rglob("*") if p.is_file()), default=d.stat().st_mtime)
            out.append({"key": d.name, "path": str(d), "complete": complete, "meta": store.meta(),
                        "n_chunks": len(store.finished_chunks()),
                        "modified": _dt.datetime.fromtimestamp(mtime, _dt.timezone.utc).isoformat(timespec="seconds")})
        except OSError:
            if skipped is not None:
                skipped.append((d.name, "its stored files cannot be read"))
    return sorted(out, key=lambda r: r["modified"], reverse=True)
