"""WCAG 2.1 AA checks with axe-core on the main pages, per role, and a keyboard-only run."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from stappenplan import demo
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from tests.browser.conftest import login, shot

AXE = Axe()
WIDTHS = (375, 768, 1280)


def serious(page: Page) -> list[str]:
    results = AXE.run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                                          "wcag21aa", "best-practice"]}})
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def _ids(server) -> dict[str, str]:
    with server.app.app_context():
        demo.seed()
        rows = db.session.execute(select(Partnership.public_id, Partnership.childcare_id)).all()
        names = {}
        for pid, _cc in rows:
            p = db.session.scalar(select(Partnership).where(Partnership.public_id == pid))
            names[f"{p.library.name}|{p.childcare.name}"] = pid
    find = lambda needle_lib, needle_cc: next(v for k, v in names.items()  # noqa: E731
                                              if needle_lib in k.split("|")[0] and needle_cc in k.split("|")[1])
    return {"step4": find("Tiel", "Kabouterhuis"), "step7": find("Tiel", "Hummeltje"),
            "own": find("Tiel", "Vlinder"), "cycle2": find("Culemborg", "Zonnestraal"),
            "prepared": find("Culemborg", "Regenboog")}


PAGES = {
    "library": ("bibliotheek@demo.stappenplan.nl", [
        "/start", "/p/{step7}", "/p/{step7}/stap/5/samen", "/p/{step7}/stap/7/samen", "/p/{own}/stap/3/bibliotheek",
        "/p/{step7}/plan", "/organisatie/leden", "/meldingen", "/account", "/p/{own}/stap/4/samen",
    ]),
    "library2": ("culemborg@demo.stappenplan.nl", ["/start", "/p/{prepared}", "/uitnodigingen"]),
    "outside_region": ("zaltbommel@demo.stappenplan.nl", ["/start"]),
    "childcare": ("opvang@demo.stappenplan.nl", [
        "/start", "/p/{own}", "/p/{own}/stap/2/kinderopvang",
    ]),
    "childcare2": ("kabouterhuis@demo.stappenplan.nl", [
        "/p/{step4}", "/p/{step4}/stap/4/samen",
    ]),
    "coordinator": ("coordinator@demo.stappenplan.nl", [
        "/start", "/regio", "/p/{step7}", "/p/{step7}/stap/7/samen", "/p/{step7}/plan", "/regio/resultaten",
        "/regio/jaarverslag",
    ]),
}


@pytest.mark.parametrize("role", list(PAGES))
def test_main_pages_have_no_serious_axe_violations(server, page: Page, role: str) -> None:
    ids = _ids(server)
    page.goto(server.url + "/inloggen")
    assert serious(page) == [], "login page"
    email, paths = PAGES[role]
    login(page, server, email, demo.PASSWORD)
    problems = {}
    for path in paths:
        url = server.url + path.replace("/p/", "/samenwerkingen/").format(**ids)
        response = page.goto(url)
        assert response is not None and response.status < 400, f"{url}: {response.status if response else None}"
        found = serious(page)
        if found:
            problems[path] = found
    assert problems == {}


def test_conflict_view_is_accessible(server, browser, page: Page) -> None:
    ids = _ids(server)
    login(page, server, "bibliotheek@demo.stappenplan.nl", demo.PASSWORD)
    url = f"{server.url}/samenwerkingen/{ids['step4']}/stap/4/samen"
    page.goto(url)
    field = page.locator("#input-target_parents")
    page.context.set_offline(True)  # this edit waits (kept) while the partner saves the same field
    field.fill("Mijn tekst")
    expect(page.locator("#status-target_parents")).to_contain_text("bewaard", timeout=5000)
    other = browser.new_context(locale="nl-NL").new_page()
    login(other, server, "kabouterhuis@demo.stappenplan.nl", demo.PASSWORD)
    other.goto(url)
    theirs = other.locator("#input-target_parents")
    theirs.fill("Andere tekst van de opvang")
    expect(other.locator("#status-target_parents")).to_contain_text("Opgeslagen om", timeout=5000)
    other.context.close()
    page.context.set_offline(False)
    expect(page.locator("#conflict-target_parents .conflict")).to_be_visible(timeout=8000)
    assert serious(page) == []
    # announced: the conflict area is a live region
    assert page.locator("#conflict-target_parents").get_attribute("aria-live") == "assertive"


def _tab_to(page: Page, predicate: str, limit: int = 250) -> None:
    """Press Tab until the focused element matches ``predicate`` (a JS expression on `el`)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({predicate}); }})()"):
            return
    raise AssertionError(f"could not reach {predicate} with the keyboard")


def test_keyboard_only_fill_worksheet_and_sign_off(server, page: Page) -> None:
    ids = _ids(server)
    page.goto(server.url + "/inloggen")
    # log in with the keyboard
    _tab_to(page, "el.id === 'email'")
    page.keyboard.type("kabouterhuis@demo.stappenplan.nl")
    page.keyboard.press("Tab")
    page.keyboard.type(demo.PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/start")
    # the skip link is the first stop
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Naar de inhoud"
    page.goto(f"{server.url}/samenwerkingen/{ids['step4']}/stap/4/samen")
    _tab_to(page, "el.id === 'input-consultation'")
    page.keyboard.press("Control+A")
    page.keyboard.type("Elke maand, op woensdag na de voorleesochtend.")
    page.keyboard.press("Tab")
    expect(page.locator("#status-consultation")).to_contain_text("Opgeslagen om", timeout=5000)
    # a radio group is usable with the arrow keys
    _tab_to(page, "el.name === 'q-agreement'")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#status-agreement")).to_contain_text("Opgeslagen om", timeout=5000)
    # focus is visible: the focused element gets an outline
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.goto(f"{server.url}/samenwerkingen/{ids['step4']}")
    # The edit withdrew the library's sign-off; approve as childcare, keyboard only.
    _tab_to(page, "el.textContent && el.textContent.trim() === 'Stap 4 goedkeuren'")
    page.keyboard.press("Enter")
    expect(page.locator("#timeline .outcome")).to_contain_text("goedgekeurd", timeout=5000)
    shot(page, "keyboard-signed-off")


def test_row_buttons_keep_the_keyboard_in_the_table(server, page: Page) -> None:
    """A row button's answer replaces the whole table. Focus goes to the new row's first
    field after "+ Rij toevoegen", stays on the moved row's button after "Omhoog", and goes
    to the row that took a deleted row's place - not back to the top of the page."""
    ids = _ids(server)
    login(page, server, "kabouterhuis@demo.stappenplan.nl", demo.PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{ids['step4']}/stap/4/samen")
    field = page.locator("#field-responsibilities")
    cards = field.locator("fieldset.row-card:not(.row-card--new)")
    before = cards.count()
    field.get_by_role("button", name="Rij toevoegen").focus()
    page.keyboard.press("Enter")
    expect(cards).to_have_count(before + 1, timeout=5000)
    new_row = cards.nth(before)
    expect(new_row.locator("input, textarea").first).to_be_focused(timeout=5000)
    page.keyboard.type("Boekenkist verversen")
    page.keyboard.press("Tab")
    expect(page.locator("#status-responsibilities")).to_contain_text("Opgeslagen", timeout=5000)
    moved_id = new_row.get_attribute("id")
    cards.nth(before).get_by_role("button", name=re.compile("^Omhoog")).focus()
    page.keyboard.press("Enter")
    expect(cards.nth(before - 1)).to_have_id(moved_id, timeout=5000)
    page.wait_for_function("id => (document.activeElement.closest('fieldset') || {}).id === id"
                           " && document.activeElement.textContent.startsWith('Omhoog')", arg=moved_id, timeout=5000)
    page.once("dialog", lambda dialog: dialog.accept())
    cards.nth(before - 1).get_by_role("button", name=re.compile("^Verwijderen")).focus()
    page.keyboard.press("Enter")
    expect(cards).to_have_count(before, timeout=5000)
    expect(cards.nth(before - 1).locator("input, textarea").first).to_be_focused(timeout=5000)
    shot(page, "row-buttons-focus")


@pytest.mark.parametrize("width", WIDTHS)
def test_screens_at_three_widths(server, page: Page, width: int) -> None:
    ids = _ids(server)
    page.set_viewport_size({"width": width, "height": 900})
    login(page, server, "bibliotheek@demo.stappenplan.nl", demo.PASSWORD)
    for name, path in (("home", "/start"), ("partnership", f"/samenwerkingen/{ids['step7']}"),
                       ("worksheet", f"/samenwerkingen/{ids['step7']}/stap/7/samen")):
        page.goto(server.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{name} scrolls sideways at {width}px ({overflow}px)"
        shot(page, f"{name}-{width}")
    page.context.clear_cookies()
    login(page, server, "coordinator@demo.stappenplan.nl", demo.PASSWORD)
    page.goto(server.url + "/regio")
    shot(page, f"dashboard-{width}")
    assert re.search("regio", page.content(), re.I)
