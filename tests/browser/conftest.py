"""Browser tests: the app served on a local port, driven by headless Chromium.

Chromium comes from Debian (/usr/bin/chromium); without it these tests skip
locally, and fail under CI=true, so CI never passes without running them.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import IN_CI, make_app, wipe

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "screenshots"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def _chromium() -> str:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


class LiveServer:
    def __init__(self, app) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_app(_migrated: None):
    app = make_app(WTF_CSRF_ENABLED=True, MAIL_BACKEND="memory")
    yield app
    wipe(app)


@pytest.fixture
def server(live_app) -> Iterator[LiveServer]:
    with LiveServer(live_app) as live:
        yield live


@pytest.fixture(scope="session")
def _playwright(_chromium: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def browser(_playwright, _chromium: str):
    """A fresh browser per test: one test's crash or dialog cannot spoil the next."""
    instance = _playwright.chromium.launch(executable_path=_chromium, args=ARGS, headless=True)
    yield instance
    if instance.is_connected():
        instance.close()


def new_page(browser):
    """A page in a context of its own (a second person), collecting JavaScript errors in
    ``page.js_errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    return pg


@pytest.fixture
def page(browser):
    pg = new_page(browser)
    yield pg
    if browser.is_connected():
        try:
            pg.context.close()
        except Exception:  # the page may have been closed by the test itself
            pass
    assert pg.js_errors == [], f"JavaScript errors: {pg.js_errors}"


def shot(page, name: str) -> None:
    """Keep a full-page screenshot for people to look at (screenshots/ is not committed)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def login(page, server: LiveServer, email: str, password: str) -> None:
    page.goto(server.url + "/inloggen")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label(re.compile(r"^Wachtwoord")).fill(password)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(server.url + "/start")
