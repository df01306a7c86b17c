"""The Robustness and Neuron atlas pages in a real browser (Debian's Chromium via Playwright) against a live
``streamlit run app.py``: a small search, the robustness report run from its form, the probe-size curve, the atlas
of the stored search; no exception element anywhere, a screenshot of each page in ``test-artifacts/``."""
from __future__ import annotations

import re

import pytest
from conftest import new_page, shot, wait_idle
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

EXCEPTION = '[data-testid="stException"]'
CHART = '[data-testid="stPlotlyChart"]'


def _clean(page) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()


def _nav(page, title: str, heading: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.locator("h1", has_text=heading).first.wait_for()
    wait_idle(page)


@pytest.fixture(scope="module")
def searched(browser, server):
    """A browser session that ran the small search the main walk runs (a cache hit when it ran first)."""
    page = new_page(browser, 240_000)
    page.goto(server)
    page.wait_for_selector('[data-testid="stSidebarNav"]')
    wait_idle(page)
    for label, value in (("Examples to generate", 48), ("Probe examples per class", 6)):
        box = page.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Enter")
        wait_idle(page)
    page.get_by_role("button", name="Run search").click()
    page.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=400_000)
    wait_idle(page, 400_000)
    _clean(page)
    yield page
    page.context.close()


def test_robustness_report_and_probe_curve_in_the_browser(searched):
    page = searched
    _nav(page, "Robustness", "Robustness and probe size")
    _clean(page)
    area = page.get_by_role("textbox", name="Rewordings (one per line")
    expect(area).to_have_value(re.compile("What color is it"))  # the task's default rewordings
    area.fill("Which color is the shape?")  # one rewording, and the neuron's rows only, to keep it short
    page.get_by_text("Base model rows (slower)", exact=True).click()
    box = page.get_by_label("Test examples scored (0 = all)", exact=True)
    box.fill("8")
    box.press("Tab")  # inside the form: the value is sent with the submit button
    page.get_by_role("button", name="Run the robustness report").click()
    page.locator(CHART).first.wait_for(timeout=300_000)
    wait_idle(page, 300_000)
    _clean(page)
    # the verdict on the grounding controls: flagged (warning) or not (success), never neither
    verdict = page.locator('[data-testid="stAlertContentWarning"], [data-testid="stAlertContentSuccess"]')
    expect(verdict.first).to_contain_text("answers from the question, not the image" if
                                          page.locator('[data-testid="stAlertContentWarning"]').count()
                                          else "No grounding control is flagged")
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1)  # the conditions table
    page.get_by_role("button", name="Compute the probe-size curve").click()
    wait_idle(page)
    expect(page.locator(CHART)).to_have_count(2)  # conditions, probe-size curve
    _clean(page)
    shot(page, "8-robustness")


def test_atlas_in_the_browser(searched):
    page = searched
    _nav(page, "Neuron atlas", "Neuron atlas")
    _clean(page)
    expect(page.locator(CHART)).to_have_count(1)  # the task x layer heatmap
    m = page.locator('[data-testid="stMetric"]').filter(has_text="Tasks").first
    assert int(m.locator('[data-testid="stMetricValue"]').inner_text().strip()) >= 1
    _clean(page)
    shot(page, "9-atlas")
