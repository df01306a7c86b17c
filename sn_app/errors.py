"""Errors as the user sees them: every error a user can cause shows as ``st.error`` in the page, one line, never a
traceback, and never a server path (an upload shows as ``upload``, a typed path as typed, the cache as
``<cache>``)."""
from __future__ import annotations

import contextlib
import logging
import traceback
import zipfile
from pathlib import Path

import streamlit as st

from sn_app.text import md
from sn_core.store import default_root

log = logging.getLogger("super_neuron_explorer.app")


PATH_ALIASES = "sn_path_aliases"  # resolved path -> what the user typed, for messages


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is meant for the user (bad input, unknown model, malformed data).

    Imported lazily so the app still starts (and shows a clear error) if an engine module fails to import.
    """
    kinds: list[type[BaseException]] = [ValueError, KeyError, FileNotFoundError, NotADirectoryError,
                                        PermissionError, zipfile.BadZipFile]
    for mod, name in (("sn_core.models", "UnknownModelError"), ("sn_core.data", "ManifestError"),
                      ("sn_core.data.images", "ImageError"), ("sn_core.store.cache", "CorruptShardError")):
        try:
            kinds.append(getattr(__import__(mod, fromlist=[name]), name))
        except (ImportError, AttributeError):
            pass
    return tuple(kinds)


def error_message(e: BaseException) -> str:
    """One readable line for an exception (KeyError's repr quotes are dropped), without server paths: see
    :func:`hide_paths`."""
    msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return hide_paths(str(msg)) or type(e).__name__


def error_line(what: str, e: BaseException) -> str:
    """The ``st.error`` Markdown of a user error: ``**<what>**: <message>``, both shown as text (``what`` often
    names user data, e.g. a neuron id; the message quotes file names, labels and paths)."""
    return f"**{md(what)}**: {md(error_message(e))}"


def unexpected_line(what: str, e: BaseException) -> str:
    """The ``st.error`` Markdown of an unexpected error: its type and message as text, no traceback."""
    return (f"**{md(what)}** failed unexpectedly ({md(type(e).__name__)}: {md(error_message(e))}). "
            "The details are in the server log; the rest of the app still works.")


@contextlib.contextmanager
def guarded(what: str, stop: bool = True):
    """Run a block; a user error shows ``st.error("<what>: <message>")``, an unexpected one a short error with
    the exception type (the traceback goes to the server log, not the page). With ``stop`` the page stops there
    (the sidebar and navigation stay usable); otherwise execution continues after the block."""
    try:
        yield
    except user_errors() as e:
        st.error(error_line(what, e))
        if stop:
            st.stop()
    except Exception as e:  # noqa: BLE001 - the page must never show a traceback
        log.error("%s failed:\n%s", what, traceback.format_exc())
        st.error(unexpected_line(what, e))
        if stop:
            st.stop()


def alias_path(real, shown: str) -> None:
    """Show ``real`` (a server path) as ``shown`` in this session's error messages."""
    try:
        st.session_state.setdefault(PATH_ALIASES, {})[str(Path(real).resolve())] = shown
    except Exception:  # noqa: BLE001 - outside a script run there is no session
        pass


def hide_paths(msg: str) -> str:
    """``msg`` with the server paths this session knows shown as the user gave them (an upload as ``upload``, a
    typed path as typed) and any other path into the cache as ``<cache>``."""
    try:
        aliases = dict(st.session_state.get(PATH_ALIASES, {}))
    except Exception:  # noqa: BLE001
        aliases = {}
    root = default_root()
    for real in {str(root), str(root.resolve())}:
        aliases.setdefault(real, "<cache>")
    for real in sorted(aliases, key=len, reverse=True):
        msg = msg.replace(real, aliases[real])
    return msg
