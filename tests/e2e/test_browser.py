"""The app in a real browser (Debian's Chromium via Playwright) against a live ``streamlit run app.py``.

One walk through the main path (search, layer map, inspector, shared URL, playground with an uploaded image,
compare, about), a screenshot of every page in ``test-artifacts/``, and the error path for a bad upload.
"""
from __future__ import annotations

import io
import json
import re

import pytest
from conftest import new_page, shot, wait_idle
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

NO_EXCEPTION = '[data-testid="stException"]'
ERROR = '[data-testid="stAlertContentError"]'


def _png(color=(220, 40, 40), size=(64, 64)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def _metric(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return m.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _nav(page, title: str, heading: str | None = None) -> None:
    """Open a page from the sidebar and wait until its title is drawn and the run finished."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.locator("h1", has_text=heading or title).first.wait_for()
    wait_idle(page)


def _clean(page) -> None:
    assert page.locator(NO_EXCEPTION).count() == 0, page.locator(NO_EXCEPTION).first.inner_text()


@pytest.fixture(scope="module")
def session(browser, server):
    """One browser session walked through the pages in order (Streamlit state is per session)."""
    page = new_page(browser, 240_000)
    page.goto(server)
    page.wait_for_selector('[data-testid="stSidebarNav"]')
    wait_idle(page)
    yield page
    page.context.close()


def test_search_runs_in_the_browser(session):
    page = session
    _clean(page)
    assert page.locator("h1").first.inner_text().endswith("Search for Super Neurons")
    _set_number(page, "Examples to generate", 48)
    _set_number(page, "Probe examples per class", 6)
    page.get_by_role("button", name="Run search").click()
    page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=400_000)
    wait_idle(page, 400_000)
    _clean(page)
    assert "finished" in page.locator('[data-testid="stAlertContentSuccess"]').inner_text()
    acc = _metric(page, "Super Neuron (test)")
    assert re.fullmatch(r"\d+\.\d%", acc), acc
    assert "Search:" in page.locator('[data-testid="stSidebar"]').inner_text()
    shot(page, "1-search")


def test_layer_map_and_heatmap_click(session):
    page = session
    _nav(page, "Layer map")
    _clean(page)
    # frontier, heatmap, drill-down, per-layer curve (charts load lazily)
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(4)
    expect(page.get_by_text("Recommended shortcut:")).to_be_visible()
    # clicking a heatmap cell of the bottom row (the last layer) opens that layer in the drill-down
    from sn_core import DEMO_MODEL_DIR

    last = json.loads((DEMO_MODEL_DIR / "config.json").read_text())["text_config"]["num_hidden_layers"] - 1
    drag = page.locator('[data-testid="stPlotlyChart"]').nth(1).locator(".nsewdrag").first
    drill = page.locator('[data-testid="stPlotlyChart"]').nth(2)
    for attempt in range(3):  # plotly binds its click handler a moment after the chart is drawn
        drag.scroll_into_view_if_needed()  # mouse coordinates are the viewport's
        box = drag.bounding_box()
        x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.95
        page.mouse.move(x, y)  # hover first, as a user does; plotly picks the point under the cursor
        page.wait_for_timeout(500)
        page.mouse.click(x, y)
        wait_idle(page)
        try:
            expect(drill).to_contain_text(f"Layer {last}:", timeout=10_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    # clicking a frontier point selects its neuron (named in its hover label): the sidebar then names it
    frontier = page.locator('[data-testid="stPlotlyChart"]').first
    point = frontier.locator(".scatterlayer .trace").first.locator(".point").first
    for attempt in range(3):
        point.scroll_into_view_if_needed()
        box = point.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.wait_for_timeout(500)
        nid = re.search(r"blocks\.\d+\.[\w.]+\[\d+\]", frontier.locator(".hoverlayer").text_content() or "")
        page.mouse.click(x, y)
        wait_idle(page)
        try:
            assert nid, "no neuron id in the frontier's hover label"
            expect(page.locator('[data-testid="stSidebar"]')).to_contain_text(nid.group(0), timeout=10_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    _clean(page)
    shot(page, "2-layer-map")


def test_inspector_and_shared_url(session, browser):
    page = session
    _nav(page, "Search", "Search for Super Neurons")
    page.get_by_role("button", name=re.compile(r"^Inspect blocks\.")).click()
    page.locator("h1", has_text="Neuron inspector").wait_for()
    wait_idle(page)
    _clean(page)
    assert page.locator("h1").first.inner_text().endswith("Neuron inspector")
    url = page.url
    assert "search=" in url and "neuron=blocks." in url
    test_acc = _metric(page, "Test accuracy")
    expect(page.locator('[data-testid="stImage"]').nth(1)).to_be_visible()  # top / bottom examples
    shot(page, "3-inspector")
    # the shared URL opens the same neuron in a fresh session
    other = new_page(browser, 120_000)
    other.goto(url)
    other.wait_for_selector('[data-testid="stMetric"]')
    wait_idle(other)
    _clean(other)
    assert _metric(other, "Test accuracy") == test_acc
    other.context.close()


def test_playground_upload_and_predict(session, tmp_path):
    page = session
    _nav(page, "Early-exit playground", "Early-exit playground")
    _clean(page)
    page.get_by_text("upload", exact=True).click()
    wait_idle(page)
    img = tmp_path / "red.png"
    img.write_bytes(_png())
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(img))
    page.wait_for_selector('[data-testid="stImage"]')
    wait_idle(page)
    page.get_by_role("button", name="Answer with both paths").click()
    page.wait_for_selector('[data-testid="stMetric"]')
    wait_idle(page)
    _clean(page)
    pred = _metric(page, "Prediction")
    assert pred in {"red", "green", "blue", "yellow"}, pred
    assert _metric(page, "Full / early exit").endswith("×")
    shot(page, "4-playground")


def test_bad_upload_shows_an_error_in_the_page(session, tmp_path):
    page = session
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.wait_for_selector(ERROR)
    wait_idle(page)
    _clean(page)
    assert "broken.png" in page.locator(ERROR).first.inner_text()
    shot(page, "5-bad-upload")


def test_compare_and_about_render(session):
    page = session
    _nav(page, "Compare")
    _clean(page)
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(1)
    shot(page, "6-compare")
    _nav(page, "About the method")
    _clean(page)
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(6)  # four from the search, two of the measured claims
    shot(page, "7-about")
