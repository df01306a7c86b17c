"""Which server paths a visitor of the app may read (the CLI, run by users on their own machine, reads any path).

Server paths are off unless the operator lists allowed folders: the environment variable
``SN_ALLOWED_DATA_ROOTS`` (folders separated by ``os.pathsep``, ``:`` on Linux) and/or the app's Streamlit secret
``allowed_data_roots``. A path is resolved first (``~``, ``..``, symbolic links; a relative path is taken inside
the first allowed folder), then it must lie inside an allowed folder and outside every forbidden folder (the app
passes its cache, which holds every visitor's uploads). Only then is its existence checked, so a refused path
gives the same answer whether or not it exists. Messages quote the path as the user typed it, never the resolved
one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

ALLOWED_ROOTS_ENV = "SN_ALLOWED_DATA_ROOTS"


class ServerPathError(ValueError):
    """A path the app refuses to read (off, outside the allowed folders, inside the cache, or missing)."""


def parse_roots(value) -> list[str]:
    """Folder names from an ``os.pathsep``-separated string or a list of strings (empty entries dropped)."""
    if value is None:
        return []
    items = value.split(os.pathsep) if isinstance(value, str) else [str(v) for v in value]
    return [s.strip() for s in items if str(s).strip()]


def allowed_roots(extra: Iterable[str] = ()) -> list[Path]:
    """The allowed folders, resolved: ``$SN_ALLOWED_DATA_ROOTS`` then ``extra`` (e.g. from a secret); no
    duplicates, order kept. Empty means server paths are off."""
    out: list[Path] = []
    for s in parse_roots(os.environ.get(ALLOWED_ROOTS_ENV)) + list(extra):
        try:
            p = Path(s).expanduser().resolve()
        except (OSError, RuntimeError):
            continue
        if p not in out:
            out.append(p)
    return out


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def check_server_path(text: str, roots: Iterable[Path], forbidden: Iterable[Path] = (),
                      what: str = "path") -> Path:
    """The resolved path for ``text`` if the app may read it, else :class:`ServerPathError` quoting ``text``.

    ``roots``: allowed folders (resolved, e.g. :func:`allowed_roots`); none means server paths are off.
    ``forbidden``: folders never readable even inside an allowed folder (the cache and its uploads)."""
    text = str(text).strip()
    roots = [Path(r) for r in roots]
    if not text:
        raise ServerPathError(f"type a {what}")
    if not roots:
        raise ServerPathError(f"{what} {text!r} cannot be read: server paths are turned off on this server (the "
                              f"operator can allow folders with {ALLOWED_ROOTS_ENV})")
    refused = ServerPathError(f"{what} {text!r} is not readable from the app: it must be inside "
                              f"{' or '.join(repr(str(r)) for r in roots)} and outside the app's cache")
    if "\0" in text:
        raise refused
    try:
        p = Path(text).expanduser()
        p = p if p.is_absolute() else roots[0] / p
        resolved = p.resolve()
        bad = [Path(f).expanduser().resolve() for f in forbidden]
    except (OSError, RuntimeError, ValueError):
        raise refused from None
    if not any(_inside(resolved, r) for r in roots) or any(_inside(resolved, f) for f in bad):
        raise refused
    if not resolved.exists():
        raise ServerPathError(f"{what} {text!r} not found on the server")
    return resolved


def check_task_files(task, forbidden: Iterable[Path], text: str) -> None:
    """Refuse a task (from a manifest or an image folder) any of whose images resolves inside a forbidden folder
    (a manifest row or a class subfolder that links into the cache)."""
    bad = [Path(f).expanduser().resolve() for f in forbidden]
    for ex in task.examples:
        img = Path(str(ex.image)).resolve()
        if any(_inside(img, f) for f in bad):
            raise ServerPathError(f"path {text!r} is not readable from the app: its images must be outside the "
                                  "app's cache")
