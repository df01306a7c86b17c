"""Fixtures for the AppTest suite; helpers live in ``apphelpers.py`` (imported by the tests)."""
from apphelpers import cache_dir  # noqa: F401  (the session's own SN_CACHE_DIR)
