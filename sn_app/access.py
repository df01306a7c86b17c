"""Access control, alone and reviewable: which uploads and previous searches a session sees (another visitor's
upload is private to them), and which server paths a visitor may read (``sn_core.data.server_paths``: only
inside the allowed roots, never the cache). Saving an upload is ``sn_core.data.uploads``."""
from __future__ import annotations

import os
import re
from pathlib import Path

import streamlit as st

from sn_app.errors import alias_path, error_message
from sn_app.session import short_key
from sn_core.data import server_paths as _paths
from sn_core.data import uploads as _uploads
from sn_core.store import default_root


MY_UPLOADS = "sn_my_uploads"  # upload folders (resolved paths) this session saved
ALLOWED_ROOTS_SECRET = "allowed_data_roots"  # Streamlit secret: a list of folders (or one os.pathsep string)
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")


def remember_upload(folder: Path) -> None:
    """Mark an upload folder as this session's (its searches are listed to this session only; its path shows as
    ``upload`` in messages)."""
    st.session_state.setdefault(MY_UPLOADS, set()).add(str(Path(folder).resolve()))
    alias_path(folder, "upload")


def save_upload(files) -> Path:
    """Save a task upload under the cache (``sn_core.data.uploads.save_task_upload``) as this session's."""
    folder = _uploads.save_task_upload(files, root=default_root())
    remember_upload(folder)
    return folder


def visible_searches(rows: list[dict], skipped: list[str] | None = None) -> list[dict]:
    """The previous searches this session may list: every search of a bundled task or a server path, but searches
    of data inside the cache only for the session that uploaded it (another user's upload is private to them; its
    search still opens from a link that carries its key, which only someone it was shared with has; a search of
    the uploads folder itself belongs to no one). A row that cannot be read is left out and, with a list given as
    ``skipped``, named there by its short key and the reason."""
    cache = default_root().resolve()
    uploads = _uploads.uploads_dir(cache)
    mine = st.session_state.get(MY_UPLOADS, set())
    out = []
    for r in rows:
        key = r.get("key") if isinstance(r, dict) else None
        try:
            if not isinstance(r, dict) or "skipped" in r:
                raise ValueError(r.get("skipped") if isinstance(r, dict) else "not a listing entry")
            config = r.get("config") or {}
            if not isinstance(config, dict) or not isinstance(r.get("summary") or {}, dict):
                raise ValueError("stored in another format or damaged; re-run it")
            task = str(config.get("task") or "")
            path = Path(task).resolve()  # a bundled task's name resolves outside the cache
            if task and path.is_relative_to(cache):
                parts = path.relative_to(uploads).parts if path.is_relative_to(uploads) else ()
                if not parts or str(uploads / parts[0]) not in mine:
                    continue
        except Exception as e:  # noqa: BLE001 - one damaged entry never breaks the listing for others
            if skipped is not None:
                skipped.append(f"{short_key(str(key) if key else None)} ({error_message(e)})")
            continue
        out.append(r)
    return out


def allowed_roots() -> list[Path]:
    """Folders whose files the app may read by path: ``$SN_ALLOWED_DATA_ROOTS`` and the secret
    ``allowed_data_roots``. Empty (the default) means server paths are off."""
    extra: list[str] = []
    try:
        extra = _paths.parse_roots(st.secrets.get(ALLOWED_ROOTS_SECRET))
    except Exception:  # noqa: BLE001 - no secrets file: only the environment variable counts
        pass
    return _paths.allowed_roots(extra)


def private_folders() -> list[Path]:
    """Folders never readable through a path field: the cache (every visitor's uploads and searches)."""
    return [default_root()]


def task_path(text: str, question: str | None) -> str:
    """The resolved task path for what the user typed, if this server lets visitors read it (see
    ``sn_core.data.server_paths``); the task is loaded once to check that none of its images lies in the cache.
    Raises ``ServerPathError`` (a ``ValueError``) quoting ``text``."""
    from sn_core.data import load_image_folder, load_manifest

    path = _paths.check_server_path(text, allowed_roots(), private_folders(), what="path")
    alias_path(path, text)
    alias_path(path.parent, os.path.dirname(text.rstrip("/")) or ".")
    task = load_manifest(path) if path.is_file() else load_image_folder(path, question or "?")
    _paths.check_task_files(task, private_folders(), text)
    return str(path)


def _exists_inside(root: Path, relative: str) -> bool:
    """Whether ``root / relative`` exists (an unreadable or odd path counts as absent)."""
    try:
        return (Path(root) / relative).exists()
    except (OSError, ValueError):
        return False


def model_source(text: str) -> str:
    """What to load for the model field: ``demo``, a hub id (read from the local Hugging Face cache only), or a
    model folder, which follows the server-path rule (resolved path returned).

    A relative path is looked up inside the first allowed root, as for the task path (the server's working
    directory never matters): a name shaped like a hub id (``org/name``) is a folder only if it exists there, and
    otherwise stays a hub id; with no allowed root it is always a hub id."""
    text = text.strip()
    if text == "demo":
        return text
    if _HUB_ID.match(text) and ".." not in text.split("/"):
        roots = allowed_roots()
        if not roots or not _exists_inside(roots[0], text):
            return text
    path = _paths.check_server_path(text, allowed_roots(), private_folders(), what="model folder")
    alias_path(path, text)
    return str(path)
