"""Fixtures for the real-browser tests: a live ``streamlit run app.py`` on 127.0.0.1 (own temporary store) and
Debian's Chromium driven by Playwright. Skipped, with the reason, when /usr/bin/chromium is absent."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXPECT_TIMEOUT_MS = 30_000  # Playwright's expect() polls up to this long (its default, 5 s, is short on 2 busy cores)


@pytest.fixture(autouse=True, scope="session")
def _expect_timeout():
    try:
        from playwright.sync_api import expect
    except ImportError:  # no Playwright: the browser tests skip
        return
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_app(cache: Path, log_path: Path, **env_extra):
    """``streamlit run app.py`` on a free port of 127.0.0.1 with store ``cache`` (and any extra environment);
    yields its base URL once its health check answers; stops it (by its own pid) on exit."""
    port = _free_port()
    log = open(log_path, "w")
    env = dict(os.environ, SN_CACHE_DIR=str(cache), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", **env_extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"streamlit did not answer on {url} within 60 s; see {log.name}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Start the app; yield its base URL; stop it at the end."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run e2e tests")
    with live_app(tmp_path_factory.mktemp("sn_cache_e2e"), tmp_path_factory.mktemp("logs") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run e2e tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def new_page(browser, timeout_ms: float):
    """A page in a fresh browser context (its own cookies, hence its own Streamlit session), 1400 x 1000;
    close it with ``page.context.close()``."""
    pg = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    pg.set_default_timeout(timeout_ms)
    return pg


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until the script run finished (Streamlit marks the app element)."""
    page.wait_for_timeout(300)  # let a just-triggered rerun start
    page.wait_for_selector(IDLE, timeout=timeout)


def shot(page, name: str) -> Path:
    """Screenshot of the whole page into test-artifacts/. Streamlit scrolls inside its main container, not the
    document, so the viewport is grown to the content's height for the shot and then restored."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]');
                                      return m ? m.scrollHeight : document.body.scrollHeight; }""")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 40, 8000))})
    page.wait_for_timeout(800)  # charts re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path
