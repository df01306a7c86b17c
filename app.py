"""Super Neuron Explorer: the Streamlit router (``streamlit run app.py``).

It sets the page frame, registers the pages with ``st.navigation`` (each ``url_path`` is the file's stem: see
``app_state.page_guard`` for why), applies a shared link's query parameters
(``?search=<key>&neuron=<id>``), draws the session sidebar and runs the selected page. Pages live in ``pages/``;
all method logic lives in ``sn_core``; the Streamlit glue in ``app_state.py``.
"""
import streamlit as st

import app_state

st.set_page_config(page_title="Super Neuron Explorer", page_icon="🔬", layout="wide")
st.session_state[app_state.ROUTED] = True

PAGES = {
    "search": st.Page("pages/search.py", title="Search", icon="🔎", url_path="search", default=True),
    "layer_map": st.Page("pages/layer_map.py", title="Layer map", icon="🗺️", url_path="layer_map"),
    "inspector": st.Page("pages/neuron_inspector.py", title="Neuron inspector", icon="🔬", url_path="neuron_inspector"),
    "playground": st.Page("pages/early_exit.py", title="Early-exit playground", icon="⚡", url_path="early_exit"),
    "compare": st.Page("pages/compare.py", title="Compare", icon="📊", url_path="compare"),
    "about": st.Page("pages/about.py", title="About the method", icon="📖", url_path="about"),
}
app_state.PAGES.update(PAGES)

nav = st.navigation({
    "Find Super Neurons": [PAGES["search"], PAGES["layer_map"], PAGES["inspector"]],
    "Use them": [PAGES["playground"], PAGES["compare"]],
    "Learn": [PAGES["about"]],
})
app_state.sync_query_params()
app_state.sidebar()
nav.run()
