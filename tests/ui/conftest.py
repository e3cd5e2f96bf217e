"""Browser tests: Debian's Chromium under Playwright against the live API and a real worker."""

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from devtools.processes import ROOT, ApiProcess
from tests.factories import remove_made_since

CHROMIUM = os.environ.get("LRLAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def ui_api(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """The real API, dashboard included, on a free port and this session's test database."""
    if not (ROOT / "ui" / "node_modules" / "uplot" / "dist" / "uPlot.esm.js").is_file():
        pytest.fail("ui/node_modules is missing: run `make install` (npm ci --prefix ui)")
    api = ApiProcess(tmp_path_factory.mktemp("ui-api") / "api.log")
    started = datetime.now(UTC) - timedelta(seconds=1)
    try:
        api.wait_healthy()
        yield api
    finally:
        api.stop()
        remove_made_since(started)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """The Playwright driver, once per session."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, launched once per session (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        message = (
            f"no Chromium at {CHROMIUM}: `apt-get install chromium`, or LRLAB_CHROMIUM=/path "
            "to run the browser tests"
        )
        # Outside CI a laptop without a browser still runs everything else; CI must run them.
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, ui_api: ApiProcess) -> Iterator[Page]:
    """A fresh tab at 1280×800 on the API, its key entered; fails the test on a script error."""
    context = browser.new_context(base_url=ui_api.url, viewport=DESKTOP)
    # The key a user pastes once into the page, kept for the tab (sessionStorage).
    context.add_init_script(f"sessionStorage.setItem('lrlab.apiKey', {json.dumps(ui_api.api_key)})")
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        # The browser logs every 4xx it fetched (a 422 the form shows, the events endpoint's
        # 404 that starts the polling fallback); the page reports those itself.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    tab.on("console", console)
    yield tab
    context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the screenshots go (gitignored); emptied once per session."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def screenshots(page: Page, artifacts: Path, name: str) -> list[Path]:
    """Full-page screenshots at desktop and phone sizes; the viewport is restored after."""
    paths = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(300)  # charts resize on the next animation frame
        path = artifacts / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(DESKTOP)
    return paths
