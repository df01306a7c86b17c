"""Shared fixtures for the Streamlit AppTest suite.

Every test session gets its own store (``SN_CACHE_DIR`` in a temporary folder), so results never leak between
sessions or into a user's cache. AppTest runs the app in this process: ``st.cache_resource`` objects (the demo
model, reopened searches) are shared across tests, as in a real server process.
"""
from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # sn_app.py and sn_core live at the repository root
    sys.path.insert(0, str(REPO))
APP = REPO / "app.py"
# Seconds per script run. Pages that load the demo model or run a search need far more than AppTest's 3 s default.
PAGE_TIMEOUT = 180
SEARCH_TIMEOUT = 400

# A small search: few examples and layers, so that the whole suite stays within its budget on 2 CPU cores.
SMALL = dict(task="shapes-color", n_examples=48, probe_per_class=6, layers=(0, 2, 4), seed=0)


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory):
    """A fresh store root for the whole session (set before the app or sn_core read it)."""
    root = tmp_path_factory.mktemp("sn_cache")
    old = os.environ.get("SN_CACHE_DIR")
    os.environ["SN_CACHE_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("SN_CACHE_DIR", None)
    else:
        os.environ["SN_CACHE_DIR"] = old


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT)


def open_page(page: str | None = None, **state):
    """Run the app once (the router registers its pages), preset session state, then open ``pages/<page>.py``."""
    at = new_app()
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    return at


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before ASCII punctuation shows it


def shown(text: str) -> str:
    """``text`` (an element's Markdown) as displayed, as far as user text goes: CommonMark backslash escapes undone
    (``sn_app.text.md`` escapes every punctuation character of user text) and its invisible word joiners dropped,
    so assertions compare what a user reads."""
    return _ESCAPED.sub(r"\1", str(text)).replace("\u2060", "")  # md's word joiner has no width


def errors(at) -> list[str]:
    """The page's ``st.error`` messages as displayed (see :func:`shown`)."""
    return [shown(e.value) for e in at.error]


def assert_clean(at):
    """No exception element on the page (tracebacks must never reach a user)."""
    assert not at.exception, [e.value for e in at.exception]


def png_bytes(color=(220, 40, 40), size=(48, 48)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()
