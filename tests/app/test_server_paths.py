"""Server paths in the app (AppTest): off unless the operator allows folders (``SN_ALLOWED_DATA_ROOTS``), never into
the cache or other visitors' uploads, resolved before the check, errors without server internals; URL parameters
carry no path; one broken stored search never breaks "Previous searches" for others.

Reproductions of the hostile test: a visitor typed a dotfile of the server account (accepted), a missing path
("not found": existence revealed), ``<cache>/uploads`` (a search over other visitors' images, whose absolute path
the error messages showed), after which every session's "Previous searches" failed with ``IndexError``.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from apphelpers import SEARCH_TIMEOUT, assert_clean, errors, new_app, png_bytes

import sn_app
from sn_core.data import server_paths as SP

pytestmark = pytest.mark.security


def _has_button(at, key) -> bool:
    return any(b.key == key for b in at.button)


def _fields(at, key):
    return [t for t in at.text_input if t.key == key]


def _probe_task_path(at, text: str) -> list[str]:
    """Type ``text`` into the task path field (where the page offers one); the errors shown."""
    at.radio(key="task_source").set_value("local path").run()
    assert_clean(at)
    fields = _fields(at, "task_path")
    if fields:
        fields[0].set_value(text).run()
        assert_clean(at)
    return errors(at)


def _manifest_task(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(6):
        lbl = "red" if i % 2 else "blue"
        (folder / f"{i}.png").write_bytes(png_bytes((220, 40, 40) if lbl == "red" else (40, 80, 220)))
        rows.append(json.dumps({"image": f"{i}.png", "question": "What color is the shape?", "label": lbl}))
    (folder / "task.jsonl").write_text("\n".join(rows))
    return folder / "task.jsonl"


def _no_server_internals(texts, *paths) -> None:
    for t in texts:
        for p in paths:
            assert str(p) not in t, (p, t)
        assert "Traceback" not in t


@pytest.fixture
def no_roots(monkeypatch):
    monkeypatch.delenv(SP.ALLOWED_ROOTS_ENV, raising=False)


@pytest.fixture
def app():
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    return at


def test_security_server_paths_are_off_by_default_and_reveal_nothing(tmp_path, no_roots, app, cache_dir):
    secret = tmp_path / ".secret-dotfile"
    secret.write_text("token=1")
    manifest = _manifest_task(tmp_path / "task")
    shown = {}
    for text in (str(secret), str(tmp_path / "missing.jsonl"), str(manifest), str(cache_dir / "uploads"), "~/.bashrc"):
        errs = _probe_task_path(app, text)
        assert not _has_button(app, "run_search"), f"{text}: a server path must not be usable"
        assert not any("not found" in e for e in errs), (text, errs)  # existence is never revealed
        shown[text] = [e.replace(text, "<given>") for e in errs] + [i.value for i in app.info]
    assert len({json.dumps(v) for v in shown.values()}) == 1, shown  # the same answer, whatever the path
    assert any("turned off" in i.value and SP.ALLOWED_ROOTS_ENV in i.value for i in app.info)


def test_security_allowed_root_works_and_paths_are_resolved_first(tmp_path, monkeypatch, app):
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    manifest = _manifest_task(allowed / "task")
    _manifest_task(outside)
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv(SP.ALLOWED_ROOTS_ENV, str(allowed))
    # inside the allowed folder: accepted, by absolute path or relative to the allowed folder
    for text in (str(manifest), "task/task.jsonl", str(allowed / "task" / ".." / "task" / "task.jsonl")):
        errs = _probe_task_path(app, text)
        assert not errs, (text, errs)
        assert _has_button(app, "run_search"), text
    # escapes by '..' or a symbolic link are refused with the path as typed, never the resolved one
    for text in (str(allowed / ".." / "outside" / "task.jsonl"), "../outside/task.jsonl", str(allowed / "link" / "task.jsonl"),
                 "link/task.jsonl", "/etc/passwd"):
        errs = _probe_task_path(app, text)
        assert not _has_button(app, "run_search"), text
        assert any("not readable from the app" in e and text in e for e in errs), (text, errs)
        _no_server_internals(errs, outside)
    # a missing path inside the allowed folder: "not found", with the path as typed
    errs = _probe_task_path(app, "task/missing.jsonl")
    assert any("not found" in e and "'task/missing.jsonl'" in e for e in errs), errs
    _no_server_internals(errs, allowed)


def _colours_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for lbl, rgb in (("red", (220, 40, 40)), ("blue", (40, 80, 220))):
            for i in range(4):
                zf.writestr(f"colours/{lbl}/{i}.png", png_bytes(tuple(min(255, c + 9 * i) for c in rgb)))
    return buf.getvalue()


def test_security_cache_and_uploads_are_never_readable_through_a_path(tmp_path, monkeypatch, cache_dir):
    """Even when the allowed folder contains the cache, another visitor's upload is not reachable by path."""
    monkeypatch.setenv(SP.ALLOWED_ROOTS_ENV, str(cache_dir.parent))
    uploader = new_app().run(timeout=SEARCH_TIMEOUT)
    uploader.radio(key="task_source").set_value("upload").run()
    uploader.file_uploader(key="task_upload").set_value(("colours.zip", _colours_zip(), "application/zip")).run()
    assert_clean(uploader)
    folder = next(p for p in (cache_dir / "uploads").iterdir() if p.is_dir() and not p.name.startswith("."))
    visitor = new_app().run(timeout=SEARCH_TIMEOUT)
    rel = os.path.relpath(folder, cache_dir.parent)
    for text in (str(folder / "colours"), str(folder), str(cache_dir / "uploads"), str(cache_dir),
                 f"{rel}/colours", f"{cache_dir.name}/../{cache_dir.name}/uploads", str(folder / "colours" / "red")):
        errs = _probe_task_path(visitor, text)
        assert not _has_button(visitor, "run_search"), text
        assert any("not readable from the app" in e for e in errs), (text, errs)
    # a symbolic link inside the allowed folder that points into the cache is refused too
    (tmp_path / "peek").symlink_to(folder / "colours", target_is_directory=True)
    monkeypatch.setenv(SP.ALLOWED_ROOTS_ENV, os.pathsep.join([str(tmp_path), str(cache_dir.parent)]))
    errs = _probe_task_path(visitor, str(tmp_path / "peek"))
    assert not _has_button(visitor, "run_search")
    assert any("not readable from the app" in e for e in errs), errs
    _no_server_internals(errs, cache_dir)


def test_security_model_folder_field_follows_the_same_rule(tmp_path, no_roots, app):
    from sn_core import DEMO_MODEL_DIR

    app.radio(key="model_mode").set_value("local folder or cached hub id").run()
    answers = []
    for text in (str(DEMO_MODEL_DIR), str(tmp_path / "no-such-model"), "../../etc"):
        app.text_input(key="model_path").set_value(text).run()
        assert_clean(app)
        assert "task_source" not in [r.key for r in app.radio], f"{text}: a server folder must not load"
        errs = errors(app)
        assert any("turned off" in e for e in errs), (text, errs)
        answers.append([e.replace(repr(text), "<given>") for e in errs])
    assert answers[0] == answers[1] == answers[2], answers
    app.radio(key="model_mode").set_value("demo").run()
    assert_clean(app)
    assert not errors(app)


def test_security_model_folder_inside_an_allowed_root_loads(monkeypatch, app):
    from sn_core import DEMO_MODEL_DIR

    monkeypatch.setenv(SP.ALLOWED_ROOTS_ENV, str(DEMO_MODEL_DIR.parent))
    app.radio(key="model_mode").set_value("local folder or cached hub id").run()
    app.text_input(key="model_path").set_value(str(DEMO_MODEL_DIR)).run(timeout=SEARCH_TIMEOUT)
    assert_clean(app)
    assert not errors(app), errors(app)
    assert "task_source" in [r.key for r in app.radio]


@pytest.mark.parametrize("value", ["../uploads", "/etc/passwd", "~/.bashrc", "uploads/0123456789abcdef", "..",
                                   "a" * 129])
def test_security_url_search_parameter_carries_no_path(value, cache_dir):
    at = new_app()
    at.query_params["search"] = value
    at.query_params["neuron"] = "/etc/passwd"
    at.run()
    assert_clean(at)
    errs = errors(at)
    assert any("not a search key" in e for e in errs), errs
    _no_server_internals(errs, cache_dir)
    assert sn_app.SEARCH not in at.session_state and "search" not in at.query_params


# --------------------------------------------------------------------------------------------- previous searches
def _fake_search(root: Path, key: str, task: str, **over) -> None:
    from sn_core.search.result import SEARCH_FORMAT
    from sn_core.store.cache import ActivationStore

    meta = {"kind": "search", "format": SEARCH_FORMAT, "model_id": "demo", "task": Path(task).name or task,
            "summary": {"n_probe": 4, "n_test": 4, "sn_neuron_id": "blocks.0.mlp.hook_post[1]",
                        "sn_test_accuracy": 0.75},
            "config": {"task": task, "instruction": None}}
    meta.update(over)
    ActivationStore(key, root=root).mark_complete(meta)


def test_reliability_a_broken_stored_search_never_breaks_the_listing(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("SN_CACHE_DIR", str(root))
    (root / "uploads").mkdir(parents=True)
    _fake_search(root, "good" + "0" * 20, "shapes-color")
    _fake_search(root, "overuploads" + "0" * 13, str(root / "uploads"))  # the search that broke every listing
    _fake_search(root, "badconfig" + "0" * 15, "x", config=["not", "a", "dict"])
    _fake_search(root, "badsummary" + "0" * 14, "shapes-color", summary="oops")
    (root / ("badjson" + "0" * 17)).mkdir()
    (root / ("badjson" + "0" * 17) / "complete.json").write_bytes(b"\xff\xfe not json")
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    assert not [e for e in errors(at) if "Listing" in e], errors(at)
    listed = list(at.dataframe(key="prev_table").value["key"])
    assert "good" + "0" * 20 in listed
    assert "overuploads" + "0" * 13 not in listed  # inside the uploads folder, owned by no session: not listed
    warned = " ".join(w.value for w in at.warning)
    for bad in ("badconfig", "badsummary"):
        assert bad not in " ".join(listed)
        assert sn_app.short_key(bad + "0" * 20) in warned, warned  # skipped and named
    _no_server_internals([warned], root)
