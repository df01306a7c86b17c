"""Two visitors of one live server in two browser contexts (two Streamlit sessions): one uploads a ZIP task and runs
a search on it; the other probes every path field (task path, model folder) and URL parameter (``?search=``,
``?neuron=``) with the first one's upload and the cache, and must never see the first one's files, search or paths.

The server here allows the folder that contains its cache (``SN_ALLOWED_DATA_ROOTS``), so the cache and uploads
are refused by the rule that keeps them private even inside an allowed folder, not merely because paths are off.
"""
from __future__ import annotations

import io
import json
import os
import urllib.parse
import zipfile

import pytest
from conftest import CHROMIUM, live_app, new_page, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.security]

EXCEPTION = '[data-testid="stException"]'
ERROR = '[data-testid="stAlertContentError"]'
TASK_PATH = "Path to a .jsonl/.csv manifest or a folder of class subfolders"
MODEL_PATH = "Model folder (Hugging Face format) or hub id in the local cache"
QUESTION = "Question (only for a folder of class subfolders)"


def _png(rgb) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A server whose allowed folder holds its cache and one legitimate task: (url, cache, allowed folder)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run e2e tests")
    allowed = tmp_path_factory.mktemp("allowed")
    cache = allowed / "cache"
    task = allowed / "shared-task"
    task.mkdir()
    rows = []
    for i in range(6):
        lbl = "red" if i % 2 else "blue"
        (task / f"{i}.png").write_bytes(_png((220, 40, 40) if lbl == "red" else (40, 80, 220)))
        rows.append(json.dumps({"image": f"{i}.png", "question": "What color is the shape?", "label": lbl}))
    (task / "task.jsonl").write_text("\n".join(rows))
    with live_app(cache, tmp_path_factory.mktemp("logs") / "streamlit-multi.log",
                  SN_ALLOWED_DATA_ROOTS=str(allowed)) as url:
        yield url, cache, allowed


def _open(browser, url):
    page = new_page(browser, 90_000)
    page.goto(url)
    page.wait_for_selector('[data-testid="stSidebarNav"]')
    wait_idle(page)
    return page


def _clean(page) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()


def _type(page, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
    wait_idle(page)


def _text(page) -> str:
    return page.locator('[data-testid="stApp"]').inner_text()


def _run_button(page) -> int:
    return page.get_by_role("button", name="Run search").count()


def test_security_a_second_visitor_never_sees_the_first_visitors_upload(browser, live, tmp_path):
    url, cache, allowed = live
    # -- visitor A uploads a ZIP task and runs a search on it
    a = _open(browser, url)
    a.get_by_text("upload", exact=True).click()
    wait_idle(a)
    zpath = tmp_path / "private-colours.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for lbl, rgb in (("red", (220, 40, 40)), ("blue", (40, 80, 220))):
            for i in range(6):
                zf.writestr(f"private-colours/{lbl}/secret-{lbl}-{i}.png", _png(tuple(min(255, c + 5 * i) for c in rgb)))
    _type(a, QUESTION, "What color is the shape?")
    a.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(zpath))
    a.get_by_text("Task read from the upload (folder)").wait_for(timeout=60_000)
    box = a.get_by_label("Probe examples per class", exact=True)
    box.fill("2")
    box.press("Enter")
    wait_idle(a)
    a.get_by_role("button", name="Run search").click()
    a.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=400_000)
    wait_idle(a, 400_000)
    _clean(a)
    key_a = urllib.parse.parse_qs(urllib.parse.urlparse(a.url).query)["search"][0]
    a.get_by_role("tab", name="Previous searches").click()
    wait_idle(a)
    # the uploader lists its own search (the table's accessible cells are drawn a moment after the table)
    a.wait_for_function("k => document.documentElement.outerHTML.includes(k)", arg=key_a, timeout=30_000)
    folder = next(p for p in (cache / "uploads").iterdir() if p.is_dir() and not p.name.startswith("."))
    secrets = [folder.name, "secret-red", "secret-blue", key_a[:10], str(cache)]

    # -- visitor B, at the same time, in another browser context
    b = _open(browser, url)
    seen: list[str] = []

    def look() -> None:
        _clean(b)
        assert b.locator('[data-testid="stImage"]').count() == 0, "the visitor must not see any image"
        seen.append(_text(b))

    b.get_by_role("tab", name="Previous searches").click()
    wait_idle(b)
    look()
    # A's search is the only one on this server: B lists none
    assert b.get_by_text("No previous searches in the store yet.").count() == 1
    assert key_a not in b.content()

    b.get_by_role("tab", name="New search").click()
    b.get_by_text("local path", exact=True).click()
    wait_idle(b)
    rel = os.path.relpath(folder, allowed)
    probes = [str(folder / "private-colours"), str(folder), str(cache / "uploads"), str(cache), f"{rel}/private-colours",
              "cache/uploads", f"cache/../cache/uploads/{folder.name}", str(folder / "private-colours" / "red")]
    for text in probes:
        _type(b, TASK_PATH, text)
        b.locator(ERROR).first.wait_for()
        assert "not readable from the app" in b.locator(ERROR).first.inner_text(), text
        assert _run_button(b) == 0, f"{text}: another visitor's upload must not be searchable"
        look()
    # the operator's own folder works for the same visitor
    _type(b, TASK_PATH, "shared-task/task.jsonl")
    assert b.locator(ERROR).count() == 0, b.locator(ERROR).first.inner_text()
    assert _run_button(b) == 1
    look()

    # the model folder field follows the same rule
    b.get_by_text("local folder or cached hub id", exact=True).click()
    wait_idle(b)
    for text in (str(folder), f"{rel}/private-colours"):
        _type(b, MODEL_PATH, text)
        b.locator(ERROR).first.wait_for()
        assert "not readable from the app" in b.locator(ERROR).first.inner_text(), text
        look()

    # URL parameters carry no path: each gives one error line, nothing of A's
    for query in ({"search": f"../uploads/{folder.name}"}, {"search": str(folder)}, {"search": "uploads"},
                  {"search": "0" * 64, "neuron": str(folder)}, {"neuron": f"../{folder.name}"}):
        for path in ("", "neuron_inspector", "playground"):
            b.goto(f"{url}/{path}?{urllib.parse.urlencode(query)}")
            b.wait_for_selector('[data-testid="stSidebarNav"]')
            wait_idle(b)
            look()
    b.context.close()
    a.context.close()

    shown = "\n".join(seen)
    for s in secrets:
        # the probes B typed itself are echoed in its own messages (a cache path shown as <cache>); nothing else
        # of A's may appear
        echoed = [t for t in probes if s in t] + [t.replace(str(cache), "<cache>") for t in probes]
        leaked = shown
        for t in sorted(echoed + [str(allowed)], key=len, reverse=True):
            leaked = leaked.replace(t, "")
        assert s not in leaked, s
