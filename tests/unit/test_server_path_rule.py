"""The server-path rule (``sn_core.data.server_paths``): off without allowed folders, paths resolved (``..``,
symbolic links, ``~``) before the check, the cache never readable, existence revealed only inside an allowed
folder, messages quoting the path as typed."""
from __future__ import annotations

import os

import pytest

from sn_core.data import server_paths as SP

pytestmark = pytest.mark.security


@pytest.fixture
def tree(tmp_path):
    allowed, outside, cache = tmp_path / "allowed", tmp_path / "outside", tmp_path / "allowed" / "cache"
    for d in (allowed / "task", outside, cache / "uploads" / "abc"):
        d.mkdir(parents=True)
    (allowed / "task" / "m.jsonl").write_text("{}")
    (outside / "secret.txt").write_text("x")
    (allowed / "out").symlink_to(outside, target_is_directory=True)
    (allowed / "peek").symlink_to(cache / "uploads", target_is_directory=True)
    return allowed, outside, cache


def test_security_off_without_allowed_roots(tree):
    allowed, outside, _ = tree
    for text in (str(outside / "secret.txt"), str(outside / "missing"), "~/.bashrc"):
        with pytest.raises(SP.ServerPathError, match="turned off") as e:
            SP.check_server_path(text, [])
        assert "not found" not in str(e.value)


def test_security_inside_an_allowed_root(tree):
    allowed, _, cache = tree
    roots = [allowed.resolve()]
    assert SP.check_server_path(str(allowed / "task" / "m.jsonl"), roots, [cache]) == (allowed / "task" / "m.jsonl").resolve()
    assert SP.check_server_path("task/m.jsonl", roots, [cache]) == (allowed / "task" / "m.jsonl").resolve()
    with pytest.raises(SP.ServerPathError, match="'task/none.jsonl' not found"):
        SP.check_server_path("task/none.jsonl", roots, [cache])


@pytest.mark.parametrize("text", ["../outside/secret.txt", "out/secret.txt", "peek/abc", "cache", "cache/uploads/abc",
                                  "task/../../outside/secret.txt", "/etc/passwd", "task/m.jsonl\0x", "../outside/missing"])
def test_security_escapes_and_the_cache_are_refused(tree, text):
    allowed, outside, cache = tree
    with pytest.raises(SP.ServerPathError, match="not readable from the app") as e:
        SP.check_server_path(text, [allowed.resolve()], [cache])
    msg = str(e.value)
    assert repr(text) in msg and str(outside) not in msg and str(cache) not in msg


def test_roots_from_the_environment_and_a_list(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv(SP.ALLOWED_ROOTS_ENV, os.pathsep.join([str(a), "", str(a)]))
    assert SP.allowed_roots([str(b)]) == [a.resolve(), b.resolve()]
    monkeypatch.delenv(SP.ALLOWED_ROOTS_ENV)
    assert SP.allowed_roots() == []
    assert SP.parse_roots(["x", " "]) == ["x"] and SP.parse_roots(None) == []
