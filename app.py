"""Super Neuron Explorer: the Streamlit router (``streamlit run app.py``).

It sets the page frame, registers the pages with ``st.navigation``, applies a shared link's query parameters
(``?search=<key>&neuron=<id>``), draws the session sidebar and runs the selected page (the sidebar is redrawn
after the page, so it shows the state the page left). All method logic lives in ``sn_core``; the Streamlit glue
in ``sn_app.py``.

Pages live in ``app_pages/``, deliberately not ``pages/``: Streamlit treats a ``pages/`` folder beside the entry
script as its older automatic multipage mode until some run calls ``st.navigation``, so a deep link opened first on
a fresh server would run the page file without this router, and AppTest (which resets that mode before every run)
would do so on every rerun.
"""
import streamlit as st

import sn_app

st.set_page_config(page_title="Super Neuron Explorer", page_icon="🔬", layout="wide")

PAGES = {
    "search": st.Page("app_pages/search.py", title="Search", icon="🔎", url_path="search", default=True),
    "layer_map": st.Page("app_pages/layer_map.py", title="Layer map", icon="🗺️", url_path="layer_map"),
    "inspector": st.Page("app_pages/neuron_inspector.py", title="Neuron inspector", icon="🔬",
                         url_path="neuron_inspector"),
    "playground": st.Page("app_pages/playground.py", title="Early-exit playground", icon="⚡",
                          url_path="playground"),
    "compare": st.Page("app_pages/compare.py", title="Compare", icon="📊", url_path="compare"),
    "robustness": st.Page("app_pages/robustness.py", title="Robustness", icon="🛡️", url_path="robustness"),
    "atlas": st.Page("app_pages/atlas.py", title="Neuron atlas", icon="🧭", url_path="atlas"),
    "about": st.Page("app_pages/about.py", title="About the method", icon="📖", url_path="about"),
}
sn_app.PAGES.update(PAGES)

nav = st.navigation({
    "Find Super Neurons": [PAGES["search"], PAGES["layer_map"], PAGES["inspector"]],
    "Check them": [PAGES["robustness"], PAGES["atlas"]],
    "Use them": [PAGES["playground"], PAGES["compare"]],
    "Learn": [PAGES["about"]],
})
sn_app.sync_query_params()
sn_app.keep_search_in_url()  # a refresh reopens the current search (page switches drop the parameters)
side = st.sidebar.empty()
sn_app.sidebar(side.container())  # drawn before the page (kept if the page stops early) ...
nav.run()
sn_app.keep_search_in_url()  # the page may have started or reopened a search
sn_app.sidebar(side.container())  # ... and redrawn after it, with the search / neuron the page left
