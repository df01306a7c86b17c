"""Cached loaders: the model loads once per process (``st.cache_resource``), a search result once per key, the
store's listing at most every 30 s. Heavy arrays stay in ``sn_core``'s on-disk store."""
from __future__ import annotations

import streamlit as st


def get_model(model: str, device: str = "cpu", dtype: str | None = None):
    """``sn_core.models.load_model`` once per (model, device, dtype) and process.

    The arguments are normalised before the cache: ``st.cache_resource`` keys on the arguments as passed, so
    ``get_model("demo")`` and ``get_model("demo", "cpu", None)`` would otherwise hold two copies of the model."""
    return _cached_model(str(model), str(device or "cpu"), None if dtype is None else str(dtype))


@st.cache_resource(show_spinner="Loading the model (once per server process)…", max_entries=2)
def _cached_model(model: str, device: str, dtype: str | None):
    from sn_core.models import load_model

    return load_model(model, device=device, dtype=dtype)


@st.cache_resource(show_spinner="Opening the search…", max_entries=6)
def get_result(key: str, root: str):
    """A finished search, reopened from the store once per key (``root`` is part of the cache key so tests with
    their own ``SN_CACHE_DIR`` never see each other's results)."""
    from sn_core.search import SearchResult

    return SearchResult.load(key, root=root)


@st.cache_data(show_spinner=False, ttl=30)
def get_search_list(root: str) -> list[dict]:
    """The store's finished searches (``sn_core.search.list_searches``). A stored search that cannot be listed
    comes back as ``{"key", "skipped": reason}`` (see ``sn_app.access.visible_searches``), so one damaged entry
    never hides the others."""
    from sn_core.search import list_searches

    skipped: list = []
    rows = list_searches(root=root, skipped=skipped)
    return rows + [{"key": str(k), "skipped": str(why)} for k, why in skipped]
