"""Markdown / HTML injection in a real browser (Debian's Chromium via Playwright, issue 23 item 2): a live server
whose store holds a search of a task whose labels, question and file name are payloads (links, images and HTML
pointing at a host that never resolves), opened on the inspector, playground, layer map, Compare and Robustness
pages with payloads in ``?neuron=`` (and a non-key ``?search=``). No ``<a>`` or ``<img>`` (nor an SVG link or image)
whose target the project did not draw, and no request leaves 127.0.0.1; the payloads are on the page as text."""
from __future__ import annotations

import importlib.util
import sys
import urllib.parse
from pathlib import Path

import pytest
from conftest import CHROMIUM, live_app, new_page, wait_idle


def _injection():
    """``tests/app/injection.py`` (the payloads the AppTest suite uses), loaded by path: putting ``tests/app`` on
    ``sys.path`` would let its ``conftest`` shadow this folder's."""
    if "injection" in sys.modules:
        return sys.modules["injection"]
    spec = importlib.util.spec_from_file_location("injection", Path(__file__).resolve().parents[1] / "app" /
                                                  "injection.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["injection"] = module
    spec.loader.exec_module(module)
    return module


_inj = _injection()
LABELS, NEURON_PAYLOAD, QUESTION, SEARCH_PAYLOAD = _inj.LABELS, _inj.NEURON_PAYLOAD, _inj.QUESTION, _inj.SEARCH_PAYLOAD
payload_search, write_payload_task = _inj.payload_search, _inj.write_payload_task

pytestmark = [pytest.mark.e2e, pytest.mark.security]

EXCEPTION = '[data-testid="stException"]'
PAGES = (("neuron_inspector", "Neuron inspector"), ("playground", "Early-exit playground"),
         ("layer_map", "Layer map"), ("compare", "Compare"), ("robustness", "Robustness and probe size"))
# Every link, image and SVG link / image in the document, with its target.
TARGETS_JS = """() => Array.from(document.querySelectorAll('a, img, image, iframe, source, video, audio')).map(e =>
  [e.tagName.toLowerCase(), e.getAttribute('href') || e.getAttribute('xlink:href') || e.getAttribute('src') || ''])"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A server sharing a store that holds the payload task's search: (url, search key)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run e2e tests")
    cache = tmp_path_factory.mktemp("sn_cache_injection")
    res = payload_search(cache, write_payload_task(tmp_path_factory.mktemp("payload-task")))
    with live_app(cache, tmp_path_factory.mktemp("logs") / "streamlit-injection.log") as url:
        yield url, res.key


def _own(target: str, base: str) -> bool:
    """A target the app itself draws: same origin (its pages, Streamlit's assets), or inline data."""
    parsed = urllib.parse.urlparse(urllib.parse.urljoin(base + "/", target))
    return parsed.scheme in ("data", "blob") or (parsed.scheme in ("http", "https", "ws")
                                                 and parsed.hostname == "127.0.0.1")


def test_security_payloads_draw_no_foreign_link_image_or_request(browser, live):
    url, key = live
    page = new_page(browser, 240_000)
    hosts: list[tuple[str, str]] = []
    page.on("request", lambda r: hosts.append((urllib.parse.urlparse(r.url).scheme,
                                               urllib.parse.urlparse(r.url).hostname or "")))
    try:
        shown_text = {}
        for slug, heading in PAGES:
            query = urllib.parse.urlencode({"search": key, "neuron": NEURON_PAYLOAD})
            page.goto(f"{url}/{slug}?{query}")
            page.locator("h1", has_text=heading).first.wait_for()
            wait_idle(page)
            if slug == "playground":  # the prediction and the true label are payload labels
                page.get_by_role("button", name="Answer with both paths").click()
                page.locator('[data-testid="stMetric"]').first.wait_for()
                wait_idle(page)
            assert page.locator(EXCEPTION).count() == 0, (slug, page.locator(EXCEPTION).first.inner_text())
            foreign = [t for t in page.evaluate(TARGETS_JS) if not _own(t[1], url)]
            assert not foreign, (slug, foreign)
            # as read: the word joiner the app puts into URL and e-mail shapes has no width
            shown_text[slug] = page.locator('[data-testid="stApp"]').inner_text().replace("\u2060", "")
        # a link parameter that is no search key: refused, and drawn as text
        page.goto(f"{url}/neuron_inspector?{urllib.parse.urlencode({'search': SEARCH_PAYLOAD})}")
        page.wait_for_selector('[data-testid="stSidebarNav"]')
        wait_idle(page)
        assert not [t for t in page.evaluate(TARGETS_JS) if not _own(t[1], url)]
        assert "not a search key" in page.locator('[data-testid="stApp"]').inner_text()
        page.wait_for_timeout(1000)  # late requests (images, fonts) of the last page
    finally:
        page.context.close()
    # the payloads are on the pages, literally
    # (links, images, HTML, bare URL, e-mail, :material/ icon and $ LaTeX as typed, the question likewise)
    assert NEURON_PAYLOAD in shown_text["neuron_inspector"], shown_text["neuron_inspector"][:3000]
    assert QUESTION in shown_text["neuron_inspector"]
    assert any(label in shown_text["playground"] for label in LABELS), shown_text["playground"][:2000]
    foreign_requests = sorted({h for s, h in hosts if s not in ("data", "blob") and h != "127.0.0.1"})
    assert not foreign_requests, foreign_requests
    assert len(hosts) > 20  # the pages really loaded through this listener
