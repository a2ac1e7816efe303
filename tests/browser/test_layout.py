"""Layout at phone and desktop widths: no page scrolls sideways at 375 px, the header's
menu collapses behind a disclosure button on phones, and is one row at 1280 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from stappenplan import demo
from tests.browser.conftest import login, shot
from tests.browser.test_accessibility import _ids

#: The main pages of each role ({step4} etc. are the demo's partnerships, see ``_ids``).
MAIN_PAGES = {
    "library": ("bibliotheek@demo.stappenplan.nl", [
        "/start", "/samenwerkingen/{step7}", "/samenwerkingen/{step4}", "/samenwerkingen/{step4}/stap/4/samen",
        "/samenwerkingen/{step7}/stap/5/samen", "/samenwerkingen/{step7}/stap/7/samen",
        "/samenwerkingen/{own}/stap/1/bibliotheek", "/samenwerkingen/{step7}/plan",
        "/samenwerkingen/uitnodigen", "/uitnodigingen", "/organisatie/leden",
        "/organisatie/regio", "/organisatie/logboek", "/organisatie/gegevens", "/meldingen", "/account",
        "/account/meldingen",
    ]),
    "childcare": ("opvang@demo.stappenplan.nl", [
        "/start", "/samenwerkingen/{own}", "/samenwerkingen/{own}/stap/2/kinderopvang",
        "/samenwerkingen/uitnodigen", "/uitnodigingen", "/organisatie/leden", "/meldingen", "/account",
    ]),
    "childcare_step4": ("kabouterhuis@demo.stappenplan.nl", [
        "/samenwerkingen/{step4}", "/samenwerkingen/{step4}/stap/4/samen",
    ]),
    "coordinator": ("coordinator@demo.stappenplan.nl", [
        "/start", "/regio", "/regio?stil=1", "/samenwerkingen/{step7}", "/samenwerkingen/{step7}/stap/7/samen",
        "/samenwerkingen/{step7}/plan", "/samenwerkingen/{cycle2}", "/organisatie/leden", "/meldingen", "/account",
    ]),
}

SIDEWAYS = "document.documentElement.scrollWidth - window.innerWidth"
#: For the failure message: the innermost elements that stick out on the right.
CULPRITS = """() => [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5
                  && ![...el.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 0.5))
    .slice(0, 4).map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`
                         + `:${Math.round(el.getBoundingClientRect().right)}`)"""


@pytest.mark.parametrize("role", list(MAIN_PAGES))
def test_no_main_page_scrolls_sideways_at_375(server, page: Page, role: str) -> None:
    ids = _ids(server)
    page.set_viewport_size({"width": 375, "height": 800})
    email, paths = MAIN_PAGES[role]
    login(page, server, email, demo.PASSWORD)
    if role == "coordinator":
        page.goto(server.url + "/regio")
        branch = page.locator('a[href*="/regio/vestiging/"]').first.get_attribute("href")
        paths = [*paths, branch]
    too_wide = {}
    for path in paths:
        response = page.goto(server.url + path.format(**ids))
        assert response is not None and response.status < 400, f"{path}: {response.status if response else None}"
        # Folded parts count too (the step-4 comparison, "Doel en voor wie"): open them all.
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        extra = page.evaluate(SIDEWAYS)
        if extra > 0:
            too_wide[path] = (extra, page.evaluate(CULPRITS))
    assert too_wide == {}, f"pages wider than the 375 px screen (extra px): {too_wide}"


@pytest.mark.parametrize("email", ["bibliotheek@demo.stappenplan.nl", "opvang@demo.stappenplan.nl",
                                   "coordinator@demo.stappenplan.nl", "taalhuis@demo.stappenplan.nl"])
def test_header_is_one_row_at_1280(server, page: Page, email: str) -> None:
    _ids(server)
    login(page, server, email, demo.PASSWORD)
    page.goto(server.url + "/meldingen")
    rows = page.evaluate("""() => {
        const items = [document.querySelector('.brand'), ...document.querySelectorAll('.main-nav li'),
                       document.querySelector('.user-menu')];
        return items.map(el => { const r = el.getBoundingClientRect(); return [r.top, r.bottom]; });
    }""")
    middles = [(top + bottom) / 2 for top, bottom in rows]
    assert max(middles) - min(middles) < 8, f"header items are not on one row: {rows}"
    assert page.locator(".menu-toggle").is_hidden()
    assert page.evaluate(SIDEWAYS) <= 0


def test_phone_menu_collapses_and_opens_with_the_keyboard(server, page: Page) -> None:
    _ids(server)
    page.set_viewport_size({"width": 375, "height": 800})
    login(page, server, "bibliotheek@demo.stappenplan.nl", demo.PASSWORD)
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    colleagues = page.get_by_role("link", name="Collega's")
    expect(colleagues).to_be_hidden()
    header_height = page.evaluate("document.querySelector('.site-header').getBoundingClientRect().height")
    assert header_height < 90, f"the closed menu still takes {header_height}px"
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(colleagues).to_be_visible()
    shot(page, "menu-open-375")
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(colleagues).to_be_hidden()
    assert page.evaluate("document.activeElement.classList.contains('menu-toggle')")
    page.keyboard.press("Space")
    expect(colleagues).to_be_visible()
    colleagues.click()
    page.wait_for_url(server.url + "/organisatie/leden")


def test_phone_menu_without_javascript_shows_the_links(browser, server) -> None:
    _ids(server)
    context = browser.new_context(viewport={"width": 375, "height": 800}, java_script_enabled=False,
                                  locale="nl-NL")
    page = context.new_page()
    try:
        login(page, server, "bibliotheek@demo.stappenplan.nl", demo.PASSWORD)
        expect(page.get_by_role("link", name="Collega's")).to_be_visible()
        expect(page.locator(".menu-toggle")).to_be_hidden()
    finally:
        context.close()


def test_a_table_wider_than_a_phone_shows_that_it_scrolls(server, page: Page) -> None:
    """On a phone the colleagues' table is wider than its box: it scrolls inside the box,
    and the box draws a shadow on the side with more columns (covers that scroll with the
    content, shadows that stay with the box)."""
    _ids(server)  # the demo's data
    page.set_viewport_size({"width": 375, "height": 800})
    login(page, server, "bibliotheek@demo.stappenplan.nl", demo.PASSWORD)
    page.goto(server.url + "/organisatie/leden")
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
    style = wrap.evaluate("el => { const s = getComputedStyle(el); "
                          "return [s.backgroundImage, s.backgroundAttachment]; }")
    assert style[0].count("radial-gradient") == 2 and style[0].count("linear-gradient") == 2
    assert style[1].replace(" ", "").startswith("local,local,scroll,scroll")
    assert page.evaluate(SIDEWAYS) <= 0


def test_step_4s_comparison_stacks_on_a_phone_and_stays_a_table(server, page: Page) -> None:
    """At 375 px the comparison of steps 1-3 does not scroll sideways: per question the
    library's and the childcare's answer stand under each other, each labelled; screen
    readers still get a table with its column headers and cells."""
    ids = _ids(server)
    page.set_viewport_size({"width": 375, "height": 800})
    login(page, server, "kabouterhuis@demo.stappenplan.nl", demo.PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{ids['step4']}/stap/4/samen")
    compare = page.locator("#compare")
    wrap = compare.locator(".table-wrap").first
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth")
    childcare = compare.locator("td[data-label]").nth(1)
    box = childcare.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert childcare.evaluate("el => getComputedStyle(el, '::before').content").startswith('"Kinderopvang"')
    table = compare.get_by_role("table").first
    expect(table.get_by_role("columnheader", name="Kinderopvang")).to_have_count(1)
    assert table.get_by_role("cell").count() >= 2 and table.get_by_role("rowheader").count() >= 1
    # At desktop width it is the side-by-side table.
    page.set_viewport_size({"width": 1280, "height": 900})
    assert childcare.evaluate("el => getComputedStyle(el).display") == "table-cell"


def test_a_choice_whose_label_wraps_keeps_its_text_beside_the_button(server, page: Page) -> None:
    """A radio or checkbox of a form: a long label wraps beside the button, not under it
    (``.field label`` made the label a block once)."""
    with server.app.app_context():
        demo.seed()
    page.set_viewport_size({"width": 375, "height": 800})
    login(page, server, "bibliotheek@demo.stappenplan.nl", demo.PASSWORD)
    page.goto(server.url + "/samenwerkingen/uitnodigen")
    geometry = page.evaluate("""() => [...document.querySelectorAll('.field .choice')].map(label => {
        const input = label.querySelector('input').getBoundingClientRect();
        const text = label.querySelector('span').getBoundingClientRect();
        return {lines: Math.round(text.height / parseFloat(getComputedStyle(label).lineHeight)),
                besides: text.left >= input.right};
    })""")
    assert any(g["lines"] > 1 for g in geometry), geometry  # at least one label wraps at 375 px
    assert all(g["besides"] for g in geometry), geometry


def test_a_box_that_scrolls_sideways_takes_the_keyboard_focus_and_has_a_name(server, page: Page) -> None:
    """On a phone the coordinator's tables scroll inside their boxes; each such box can be
    reached with Tab (arrow keys then scroll it) and says which table it holds. Boxes that
    fit get no extra tab stop."""
    _ids(server)
    page.set_viewport_size({"width": 375, "height": 800})
    login(page, server, "coordinator@demo.stappenplan.nl", demo.PASSWORD)
    page.goto(server.url + "/regio")
    boxes = page.evaluate("""() => [...document.querySelectorAll('.table-wrap, .plan-table-wrap')].map(el => ({
        scrolls: el.scrollWidth > el.clientWidth + 1, tabindex: el.getAttribute('tabindex'),
        role: el.getAttribute('role'),
        name: el.getAttribute('aria-label') || (el.getAttribute('aria-labelledby') &&
              document.getElementById(el.getAttribute('aria-labelledby').split(' ')[0])?.textContent.trim())}))""")
    scrolling = [b for b in boxes if b["scrolls"]]
    assert len(scrolling) >= 2, boxes  # the step and branch tables and the matrix do not fit 375 px
    assert all(b["tabindex"] == "0" and b["role"] == "region" and b["name"] for b in scrolling), scrolling
    # Wide again: the boxes fit, and the tab stops the script added are gone.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.wait_for_timeout(400)
    marked = page.evaluate("() => document.querySelectorAll('[data-scroll-marked]').length")
    fitting = page.evaluate("() => [...document.querySelectorAll('[data-scroll-marked]')]"
                            ".filter(el => el.scrollWidth <= el.clientWidth + 1).length")
    assert fitting == 0, marked


def test_a_rows_main_text_gets_the_whole_width(server, page: Page) -> None:
    """Step 7's "Actie" holds a sentence: its field is as wide as the row, not a fifth of it."""
    ids = _ids(server)
    login(page, server, "bibliotheek@demo.stappenplan.nl", demo.PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{ids['step7']}/stap/7/samen")
    card = page.locator(".row-card").first
    action = card.locator(".cell").first.locator("input[type=text]")
    card_box, action_box = card.bounding_box(), action.bounding_box()
    assert card_box and action_box and action_box["width"] > 0.8 * card_box["width"], (action_box, card_box)
    shot(page, "step7-rows")
