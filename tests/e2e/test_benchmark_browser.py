"""A benchmark folder in a real browser: the Search page's "benchmark or dataset folder" source on a live server
whose allowed data folder holds a CLEVR fixture (tests/helpers/benchmark_fixtures.py) shows the detected format
and row count, runs the search, and the result opens on the layer map."""
from __future__ import annotations

import pytest
from conftest import CHROMIUM, live_app, new_page, shot, wait_idle
from playwright.sync_api import expect

from tests.helpers import benchmark_fixtures as fx

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run e2e tests")
    data = tmp_path_factory.mktemp("data")
    fx.write_clevr(data / "clevr")
    with live_app(tmp_path_factory.mktemp("sn_cache_bench"), tmp_path_factory.mktemp("logs") / "streamlit-bench.log",
                  SN_ALLOWED_DATA_ROOTS=str(data)) as url:
        yield url, data


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def test_benchmark_folder_searches_in_the_browser(browser, bench_server):
    url, data = bench_server
    page = new_page(browser, 240_000)
    try:
        page.goto(url)
        page.wait_for_selector('[data-testid="stSidebarNav"]')
        wait_idle(page)
        page.get_by_text("benchmark or dataset folder", exact=True).click()
        wait_idle(page)
        box = page.get_by_label("Benchmark or Hugging Face dataset folder (or .parquet / .arrow file)", exact=True)
        box.fill(str(data / "clevr"))
        box.press("Enter")
        wait_idle(page)
        expect(page.get_by_text("16 usable rows of 64 read; classes: no, yes.", exact=False)).to_be_visible()
        assert "CLEVR" in page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Detected").inner_text()
        _set_number(page, "Examples to draw (class-stratified)", 16)
        _set_number(page, "Probe examples per class", 3)
        page.get_by_role("button", name="Run search").click()
        page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=400_000)
        wait_idle(page, 400_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "finished" in page.locator('[data-testid="stAlertContentSuccess"]').inner_text()
        assert "clevr-yesno" in page.locator('[data-testid="stSidebar"]').inner_text()
        shot(page, "benchmark-search")
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Layer map", exact=True).click()
        page.locator("h1", has_text="Layer map").first.wait_for()
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.context.close()
