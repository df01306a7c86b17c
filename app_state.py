"""The only Streamlit-aware glue between the pages and ``sn_core``.

- Cached loaders: the model loads once per process (``st.cache_resource``), a search result once per key. Heavy
  arrays stay in ``sn_core``'s on-disk store; session state holds only small strings (keys, ids, choices).
- Session-state keys shared by the pages, and the URL query parameters that make a neuron shareable.
- Error display: every error a user can cause shows as ``st.error`` in the page, never as a traceback.
- A progress callback that turns the engine's ``progress(stage, done, total)`` into ``st.progress``.
- Small helpers for uploads (saving a manifest + images or a ZIP to a folder the engine can read).

No method logic here: no scoring, no hooks. Pages call these helpers and ``sn_core`` functions, then draw.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import traceback
import zipfile
from pathlib import Path

import streamlit as st

log = logging.getLogger("super_neuron_explorer.app")

# ------------------------------------------------------------------------------------------- session-state keys
MODEL = "sn_model"  # model spec: "demo", a local folder or a cached hub id
SEARCH = "sn_search_key"  # store key of the search the pages show
NEURON = "sn_neuron"  # neuron id selected for the inspector, e.g. "blocks.3.mlp.hook_post[17]"
TASK_LABEL = "sn_task_label"  # short description of the current task (sidebar)
UPLOAD_DIR = "sn_upload_dir"  # folder holding the last uploaded task files

DEFAULT_MODEL = "demo"
MAX_UPLOAD_MB = 20  # keep in step with .streamlit/config.toml server.maxUploadSize
MAX_ZIP_FILES = 20_000
MAX_ZIP_BYTES = 500 * 1024 * 1024  # uncompressed

STAGE_LABELS = {
    "load": "Loading the model",
    "extract": "Reading activations (examples)",
    "score": "Scoring neurons (layers)",
    "baselines": "Running baselines",
    "generate": "Generating full-model answers (examples)",
    "timing": "Timing both paths (repeats)",
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
    """One readable line for an exception (KeyError's repr quotes are dropped)."""
    msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return str(msg) or type(e).__name__


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
def cache_root() -> Path:
    """The store's root folder (``SN_CACHE_DIR`` or the store's default)."""
    try:
        from sn_core import store

        for name in ("default_root", "cache_root", "resolve_root"):
            fn = getattr(store, name, None)
            if callable(fn):
                return Path(fn())
    except ImportError:
        pass
    env = os.environ.get("SN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "super-neuron-explorer"


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
    from sn_core.search import list_searches

    return list_searches(root=root)


def current_result():
    """The search the pages show (``None`` when no search has been run or reopened in this session)."""
    key = st.session_state.get(SEARCH)
    if not key:
        return None
    return get_result(key, str(cache_root()))


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
    """Mark an upload folder as this session's (its searches are listed to this session only)."""
    st.session_state.setdefault(MY_UPLOADS, set()).add(str(Path(folder).resolve()))


def visible_searches(rows: list[dict]) -> list[dict]:
    """The previous searches this session may list: every search of a bundled task or a server path, but searches
    of uploaded data only for the session that uploaded it (another user's upload is private to them; its search
    still opens from a link that carries its key, which only someone it was shared with has)."""
    uploads = (cache_root() / "uploads").resolve()
    mine = st.session_state.get(MY_UPLOADS, set())
    out = []
    for r in rows:
        task = str((r.get("config") or {}).get("task") or "")
        path = Path(task).resolve()  # a bundled task's name resolves outside the uploads folder
        if task and path.is_relative_to(uploads):
            folder = uploads / path.relative_to(uploads).parts[0]
            if str(folder) not in mine:
                continue
        out.append(r)
    return out


def sync_query_params() -> None:
    """Apply ``?search=<key>&neuron=<id>`` from the URL (a shared link) to the session, once per change."""
    qp = st.query_params
    key, nid = qp.get("search"), qp.get("neuron")
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


# -------------------------------------------------------------------------------------------------- uploads
def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    """Extract a ZIP refusing absolute paths, ``..`` escapes, links and archives that unpack too large."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_FILES:
        raise ValueError(f"the ZIP holds {len(infos)} entries, more than the {MAX_ZIP_FILES} allowed")
    total = sum(i.file_size for i in infos)
    if total > MAX_ZIP_BYTES:
        raise ValueError(f"the ZIP unpacks to {total / 1e6:.0f} MB, more than {MAX_ZIP_BYTES / 1e6:.0f} MB")
    root = dest.resolve()
    for info in infos:
        target = (dest / info.filename).resolve()
        if info.filename.startswith(("/", "\\")) or not target.is_relative_to(root):
            raise ValueError(f"the ZIP entry {info.filename!r} points outside the archive; refused")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise ValueError(f"the ZIP entry {info.filename!r} is a symbolic link; refused")
    zf.extractall(dest)


def save_task_upload(files) -> Path:
    """Save uploaded task files into a fresh folder under the cache root and return that folder.

    ``files``: Streamlit ``UploadedFile`` objects: one ZIP (manifest + images, or one subfolder per class), or a
    manifest (.jsonl / .csv) together with the images it names. The folder name is the hash of the contents, so
    the same upload maps to the same folder (and the same search cache key).
    """
    if not files:
        raise ValueError("no files uploaded")
    h = hashlib.sha256()
    blobs = []
    for f in sorted(files, key=lambda f: f.name):
        data = f.getvalue()
        name = Path(f.name).name
        if not name or name in (".", ".."):
            raise ValueError(f"bad file name {f.name!r}")
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        blobs.append((name, data))
    dest = cache_root() / "uploads" / h.hexdigest()[:16]
    if dest.is_dir():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name, data in blobs:
            if name.lower().endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    _safe_extract(zf, tmp)
            else:
                (tmp / name).write_bytes(data)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def find_task_source(folder: Path) -> tuple[str, str]:
    """Where the task is in an uploaded folder: ``("manifest", path)`` for the single .jsonl/.csv manifest (found
    at any depth, ignoring macOS ``__MACOSX`` debris), else ``("folder", path)`` for the folder holding the class
    subfolders. Raises ``ValueError`` when there are several manifests or nothing usable."""
    manifests = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jsonl", ".ndjson", ".csv")
                       and "__MACOSX" not in p.parts and p.is_file())
    if len(manifests) > 1:
        names = ", ".join(str(p.relative_to(folder)) for p in manifests[:5])
        raise ValueError(f"the upload holds {len(manifests)} manifests ({names}); upload exactly one")
    if manifests:
        return "manifest", str(manifests[0])
    base = folder
    subdirs = [p for p in base.iterdir() if p.is_dir() and p.name != "__MACOSX"]
    # A ZIP of one top folder that holds the class folders: descend once.
    if len(subdirs) == 1 and not any(p.is_file() for p in base.iterdir()):
        inner = [p for p in subdirs[0].iterdir() if p.is_dir()]
        if inner:
            base = subdirs[0]
            subdirs = inner
    if len(subdirs) < 1:
        raise ValueError("the upload has no manifest (.jsonl or .csv) and no class subfolders; upload a manifest "
                         "with its images, or a ZIP with one subfolder of images per class")
    return "folder", str(base)


# ----------------------------------------------------------------------------------------------------- tables
TOP_COLUMNS = ["rank", "neuron_id", "site", "layer", "index", "probe_score", "test_accuracy", "separation", "rule"]


def top_table(top):
    """The ranking table in reading order (rank first), sorted by rank; extra columns kept at the end."""
    cols = [c for c in TOP_COLUMNS if c in top.columns] + [c for c in top.columns if c not in TOP_COLUMNS]
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
    }


# ---------------------------------------------------------------------------------------------------- pages
# Page registry: filled by app.py (``st.Page`` objects), used for links and ``st.switch_page``.
PAGES: dict = {}


def go(page: str) -> None:
    """Switch to a registered page by its short name (``search``, ``layer_map``, ``inspector``, ...)."""
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
