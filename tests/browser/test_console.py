"""The browser's console stays clean on every main page, also after htmx swaps: the
Content-Security-Policy (``style-src 'self'``, ``script-src 'self'``) forbids inline styles
and scripts, and a violation is only ever reported there. No screenshots here: taking one
makes Chromium log style messages of its own."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from stappenplan import demo
from tests.browser.conftest import login
from tests.browser.test_accessibility import _ids

#: Per role: the main pages, and a worksheet field to type into (a save swaps its status).
ROLES = {
    "library": ("bibliotheek@demo.stappenplan.nl", [
        "/start", "/samenwerkingen/{step7}", "/samenwerkingen/{step7}/stap/7/samen", "/samenwerkingen/{step7}/plan",
        "/samenwerkingen/{step7}/praktijk", "/meldingen", "/organisatie/leden", "/uitnodigingen",
        "/samenwerkingen/uitnodigen", "/organisatie/regio", "/account",
    ], "/samenwerkingen/{step4}/stap/4/samen"),
    "childcare": ("kabouterhuis@demo.stappenplan.nl", [
        "/start", "/samenwerkingen/{step4}", "/meldingen", "/organisatie/leden", "/uitnodigingen", "/account",
    ], "/samenwerkingen/{step4}/stap/4/samen"),
    "coordinator": ("coordinator@demo.stappenplan.nl", [
        "/start", "/regio", "/regio/resultaten", "/samenwerkingen/{step7}", "/samenwerkingen/{step7}/stap/7/samen",
        "/samenwerkingen/{step7}/plan", "/meldingen", "/organisatie/leden", "/account",
    ], None),
}


def _watch(page: Page) -> list[str]:
    """Every error the console shows (CSP violations are errors) and every uncaught exception."""
    seen: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            seen.append(f"{page.url}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda exc: seen.append(f"{page.url}: {exc}"))
    return seen


@pytest.mark.parametrize("role", list(ROLES))
def test_main_pages_log_nothing_to_the_console(server, page: Page, role: str) -> None:
    ids = _ids(server)
    seen = _watch(page)
    page.goto(server.url + "/inloggen")
    email, paths, sheet = ROLES[role]
    login(page, server, email, demo.PASSWORD)
    for path in paths:
        response = page.goto(server.url + path.format(**ids))
        assert response is not None and response.status < 400, f"{path}: {response.status if response else None}"
        page.wait_for_load_state("networkidle")
    if sheet:
        page.goto(server.url + sheet.format(**ids))
        field = page.locator("#input-consultation")
        field.fill("Elke maand, op woensdag na de voorleesochtend.")
        field.blur()
        expect(page.locator("#status-consultation")).to_contain_text("Opgeslagen om", timeout=5000)
        # A swap from the server: the comments of a question open in place.
        page.wait_for_load_state("networkidle")
    if role == "coordinator":
        # The region overview's filters swap the matrix with htmx.
        page.goto(server.url + "/regio")
        with page.expect_response(lambda r: "/regio?" in r.url and r.request.headers.get("hx-request") == "true"):
            page.locator("#f-step").select_option("1")
        page.wait_for_load_state("networkidle")
    # The logged-out pages too, in both languages.
    page.context.clear_cookies()
    page.goto(server.url + "/inloggen")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="Nederlands")).to_be_visible()
    assert seen == []
