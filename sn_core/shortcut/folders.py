"""Where a shortcut is written: ``--out`` checks, the temporary folder beside it, and the final rename.

A shortcut folder is written under a temporary name beside ``out`` and renamed into place when complete
(``written_into``), so a failed or interrupted write leaves nothing at ``out``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from sn_core.shortcut.card import ShortcutError


def check_out(out: Path) -> Path:
    """``out`` if a shortcut can be written there (a new or empty folder in a writable folder, not a mount point);
    ShortcutError naming the flag and path otherwise, before any model work."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ShortcutError(f"--out {str(out)!r} already exists and is not an empty folder; choose a new folder")
    if not out.parent.is_dir():
        raise ShortcutError(f"--out {str(out)!r}: folder {str(out.parent)!r} does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):  # a read-only mount, no permission: before any model work
        raise ShortcutError(f"--out {str(out)!r}: folder {str(out.parent)!r} is not writable (read-only or no "
                            "permission); choose a folder you can write in")
    if os.path.ismount(out):  # the export is renamed into place, which a mount point refuses ("resource busy")
        raise ShortcutError(f"--out {str(out)!r} is a mount point; the shortcut is written beside it and renamed "
                            f"into place: give a new folder inside it (e.g. {str(out / 'shortcut')!r})")
    return out


def temp_beside(out: Path, tag: str = "partial") -> Path:
    """A new folder ``.<out name>.<tag>-XXXX`` beside ``out``, with the permissions the umask gives new folders
    (mkdtemp's 0700 would stay on the renamed folder)."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{tag}-", dir=out.parent))
    except OSError as e:
        raise ShortcutError(f"--out {str(out)!r}: cannot write in {str(out.parent)!r} ({e.strerror or e})") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp


@contextlib.contextmanager
def written_into(out: Path):
    """``with written_into(out) as tmp:`` write the folder's files into ``tmp``; on success it is renamed to ``out``
    (an empty ``out`` is replaced), on any exception or interrupt it is removed."""
    tmp = temp_beside(out)
    try:
        yield tmp
        try:
            if out.exists():
                out.rmdir()
            os.replace(tmp, out)
        except OSError as e:  # e.g. a read-only or busy --out: the flag and path, not the bare OS message
            raise ShortcutError(f"--out {str(out)!r}: cannot put the shortcut there ({e.strerror or e}); choose a "
                                "new folder in a writable place") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = ["check_out", "temp_beside", "written_into"]
