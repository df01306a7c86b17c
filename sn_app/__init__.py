"""The Streamlit adapter: the only Streamlit-aware glue between the pages (``app_pages/``) and ``sn_core``, split by
job. Pages import this package and call ``sn_app.<name>``.

- ``session``: session-state keys, the page registry, the URL query parameters that make a neuron shareable.
- ``errors``: every error a user can cause shows as one ``st.error`` line, never a traceback or a server path.
- ``cache``: the model loads once per process, a search result once per key.
- ``access``: which uploads, previous searches and server paths a visitor may see (alone, to be reviewed alone).
- ``widgets``: the progress bar, the ranking table, the classifier chooser, the sidebar, the shortcut export
  (folder and streamed ZIP).
- ``datasets``: the Search page's benchmark or dataset folder (format, subset, split, rows and classes shown).

No method logic here: no scoring, no hooks. Pages call these helpers and ``sn_core`` functions, then draw.
"""
from sn_app.access import (ALLOWED_ROOTS_SECRET, MY_UPLOADS, allowed_roots, model_source, private_folders,
                           remember_upload, save_upload, task_path, visible_searches)
from sn_app.cache import get_model, get_result, get_search_list
from sn_app.datasets import benchmark_task
from sn_app.errors import PATH_ALIASES, alias_path, error_message, guarded, hide_paths, user_errors
from sn_app.session import (DEFAULT_MODEL, MEASURED, MODEL, NEURON, PAGES, PROBE_CURVES, ROBUSTNESS, SEARCH,
                            TASK_LABEL, current_result, go, is_search_key, keep_search_in_url, measured_speeds,
                            record_speed, require_result, select_neuron, set_search, short_key, sync_query_params)
from sn_app.widgets import (SHORTCUT_DOWNLOAD_LIMIT, STAGE_LABELS, ProgressBar, build_shortcut, choose_classifier,
                            classifier_options, file_reader, sidebar, top_table_config, top_table_view)

__all__ = ["ALLOWED_ROOTS_SECRET", "DEFAULT_MODEL", "MEASURED", "MODEL", "MY_UPLOADS", "NEURON", "PAGES",
           "PATH_ALIASES", "PROBE_CURVES", "ProgressBar", "ROBUSTNESS", "SEARCH", "SHORTCUT_DOWNLOAD_LIMIT",
           "STAGE_LABELS", "TASK_LABEL", "alias_path", "allowed_roots", "benchmark_task", "build_shortcut",
           "choose_classifier", "classifier_options", "current_result", "error_message", "file_reader", "get_model",
           "get_result", "get_search_list", "go", "guarded", "hide_paths", "is_search_key", "keep_search_in_url",
           "measured_speeds", "model_source", "private_folders", "record_speed", "remember_upload",
           "require_result", "save_upload", "select_neuron", "set_search", "short_key", "sidebar",
           "sync_query_params", "task_path", "top_table_config", "top_table_view", "user_errors", "visible_searches"]
