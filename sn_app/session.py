"""Session-state keys shared by the pages, the page registry, and the URL query parameters (``?search=<key>``,
``&neuron=<id>``) that make a search or a neuron shareable. Session state holds only small strings."""
from __future__ import annotations

import logging
import re
import traceback

import streamlit as st

from sn_app.cache import get_result
from sn_app.errors import guarded
from sn_core.store import default_root

log = logging.getLogger("super_neuron_explorer.app")


MODEL = "sn_model"  # model spec: "demo", a local folder or a cached hub id
SEARCH = "sn_search_key"  # store key of the search the pages show
NEURON = "sn_neuron"  # neuron id selected for the inspector, e.g. "blocks.3.mlp.hook_post[17]"
TASK_LABEL = "sn_task_label"  # short description of the current task (sidebar)
DEFAULT_MODEL = "demo"
MEASURED = "sn_measured_speed"  # {search key: {exit layer: speed-up measured on the playground}}
ROBUSTNESS = "sn_robustness_reports"  # {search key: {"report": RobustnessReport.to_json()}} (Robustness page)
PROBE_CURVES = "sn_probe_curves"  # {search key: {"sizes", "seeds", "curve": probe_curve.curve_to_json(...)}}
PAGES: dict = {}


def go(page: str) -> None:
    """Switch to a registered page by its short name (``search``, ``layer_map``, ``inspector``, ``playground``,
    ``compare``, ``robustness``, ``atlas``, ``about``)."""
    key = st.session_state.get(SEARCH)
    st.switch_page(PAGES[page], query_params={"search": key} if key else None)


def short_key(key: str | None) -> str:
    return key[:10] if key else "none"


def current_result():
    """The search the pages show (``None`` when no search has been run or reopened in this session)."""
    key = st.session_state.get(SEARCH)
    if not key:
        return None
    return get_result(key, str(default_root()))


def require_result():
    """The current search, or an info box pointing to the Search page and a stop."""
    res = None
    key = st.session_state.get(SEARCH)
    with guarded("Opening the search", stop=False):
        res = current_result()
    if res is None and key:  # it could not be opened (the error is above): forget it, so other pages do not repeat it
        st.session_state.pop(SEARCH, None)
        st.session_state.pop(NEURON, None)
        try:
            st.query_params.pop("search", None)
            st.query_params.pop("neuron", None)
        except Exception:  # noqa: BLE001 - the address bar is a convenience
            pass
        st.page_link(PAGES["search"], label="Run or reopen a search on the Search page", icon="🔎")
        st.stop()
    if res is None:
        st.info("No search yet. Run one (or reopen a previous one) on the **Search** page first.", icon="ℹ️")
        st.page_link(PAGES["search"], label="Go to Search", icon="🔎")
        st.stop()
    return res


def set_search(key: str) -> None:
    """Make ``key`` the current search; the selected neuron is reset to its best neuron."""
    if st.session_state.get(SEARCH) != key:
        st.session_state[SEARCH] = key
        st.session_state.pop(NEURON, None)


def select_neuron(nid: str) -> None:
    st.session_state[NEURON] = nid


def record_speed(key: str, exit_layer: int, speedup: float) -> None:
    """Keep a speed-up measured on this server, drawn on the Layer map's frontier."""
    st.session_state.setdefault(MEASURED, {}).setdefault(key, {})[int(exit_layer)] = float(speedup)


def measured_speeds(key: str) -> dict[int, float]:
    return dict(st.session_state.get(MEASURED, {}).get(key, {}))


def keep_search_in_url() -> None:
    """Write the current search into the URL (``?search=<key>``) on every page, so that a browser refresh or a
    copied address reopens it (page switches drop query parameters). The inspector adds ``&neuron=``."""
    key = st.session_state.get(SEARCH)
    try:
        if key and st.query_params.get("search") != key:
            st.query_params["search"] = key
            st.session_state["_qp_search"] = key
    except Exception:  # noqa: BLE001 - the address bar is a convenience; it must never break a page
        log.warning("could not write ?search= into the URL:\n%s", traceback.format_exc())


def is_search_key(value) -> bool:
    """Whether a URL's ``?search=`` value has the shape of a store key (a key never names a path)."""
    return isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_\-]{1,128}", value) is not None


def sync_query_params() -> None:
    """Apply ``?search=<key>&neuron=<id>`` from the URL (a shared link) to the session, once per change."""
    qp = st.query_params
    key, nid = qp.get("search"), qp.get("neuron")
    if key and not is_search_key(key):
        st.error("**Link**: its search parameter is not a search key; it was ignored.")
        qp.pop("search", None)
        qp.pop("neuron", None)
        return
    if key and key != st.session_state.get("_qp_search"):
        st.session_state["_qp_search"] = key
        set_search(key)
    if nid and nid != st.session_state.get("_qp_neuron"):
        st.session_state["_qp_neuron"] = nid
        st.session_state[NEURON] = nid
