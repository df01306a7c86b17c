"""The only Streamlit-aware glue between the pages and ``sn_core``.

- Cached loaders: the model loads once per process (``st.cache_resource``), a search result once per key. Heavy
  arrays stay in ``sn_core``'s on-disk store; session state holds only small strings (keys, ids, choices).
- Session-state keys shared by the pages, and the URL query parameters that make a neuron shareable.
- Error display: every error a user can cause shows as ``st.error`` in the page, never as a traceback.
- A progress callback that turns the engine's ``progress(stage, done, total)`` into ``st.progress``.
- Uploads and server paths: which uploads and previous searches a session sees, which server paths it may read
  (``sn_core.data.server_paths``), and error messages without server internals. Saving an upload is
  ``sn_core.data.uploads``.

No method logic here: no scoring, no hooks. Pages call these helpers and ``sn_core`` functions, then draw.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import traceback
import zipfile
from pathlib import Path

import streamlit as st

from sn_core.data import server_paths as _paths
from sn_core.data import uploads as _uploads
from sn_core.ranking import TOP_K_COLUMNS
from sn_core.store import default_root

log = logging.getLogger("super_neuron_explorer.app")

# ------------------------------------------------------------------------------------------- session-state keys
MODEL = "sn_model"  # model spec: "demo", a local folder or a cached hub id
SEARCH = "sn_search_key"  # store key of the search the pages show
NEURON = "sn_neuron"  # neuron id selected for the inspector, e.g. "blocks.3.mlp.hook_post[17]"
TASK_LABEL = "sn_task_label"  # short description of the current task (sidebar)

DEFAULT_MODEL = "demo"

STAGE_LABELS = {
    "load": "Loading the model",
    "extract": "Reading activations (examples)",
    "score": "Scoring neurons (layers)",
    "baselines": "Running baselines",
    "generate": "Generating full-model answers (examples)",
    "timing": "Timing both paths (repeats)",
    "robustness": "Scoring the conditions",
    "probe-curve": "Re-ranking every neuron (probe sizes x split seeds)",
}


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is meant for the user (bad input, unknown model, malformed data).

    Imported lazily so the app still starts (and shows a clear error) if an engine module fails to import.
    """
    kinds: list[type[BaseException]] = [ValueError, KeyError, FileNotFoundError, NotADirectoryError,
                                        PermissionError, zipfile.BadZipFile]
    for mod, name in (("sn_core.models", "UnknownModelError"), ("sn_core.data", "ManifestError"),
                      ("sn_core.images", "ImageError"), ("sn_core.store", "CorruptShardError")):
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


@contextlib.contextmanager
def guarded(what: str, stop: bool = True):
    """Run a block; a user error shows ``st.error("<what>: <message>")``, an unexpected one a short error with
    the exception type (the traceback goes to the server log, not the page). With ``stop`` the page stops there
    (the sidebar and navigation stay usable); otherwise execution continues after the block."""
    try:
        yield
    except user_errors() as e:
        st.error(f"**{what}**: {error_message(e)}")
        if stop:
            st.stop()
    except Exception as e:  # noqa: BLE001 - the page must never show a traceback
        log.error("%s failed:\n%s", what, traceback.format_exc())
        st.error(f"**{what}** failed unexpectedly ({type(e).__name__}: {error_message(e)}). "
                 "The details are in the server log; the rest of the app still works.")
        if stop:
            st.stop()


# -------------------------------------------------------------------------------------------------- caching
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
    """The store's finished searches. A stored search that cannot be listed comes back as ``{"key", "skipped":
    reason}`` (see :func:`visible_searches`), so one damaged entry never hides the others."""
    from sn_core.search import list_searches

    skipped: list = []
    try:
        rows = list_searches(root=root, skipped=skipped)
    except Exception:  # noqa: BLE001 - one unreadable store entry must not break the listing for everyone
        log.warning("listing the store failed; reading its searches one by one:\n%s", traceback.format_exc())
        skipped = []
        rows = _searches_one_by_one(Path(root), skipped)
    return rows + [{"key": str(k), "skipped": str(why)} for k, why in skipped]


def _searches_one_by_one(root: Path, skipped: list) -> list[dict]:
    """The finished searches under ``root``, each read on its own (used when the store's listing fails as a
    whole); ``(key, reason)`` appended to ``skipped`` for each one that cannot be read."""
    from sn_core.result import SEARCH_FORMAT

    out = []
    for d in root.iterdir() if root.is_dir() else ():
        done = d / "complete.json"
        if d.name == "uploads" or not done.is_file():
            continue
        try:
            meta = json.loads(done.read_text(encoding="utf-8")).get("meta")
            if not isinstance(meta, dict) or meta.get("kind") != "search":
                continue
            summary, config = meta.get("summary"), meta.get("config")
            if meta.get("format") != SEARCH_FORMAT or not isinstance(summary, dict) or not isinstance(config, dict):
                raise ValueError("stored in another format or damaged; re-run it")
        except Exception as e:  # noqa: BLE001
            skipped.append((d.name, error_message(e) if isinstance(e, ValueError) and "re-run" in str(e)
                            else "its stored description cannot be read"))
            continue
        created = _dt.datetime.fromtimestamp(done.stat().st_mtime, _dt.timezone.utc).isoformat(timespec="seconds")
        out.append({"key": d.name, "created": created, "model_id": meta.get("model_id"), "task": meta.get("task"),
                    "summary": summary, "config": config})
    return sorted(out, key=lambda r: r["created"], reverse=True)


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


MEASURED = "sn_measured_speed"  # {search key: {exit layer: speed-up measured on the playground}}
ROBUSTNESS = "sn_robustness_reports"  # {search key: {"report": RobustnessReport.to_json()}} (Robustness page)
PROBE_CURVES = "sn_probe_curves"  # {search key: {"sizes", "seeds", "curve": probe_curve.curve_to_json(...)}}


def classifier_options(res) -> dict[str, list[str]]:
    """The classifiers the playground and Compare offer, the recommended shortcut first (pages open on it), then
    the search's overall best neuron(s), then the inspector's neuron if this search can read it."""
    s = res.summary
    top_ids = [str(x) for x in res.top_k["neuron_id"]][: int(s.k or 1)]
    short = res.shortcut_neuron_id
    opts = {}
    if [short] != top_ids:
        layer = res.frontier().query("neuron_id == @short")["layer"].iloc[0]
        opts[f"recommended shortcut ({short}, exits after layer {layer})"] = [short]
    best = "overall best" + (f" top-{len(top_ids)} vote" if len(top_ids) > 1 else "")
    opts[f"{best} ({', '.join(top_ids)}, exits after layer {s.exit_layer})"
         + (": also the recommended shortcut" if [short] == top_ids else "")] = top_ids
    chosen = st.session_state.get(NEURON)
    if chosen and chosen not in top_ids and chosen != short and res.neuron_problem(chosen) is None:
        opts[f"the inspector's neuron ({chosen})"] = [chosen]
    return opts


def choose_classifier(res, key: str) -> list[str]:
    """A radio of :func:`classifier_options` (opening on the recommended shortcut, with the reason shown when it is
    chosen); returns the chosen neuron ids."""
    options = classifier_options(res)
    which = st.radio("Classifier", list(options), key=key, horizontal=True,
                     help="The page opens on the recommended shortcut; the search's overall best neuron is one click "
                          "away.")
    neurons = options[which]
    if neurons == [res.shortcut_neuron_id]:
        st.info(res.shortcut_explanation())
    return neurons


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


# ---------------------------------------------------------------------------------------------- upload privacy
MY_UPLOADS = "sn_my_uploads"  # upload folders (resolved paths) this session saved


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
    uploads = cache / "uploads"
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


# ------------------------------------------------------------------------------------------------ server paths
ALLOWED_ROOTS_SECRET = "allowed_data_roots"  # Streamlit secret: a list of folders (or one os.pathsep string)
PATH_ALIASES = "sn_path_aliases"  # resolved path -> what the user typed, for messages
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")


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


def model_source(text: str) -> str:
    """What to load for the model field: ``demo``, a hub id (read from the local Hugging Face cache only), or a
    model folder, which follows the server-path rule (resolved path returned)."""
    text = text.strip()
    if text == "demo":
        return text
    if _HUB_ID.match(text) and ".." not in text.split("/") and not Path(text).exists():
        return text
    path = _paths.check_server_path(text, allowed_roots(), private_folders(), what="model folder")
    alias_path(path, text)
    return str(path)


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


# ------------------------------------------------------------------------------------------------- progress
class Progress:
    """A ``progress(stage, done, total)`` callback drawing one ``st.progress`` bar with the stage and count."""

    def __init__(self, container=None):
        self._box = container if container is not None else st.empty()
        self._bar = None
        self.calls = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.calls += 1
        label = STAGE_LABELS.get(stage, stage)
        frac = 0.0 if not total else min(max(done / total, 0.0), 1.0)
        text = f"{label}: {done}/{total}" if total else label
        if self._bar is None:
            self._bar = self._box.progress(frac, text=text)
        else:
            self._bar.progress(frac, text=text)

    def clear(self) -> None:
        self._box.empty()


# ----------------------------------------------------------------------------------------------------- tables
def top_table(top):
    """The ranking table in the engine's column order (``sn_core.ranking.TOP_K_COLUMNS``, rank first), sorted by
    rank; extra columns kept at the end."""
    cols = [c for c in TOP_K_COLUMNS if c in top.columns] + [c for c in top.columns if c not in TOP_K_COLUMNS]
    out = top[cols]
    return out.sort_values("rank").reset_index(drop=True) if "rank" in out else out


def top_table_config() -> dict:
    """``st.dataframe`` column settings for :func:`top_table` (labels with units, 3 decimals)."""
    return {
        "rank": st.column_config.NumberColumn("rank", width="small"),
        "neuron_id": st.column_config.TextColumn("neuron id", width="medium"),
        "probe_score": st.column_config.NumberColumn("probe score", format="%.3f",
                                                     help="accuracy of the neuron's rule on the probe split"),
        "test_accuracy": st.column_config.NumberColumn("test accuracy", format="%.3f",
                                                       help="the same rule on the held-out test split"),
        "separation": st.column_config.NumberColumn("separation", format="%.2f",
                                                    help="Fisher ratio of the classes on the probe split "
                                                         "(tie-breaker of the ranking)"),
        "test_ci_low": st.column_config.NumberColumn("95% CI low", format="%.3f",
                                                     help="Wilson 95% interval of the test accuracy (lower end)"),
        "test_ci_high": st.column_config.NumberColumn("95% CI high", format="%.3f",
                                                      help="Wilson 95% interval of the test accuracy (upper end)"),
    }


# ---------------------------------------------------------------------------------------------------- pages
# Page registry: filled by app.py (``st.Page`` objects), used for links and ``st.switch_page``.
PAGES: dict = {}


def go(page: str) -> None:
    """Switch to a registered page by its short name (``search``, ``layer_map``, ``inspector``, ``playground``,
    ``compare``, ``robustness``, ``atlas``, ``about``)."""
    key = st.session_state.get(SEARCH)
    st.switch_page(PAGES[page], query_params={"search": key} if key else None)


def short_key(key: str | None) -> str:
    return key[:10] if key else "none"


def sidebar(container=None) -> None:
    """Model / task / search / neuron state, shown on every page (in ``container``, default the sidebar)."""
    with container if container is not None else st.sidebar:
        st.markdown("### Session")
        key = st.session_state.get(SEARCH)
        res = None
        if key:
            try:
                res = current_result()
            except Exception as e:  # noqa: BLE001 - the sidebar must never break a page
                st.caption(f"Search {short_key(key)} cannot be opened: {error_message(e)}")
        model = res.summary.model_id if res is not None else st.session_state.get(MODEL, DEFAULT_MODEL)
        lines = [f"**Model:** `{model}`"]
        if res is not None:
            s = res.summary
            lines.append(f"**Task:** `{s.task}` ({s.n_classes} classes, "
                         f"{s.n_probe} probe / {s.n_test} test)")
            lines.append(f"**Search:** `{short_key(key)}`")
            nid = st.session_state.get(NEURON) or s.sn_neuron_id
            lines.append(f"**Neuron:** `{nid}`")
        else:
            lines.append(f"**Task:** {st.session_state.get(TASK_LABEL, 'none yet')}")
            lines.append("**Search:** none yet")
        st.markdown("  \n".join(lines))


# ------------------------------------------------------------------------------------------ shortcut export
SHORTCUT_DOWNLOAD_LIMIT = 512 * 2 ** 20  # larger shortcuts are offered as server paths, never read into memory


def build_shortcut(res, clf, neurons, model: str) -> dict:
    """Export ``clf`` into ``<store root>/shortcuts/<search>-<neurons>/`` (once: a folder already exported for the
    same classifier is reused after its card verifies) and stream it into a ZIP beside it, with a progress bar.
    Returns ``{folder, zip, bytes, zip_bytes}``."""
    import hashlib
    import shutil

    from sn_core.shortcut import ShortcutError, export_shortcut, read_card, write_shortcut_zip

    tag = hashlib.sha256(json.dumps(list(neurons)).encode()).hexdigest()[:10]
    base = default_root() / "shortcuts"
    base.mkdir(parents=True, exist_ok=True)
    folder = base / f"{short_key(res.key)}-{tag}"
    try:
        read_card(folder)
    except ShortcutError:
        if folder.exists():
            shutil.rmtree(folder)
        with st.spinner("Exporting the ONNX graph (tens of seconds for small models, minutes for 7B ones)..."):
            export_shortcut(clf, folder, model=model, test_accuracy=res.test_accuracy(neurons))
    zip_path = folder.with_suffix(".zip")
    bar = st.progress(0.0, text="Writing shortcut.zip")
    tmp = zip_path.with_name(zip_path.name + ".partial")
    write_shortcut_zip(folder, tmp, progress=lambda done, total: bar.progress(
        min(1.0, done / max(total, 1)), text=f"Writing shortcut.zip: {done / 2 ** 20:.0f} of {total / 2 ** 20:.0f} MB"))
    os.replace(tmp, zip_path)
    bar.empty()
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"folder": str(folder), "zip": str(zip_path), "bytes": size, "zip_bytes": zip_path.stat().st_size}


def file_reader(path):
    """Deferred download data: the file is read only when the button is clicked."""
    return lambda: Path(path).read_bytes()
