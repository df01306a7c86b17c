"""Hostile uploads in the app (AppTest): every one shows ``st.error``, never an exception, and the app stays usable.

Playground image uploads: not an image, a truncated PNG, a decompression bomb (a PNG header declaring
100000 x 100000 pixels with no pixel data), a real image over the pixel limit, a wrong file type sent past the
browser's filter; then a good image still gets an answer. Task uploads on the Search page: a pickle named
``.jsonl``, a PNG named ``.csv``, a file named ``.zip`` that is not one, a ZIP escaping its folder (zip slip), a
ZIP with a symbolic link, ZIPs over the entry-count and unpacked-size limits; nothing is written outside the
upload folder and no half-extracted folder is left behind. (A malformed manifest and a one-class upload are in
``test_pages.py``.)
"""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
import zlib

import pytest
from apphelpers import PAGE_TIMEOUT, SEARCH_TIMEOUT, assert_clean, errors, new_app, open_page, png_bytes

import sn_app
from sn_core.data import uploads as upload_lib

pytestmark = [pytest.mark.reliability, pytest.mark.security]


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width x height`` RGB pixels (valid CRC) followed by a tiny IDAT and IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def _png(size, color=(30, 160, 60)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


@pytest.fixture(scope="module")
def search_key():
    """A small finished search on the demo model, run with the app's own cached model object."""
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    loaded = sn_app.get_model("demo", "cpu", None)  # the same cache entry the playground asks for
    cfg = SearchConfig(model="demo", task="shapes-color", n_examples=48, probe_per_class=6, layers=(0, 1),
                       baselines=False)
    return run_search(cfg, loaded=loaded).key


def _playground_upload(search_key):
    at = open_page("playground", **{sn_app.SEARCH: search_key})
    assert_clean(at)
    at.radio(key="ee_source").set_value("upload").run()
    assert_clean(at)
    return at


def _bad_images():
    return [
        ("notes.png", b"this is not an image at all", "not an image"),
        ("cut.png", _png((64, 64), (200, 30, 30))[:-40], "truncated or corrupt"),
        ("bomb.png", _png_header_only(100_000, 100_000), "too many pixels"),
        ("big.png", _png((9000, 5000)), "9000x5000 pixels is more than the 40 MP limit"),
        ("empty.jpg", b"", "empty"),
    ]


def test_reliability_bad_image_uploads_show_errors_and_the_playground_recovers(search_key):
    at = _playground_upload(search_key)
    for name, data, match in _bad_images():
        at.file_uploader(key="ee_upload").set_value((name, data, "image/png")).run()
        assert_clean(at)
        errs = errors(at)
        assert any(name in e and match in e for e in errs), (name, errs)
        assert not _has_button(at, "ee_go"), "a refused image must not be offered for prediction"
    # Still usable: a good image gets an answer from both paths.
    at.file_uploader(key="ee_upload").set_value(("ok.png", png_bytes((220, 40, 40)), "image/png")).run()
    assert_clean(at)
    assert not errors(at)
    at.slider(key="ee_repeats").set_value(1)
    at.button(key="ee_go").click().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    assert not errors(at), errors(at)
    assert at.session_state["ee_last"]["label"] in ("red", "green", "blue", "yellow")


def _has_button(at, key) -> bool:
    return any(b.key == key for b in at.button)


def test_security_wrong_file_type_past_the_browser_filter(search_key):
    """The browser only offers the listed image types. A crafted request with another type is refused by Streamlit
    itself while it deserialises the widget, before the page's code runs (so the page cannot turn it into
    ``st.error``): that session sees Streamlit's redacted error box, with no file name, no traceback and no server
    path; the file is never read or saved; a reload (a new session) works, and other sessions are unaffected."""
    other = _playground_upload(search_key)  # another user's session, open at the same time
    at = _playground_upload(search_key)
    at.file_uploader(key="ee_upload").set_value(("model.pkl", pickle.dumps({"x": 1}), "image/png")).run()
    shown = [e.value for e in at.exception] + errors(at)
    assert shown, "a refused upload type needs a visible error"
    for text in shown:
        assert "model.pkl" not in text and "Traceback" not in text and "/work" not in text and ".py" not in text
    assert all(not e.stack_trace for e in at.exception)
    other.file_uploader(key="ee_upload").set_value(("ok.png", png_bytes(), "image/png")).run()
    assert_clean(other)
    assert not errors(other) and _has_button(other, "ee_go")
    fresh = _playground_upload(search_key)  # the same user after reloading the page
    fresh.file_uploader(key="ee_upload").set_value(("ok.png", png_bytes(), "image/png")).run()
    assert_clean(fresh)
    assert not errors(fresh) and _has_button(fresh, "ee_go")


# --------------------------------------------------------------------------------------------------- task uploads
def _zip(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return buf.getvalue()


class _Evil:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def _task_upload(at, files):
    at.radio(key="task_source").set_value("upload").run()
    assert_clean(at)
    at.file_uploader(key="task_upload").set_value(files).run(timeout=PAGE_TIMEOUT)
    assert_clean(at)
    if _has_button(at, "run_search"):
        at.number_input(key="probe_per_class").set_value(2)
        at.multiselect(key="layers").set_value([0])
        at.checkbox(key="baselines").uncheck()
        at.button(key="run_search").click().run(timeout=SEARCH_TIMEOUT)
        assert_clean(at)
    return errors(at)


def test_security_hostile_task_uploads_show_errors_and_leak_nothing(tmp_path, cache_dir, monkeypatch):
    sentinel = tmp_path / "UNPICKLED"
    row = b'{"image": "a.png", "question": "q", "label": "x"}\n'
    cases = [
        ([("task.jsonl", pickle.dumps(_Evil(sentinel), protocol=0), "application/json")], "row 1"),
        ([("task.jsonl", pickle.dumps(_Evil(sentinel), protocol=5), "application/json")], "not a UTF-8 text"),
        ([("task.csv", png_bytes(), "text/csv")], "not a UTF-8 text"),
        ([("task.zip", b"PK\x03\x04 definitely not a zip", "application/zip")], "zip"),
        ([("task.zip", _zip({"task.jsonl": row, "../escaped.png": png_bytes()}), "application/zip")],
         "points outside the archive"),
        ([("task.zip", _zip({"task.jsonl": row}, {"a.png": "/etc/passwd"}), "application/zip")], "symbolic link"),
    ]
    monkeypatch.setattr(upload_lib, "MAX_ZIP_FILES", 50)
    cases.append(([("task.zip", _zip({f"red/{i}.png": b"x" for i in range(60)}), "application/zip")],
                  "60 entries, more than the 50 allowed"))
    monkeypatch.setattr(upload_lib, "MAX_ZIP_BYTES", 1_000_000)
    cases.append(([("task.zip", _zip({"red/big.png": b"\0" * 2_000_000}), "application/zip")],
                  "unpacks to 2 MB, more than 1 MB"))

    at = new_app().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    for files, match in cases:
        errs = _task_upload(at, files)
        assert any(match.lower() in e.lower() for e in errs), (files[0][0], match, errs)
    assert not sentinel.exists()
    uploads = cache_dir / "uploads"
    leftovers = [p for p in uploads.iterdir() if p.name.endswith(".tmp")] if uploads.exists() else []
    assert not leftovers, leftovers
    assert not list(cache_dir.rglob("escaped.png")) and not (cache_dir / "escaped.png").exists()
    assert not [p for p in cache_dir.rglob("*") if p.is_symlink()]
    # The app is still usable: back to a bundled task, no error.
    at.radio(key="task_source").set_value("bundled").run()
    assert_clean(at)
    assert not errors(at)


# -------------------------------------------------------------------------------------------- concurrent uploads
def _class_folders_zip(n: int = 30) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for lbl, rgb in (("red", (220, 40, 40)), ("blue", (40, 80, 220))):
            for i in range(n):
                zf.writestr(f"colours/{lbl}/{i}.png", png_bytes(tuple(min(255, c + 3 * i) for c in rgb)))
    return buf.getvalue()


def test_reliability_two_sessions_uploading_the_same_zip_at_once(cache_dir, one_runtime):
    """Two sessions (two threads of one server) upload the same ZIP at the same moment, several rounds: both
    read the task every time (before: one of them got 'Directory not empty' or 'No such file'). ``one_runtime``
    (conftest) gives the two AppTests one Streamlit runtime, as one server has; without it their per-run runtime
    and config patches undo each other now and then."""
    import shutil
    import threading

    data = _class_folders_zip()
    apps = [new_app().run(timeout=SEARCH_TIMEOUT) for _ in range(2)]
    for at in apps:
        at.radio(key="task_source").set_value("upload").run()
        at.text_input(key="upload_question").set_value("What color is the shape?").run()
    for rnd in range(4):
        shutil.rmtree(cache_dir / "uploads", ignore_errors=True)  # a fresh cache: both calls really save
        barrier, failures = threading.Barrier(2), []

        def upload(at, name):
            barrier.wait(timeout=60)
            try:
                at.file_uploader(key="task_upload").set_value((name, data, "application/zip")).run(
                    timeout=PAGE_TIMEOUT)
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e))
        threads = [threading.Thread(target=upload, args=(at, "colours.zip")) for at in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(PAGE_TIMEOUT)
        assert not failures, failures
        for at in apps:
            assert_clean(at)
            assert not errors(at), (rnd, errors(at))
            assert any("Task read from the upload (folder)" in c.value for c in at.caption), rnd
        for at in apps:  # the next round uploads again (a cleared uploader, then the same file)
            at.file_uploader(key="task_upload").set_value([]).run()


def test_security_upload_errors_show_no_server_path(cache_dir):
    """An upload whose task is refused names the file inside the upload, never the cache folder it was saved to."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"colours/red/{i}.png", png_bytes())
        zf.writestr("colours/blue/readme.txt", b"no images here")
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    errs = _task_upload(at, [("one-class.zip", buf.getvalue(), "application/zip")])
    at.text_input(key="upload_question").set_value("What color is the shape?").run()
    errs = _task_upload(at, [("one-class.zip", buf.getvalue(), "application/zip")])
    assert any("1 class subfolder" in e for e in errs), errs
    for e in errs:
        assert str(cache_dir) not in e and str(cache_dir.resolve()) not in e and "/uploads/" not in e, e
    assert any("'upload/colours'" in e for e in errs), errs


def test_reliability_a_bad_upload_is_reported_when_uploaded_not_at_run(cache_dir):
    """A manifest with a missing field, or a file that is not a ZIP, shows its error as soon as it is uploaded
    (naming the file), and the task is not announced as read."""
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.radio(key="task_source").set_value("upload").run()
    cases = [
        ([("task.zip", _zip({"task.jsonl": b'{"image": "a.png", "question": "q"}\n', "a.png": png_bytes()}),
           "application/zip")], "missing field"),
        ([("fake.zip", b"hello, not a zip", "application/zip")], "fake.zip: not a ZIP archive"),
    ]
    for files, match in cases:
        at.file_uploader(key="task_upload").set_value(files).run(timeout=PAGE_TIMEOUT)
        assert_clean(at)
        errs = errors(at)
        assert any("Reading the upload" in e and match in e for e in errs), (match, errs)
        assert not any("Task read from the upload" in c.value for c in at.caption)
