"""The total cap of the upload cache (``<cache>/uploads``): oldest-first eviction of unused uploads.

One upload may unpack to 500 MB (``MAX_ZIP_BYTES``), so without a total cap a visitor could fill the server's disk
with distinct uploads. Before a new upload is published, the uploads already saved are counted (each complete
folder's size is written into its completeness marker, so counting reads one small file per upload); while the
total with the new one would pass :func:`max_total_bytes`, the least recently used complete upload is deleted,
provided it was not used for :data:`MIN_IDLE_S` seconds. "Used" is the upload folder's modification time (its
files and marker are left as they are), renewed each time the upload is saved again (the same files uploaded by
anyone) and each time a search looks for its task (``find_task_source``). If the new upload still does not fit,
it is refused with one message and nothing is kept.

Searches of an evicted upload stay in the store; whatever reads the upload's images again needs the same files
uploaded again (the folder name is the hash of the files, so they land in the same folder).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from filelock import FileLock

from sn_core.data.images import format_mb

MB = 1024 * 1024
DEFAULT_MAX_TOTAL_MB = 2000  # four uploads of the 500 MB maximum
MIN_IDLE_S = 3600  # an upload used within the last hour is never evicted
ENV_MAX_TOTAL_MB = "SN_MAX_UPLOADS_MB"
GLOBAL_LOCK = ".uploads.lock"


def max_total_bytes() -> int:
    """The cap: ``$SN_MAX_UPLOADS_MB`` megabytes (MB = 2^20 bytes) when set to a positive integer, else
    :data:`DEFAULT_MAX_TOTAL_MB`."""
    raw = os.environ.get(ENV_MAX_TOTAL_MB, "").strip()
    try:
        mb = int(raw) if raw else DEFAULT_MAX_TOTAL_MB
    except ValueError:
        mb = DEFAULT_MAX_TOTAL_MB
    return (mb if mb > 0 else DEFAULT_MAX_TOTAL_MB) * MB


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (links are not followed)."""
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_size
    return total


def recorded_bytes(folder: Path, marker: str) -> int:
    """The size written into an upload's marker (second line), or the folder's size counted now."""
    try:
        lines = (folder / marker).read_text(encoding="utf-8").splitlines()
        return int(lines[1])
    except (OSError, ValueError, IndexError):
        return folder_bytes(folder)


def touch(folder: Path, marker: str) -> None:
    """Mark a complete upload as used now: its folder's modification time (best effort)."""
    try:
        if (Path(folder) / marker).is_file():
            os.utime(folder)
    except OSError:
        pass


def make_room(base: Path, new_bytes: int, keep: str, marker: str, now: float | None = None) -> None:
    """Delete least recently used, idle complete uploads under ``base`` until ``new_bytes`` more fit under the cap;
    ``ValueError`` naming the sizes if they cannot. The caller holds ``base / GLOBAL_LOCK``. ``keep``: the new
    upload's own folder name (a complete copy of it is never evicted)."""
    cap = max_total_bytes()
    if new_bytes > cap:
        raise ValueError(f"the upload unpacks to {format_mb(new_bytes)}, more than the {format_mb(cap)} the upload "
                         "cache holds")
    now = time.time() if now is None else now
    entries = []
    for p in base.iterdir():
        if p.name.startswith(".") or not p.is_dir() or p.is_symlink() or not (p / marker).is_file():
            continue
        try:
            used = p.stat().st_mtime
        except OSError:
            continue
        entries.append((used, p, recorded_bytes(p, marker)))
    total = sum(size for _, _, size in entries)
    for used, p, size in sorted(entries, key=lambda e: e[0]):
        if total + new_bytes <= cap:
            return
        if p.name == keep or now - used < MIN_IDLE_S:
            continue
        with FileLock(str(base / f".{p.name}.lock")):  # as a save of that upload would take it
            stale = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".evicted", dir=base))
            try:
                os.rename(p, stale / "old")
            except OSError:
                shutil.rmtree(stale, ignore_errors=True)
                continue
        shutil.rmtree(stale, ignore_errors=True)
        total -= size
    if total + new_bytes > cap:
        raise ValueError(f"the upload cache is full: {format_mb(total)} of {format_mb(cap)} is taken by uploads "
                         f"used within the last {MIN_IDLE_S // 60} minutes, and this upload needs "
                         f"{format_mb(new_bytes)}; try again later or upload fewer or smaller images")


__all__ = ["DEFAULT_MAX_TOTAL_MB", "ENV_MAX_TOTAL_MB", "GLOBAL_LOCK", "MIN_IDLE_S", "folder_bytes", "make_room",
           "max_total_bytes", "recorded_bytes", "touch"]
