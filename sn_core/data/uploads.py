"""Saving uploaded task files (a manifest with its images, or one ZIP) into the cache, where the engine reads them.

An upload is saved under ``<cache>/uploads/<hash>``, named by the hash of its file names and contents, so the same
upload maps to the same folder (and the same search cache key). Saving is safe when several users (threads of one
server, or several processes) upload the same files at the same moment:

- every call unpacks into its own temporary folder (``uploads/.<hash>.<random>.tmp``);
- a marker file (:data:`COMPLETE_MARKER`) is written last into that folder, which is then published with one
  ``os.rename`` under a per-hash file lock;
- a folder is reused only when its marker is there; an incomplete leftover (an interrupted or older save) is
  moved aside and replaced, never reused.

ZIPs are checked entry by entry before anything is extracted (:func:`safe_extract`). No Streamlit here: the app
passes its ``UploadedFile`` objects (anything with ``.name`` and ``.getvalue()``), tests and scripts may pass
``(name, bytes)`` pairs.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path

from filelock import FileLock

from sn_core.data.images import format_mb
from sn_core.store.cache import default_root
from sn_core.store.io import fsync_folder

MAX_ZIP_FILES = 20_000
MAX_ZIP_BYTES = 500 * 1024 * 1024  # uncompressed
COMPLETE_MARKER = ".sn-upload-complete"  # written last; a folder without it is incomplete
MANIFEST_SUFFIXES = (".jsonl", ".ndjson", ".csv")


def uploads_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder holding saved uploads: ``<root>/uploads`` (``root`` defaults to the store's cache root)."""
    return Path(default_root() if root is None else root).expanduser() / "uploads"


def safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    """Extract a ZIP refusing absolute paths, ``..`` escapes, links and archives that unpack too large."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_FILES:
        raise ValueError(f"the ZIP holds {len(infos)} entries, more than the {MAX_ZIP_FILES} allowed")
    total = sum(i.file_size for i in infos)
    if total > MAX_ZIP_BYTES:
        raise ValueError(f"the ZIP unpacks to {format_mb(total)}, more than {format_mb(MAX_ZIP_BYTES)}")
    root = dest.resolve()
    for info in infos:
        name = info.filename
        if not name.strip("/\\"):
            raise ValueError("the ZIP has an entry with an empty name; refused")
        if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in re.split(r"[/\\]", name)):
            raise ValueError(f"the ZIP entry {name[:40]!r}... has a name too long for a file; refused")
        try:
            target = (dest / name).resolve()
        except (OSError, RuntimeError, ValueError):
            raise ValueError(f"the ZIP entry {name!r} is not a valid file name; refused") from None
        if name.startswith(("/", "\\")) or not target.is_relative_to(root):
            raise ValueError(f"the ZIP entry {info.filename!r} points outside the archive; refused")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise ValueError(f"the ZIP entry {info.filename!r} is a symbolic link; refused")
        if target == root / COMPLETE_MARKER:
            raise ValueError(f"the ZIP entry {info.filename!r} has a reserved name; refused")
    try:
        zf.extractall(dest)
    except (zlib.error, NotImplementedError, EOFError, RuntimeError) as e:  # damaged data, unknown compression
        raise ValueError(f"the ZIP could not be unpacked ({type(e).__name__}: {e}); is it damaged?") from None
    except OSError as e:  # a name the file system refuses; the message names no server path
        raise ValueError(f"the ZIP could not be unpacked: {e.strerror or type(e).__name__}") from None


_safe_extract = safe_extract  # the name sn_app used


def _name_and_data(f) -> tuple[str, bytes]:
    if isinstance(f, tuple):
        name, data = f
    else:
        name, data = f.name, f.getvalue()
    base = Path(str(name)).name
    if not base or base in (".", "..") or "\0" in base:
        raise ValueError(f"bad file name {name!r}")
    return base, bytes(data)


def upload_hash(files) -> tuple[str, list[tuple[str, bytes]]]:
    """(folder name, [(file name, bytes)]) of an upload: the first 16 hex digits of a hash over names and
    contents, independent of the order the files were given in."""
    if not files:
        raise ValueError("no files uploaded")
    blobs = sorted((_name_and_data(f) for f in files), key=lambda b: b[0])
    names = [n for n, _ in blobs]
    if len(set(names)) != len(names):
        raise ValueError("two uploaded files have the same name; upload each file once")
    h = hashlib.sha256()
    for name, data in blobs:
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:16], blobs


def is_complete(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a finished upload (its marker, written last, is a regular file)."""
    marker = Path(folder) / COMPLETE_MARKER
    return marker.is_file() and not marker.is_symlink()


def _fill(tmp: Path, blobs: list[tuple[str, bytes]], digest: str) -> None:
    for name, data in blobs:
        if name.lower().endswith(".zip"):
            try:
                zf = zipfile.ZipFile(io.BytesIO(data))
            except zipfile.BadZipFile as e:
                raise ValueError(f"{name}: not a ZIP archive ({e})") from None
            with zf:
                safe_extract(zf, tmp)
        else:
            (tmp / name).write_bytes(data)
    with open(tmp / COMPLETE_MARKER, "w", encoding="utf-8") as fh:  # last: the folder is complete from here on
        fh.write(f"{digest}\n")
        fh.flush()
        os.fsync(fh.fileno())


def _publish(tmp: Path, dest: Path) -> None:
    """Rename ``tmp`` to ``dest`` unless a complete ``dest`` is already there; an incomplete ``dest`` is moved
    aside and deleted first. Callers hold the hash's lock, so no complete folder is ever moved."""
    if is_complete(dest):
        return
    if dest.exists() or dest.is_symlink():
        stale = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".stale", dir=dest.parent))
        os.rename(dest, stale / "old")
        shutil.rmtree(stale, ignore_errors=True)
    os.rename(tmp, dest)
    fsync_folder(dest.parent)


def save_task_upload(files, root: str | os.PathLike | None = None) -> Path:
    """Save uploaded task files into ``<root>/uploads/<hash>`` and return that folder.

    ``files``: one ZIP (manifest + images, or one subfolder of images per class), or a manifest (.jsonl / .csv)
    together with the images it names; objects with ``.name`` / ``.getvalue()`` or ``(name, bytes)`` pairs.
    A complete folder of the same upload is reused; otherwise the files are unpacked into a temporary folder of
    this call and published atomically. Raises ``ValueError`` (or ``zipfile.BadZipFile``) for a refused upload,
    leaving nothing behind.
    """
    digest, blobs = upload_hash(files)
    base = uploads_dir(root)
    dest = base / digest
    if is_complete(dest):
        return dest
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", suffix=".tmp", dir=base))
    try:
        _fill(tmp, blobs, digest)
        with FileLock(str(base / f".{digest}.lock")):
            _publish(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # already renamed when published; else this call's own leftovers
    return dest


def find_task_source(folder: str | os.PathLike) -> tuple[str, str]:
    """Where the task is in an uploaded folder: ``("manifest", path)`` for the single .jsonl/.csv manifest (found
    at any depth, ignoring macOS ``__MACOSX`` debris), else ``("folder", path)`` for the folder holding the class
    subfolders. Raises ``ValueError`` when there are several manifests or nothing usable."""
    folder = Path(folder)
    manifests = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MANIFEST_SUFFIXES
                       and "__MACOSX" not in p.parts and p.is_file())
    if len(manifests) > 1:
        names = ", ".join(str(p.relative_to(folder)) for p in manifests[:5])
        raise ValueError(f"the upload holds {len(manifests)} manifests ({names}); upload exactly one")
    if manifests:
        return "manifest", str(manifests[0])
    base = folder
    subdirs = [p for p in base.iterdir() if p.is_dir() and p.name != "__MACOSX"]
    # A ZIP of one top folder that holds the class folders: descend once (the completeness marker does not count).
    if len(subdirs) == 1 and not any(p.is_file() and p.name != COMPLETE_MARKER for p in base.iterdir()):
        inner = [p for p in subdirs[0].iterdir() if p.is_dir()]
        if inner:
            base = subdirs[0]
            subdirs = inner
    if len(subdirs) < 1:
        raise ValueError("the upload has no manifest (.jsonl or .csv) and no class subfolders; upload a manifest "
                         "with its images, or a ZIP with one subfolder of images per class")
    return "folder", str(base)
