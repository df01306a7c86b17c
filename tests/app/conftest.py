"""Fixtures for the AppTest suite; helpers live in ``apphelpers.py`` (imported by the tests)."""
import threading

import pytest
from apphelpers import cache_dir  # noqa: F401  (the session's own SN_CACHE_DIR)


@pytest.fixture()
def one_runtime(monkeypatch):
    """One Streamlit runtime shared by every AppTest session, as in a real server process.

    AppTest installs a mock runtime singleton at the start of each run and clears it at the end, so two AppTests in
    two threads would clear each other's ("Runtime hasn't been created!"). Here AppTest's per-run set/clear lands on
    a subclass, and the real singleton is one mock runtime built the way AppTest builds it, shared by all sessions
    (its media-file and cache-data managers are shared across sessions in a real server too).

    AppTest also patches ``config.get_option`` per run (``global.appTest`` -> True, which makes widgets save their
    ``format_func`` where AppTest reads it back). Patches that overlap in threads undo each other: the first run to
    finish restores the unpatched ``get_option`` while another session's script is still running, whose radio
    widgets then save nothing and AppTest fails with ``KeyError: '$$ID-...'``. So here the option is patched once
    for the whole test and AppTest's per-run patch is a no-op; ``monkeypatch`` undoes both afterwards.

    AppTest also builds a script cache per run, where a server has one for all sessions, behind one lock. Pages
    compiled in several threads at once then sometimes fail in ``ast.parse`` with "SystemError: AST constructor
    recursion depth mismatch" (seen here about one full-suite run in three; CPython 3.11's AST recursion-depth
    bookkeeping, reported from threaded programs in python/cpython#106905; a server compiles a page once, under its
    cache's lock). Compilation is serialised here with one lock, as the server's shared cache does.
    """
    import contextlib

    import streamlit.testing.v1.app_test as app_test_mod
    from streamlit import config
    from streamlit.runtime import Runtime
    from streamlit.testing.v1.util import build_mock_config_get_option

    class PerRunRuntime(Runtime):
        pass

    shared = app_test_mod.MagicMock(spec=Runtime)
    shared.media_file_mgr = app_test_mod.MediaFileManager(app_test_mod.MemoryMediaFileStorage("/mock/media"))
    shared.dataframe_source_mgr = app_test_mod.DataframeSourceManager()
    shared.cache_storage_manager = app_test_mod.MemoryCacheStorageManager()
    bidi = app_test_mod.BidiComponentManager()
    bidi.discover_and_register_components(start_file_watching=False)
    shared.bidi_component_registry = bidi
    monkeypatch.setattr(config, "get_option", build_mock_config_get_option({"global.appTest": True,
                                                                             "client.showErrorDetails": "full"}))
    monkeypatch.setattr(app_test_mod, "patch_config_options", lambda overrides: contextlib.nullcontext())
    monkeypatch.setattr(app_test_mod, "Runtime", PerRunRuntime)
    monkeypatch.setattr(Runtime, "_instance", shared)
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    compile_lock = threading.Lock()
    real_get_bytecode = ScriptCache.get_bytecode

    def get_bytecode(self, script_path):
        with compile_lock:
            return real_get_bytecode(self, script_path)
    monkeypatch.setattr(ScriptCache, "get_bytecode", get_bytecode)
    return shared
