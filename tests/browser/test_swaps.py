"""After every htmx swap the focus is where it should be and the result is said.

One rule (ARCHITECTURE.md, "After an htmx swap"): the element that had the focus, or its
named successor, has it after the swap; what the action did is announced through the
layout's live regions (#live-polite, #live-assertive), which exist before the swap. After
each action axe-core runs with every rule, best practices included, and finds nothing.
"""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from stappenplan.partnerships.invitations import PartnerEntry, invite_partners
from tests.browser.conftest import login, new_page
from tests.factories import PASSWORD, age_invitations, build_world
from tests.factories import driver as partner_driver

AXE = Axe()


def violations(page: Page) -> list[str]:
    """Every axe violation (any impact), WCAG 2.1 A/AA and best practices."""
    results = AXE.run(page, options={"runOnly": {"type": "tag", "values": [
        "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]]


def _focused_id(page: Page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_step_buttons_keep_the_focus_and_say_what_happened(server, page: Page) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        partner_driver(world).own_steps(3, 3)
    url = f"{server.url}/samenwerkingen/{world.ids['partnership_a']}"
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(url)

    # Approve step 4 with nothing filled in: refused; the focus stays on the button, the
    # refusal is said at once, and the missing questions are links to them.
    button = page.locator("#actie-4-joint-sign_off")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#live-assertive")).to_contain_text("Nog niet ingevuld:", timeout=5000)
    expect(page.locator("#live-assertive")).to_contain_text("Wat zijn onze gezamenlijke doelen?")
    expect(page.locator("#actie-4-joint-sign_off")).to_be_focused()
    link = page.locator("#outcome a", has_text="Wat zijn onze gezamenlijke doelen?")
    assert re.search(r"/stap/4/samen#vraag-shared_goals$", link.get_attribute("href") or "")
    assert violations(page) == []

    with server.app.app_context():
        partner_driver(world).fill_joint(4)
    page.goto(url)
    page.locator("#actie-4-joint-sign_off").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#live-polite")).to_contain_text("Je hebt stap 4 goedgekeurd", timeout=5000)
    expect(page.locator("#stap-4-titel")).to_be_focused()  # the button is gone: its step's heading
    assert violations(page) == []

    # Reopen step 3 (a reason is asked first).
    page.locator("#stap-3 summary", has_text="Heropenen").click()
    page.locator("#reason-3-library").fill("We willen een ambitie toevoegen.")
    page.locator("#actie-3-library-reopen").click()
    expect(page.locator("#live-polite")).to_contain_text("Stap 3 is heropend.", timeout=5000)
    expect(page.locator("#stap-3-titel")).to_be_focused()
    assert violations(page) == []

    # Complete it again (it asks first: the partner sees the answers afterwards).
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#actie-3-library-complete").click()
    expect(page.locator("#live-polite")).to_contain_text("Stap 3 is afgerond", timeout=5000)
    expect(page.locator("#stap-3-titel")).to_be_focused()
    assert violations(page) == []


def test_invitation_buttons_keep_the_focus_and_say_what_happened(server, page: Page) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        actor = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        [inv] = invite_partners(actor, [PartnerEntry("nieuw@opvang.nl", "Opvang Nieuw")], 2)
        public_id = inv.public_id
        db.session.commit()
    age_invitations(server.app)  # a resend waits an hour after the last mail
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(f"{server.url}/uitnodigingen")
    page.locator(f"#inv-{public_id}-opnieuw").click()
    expect(page.locator("#live-polite")).to_contain_text("Uitnodiging opnieuw verstuurd naar nieuw@opvang.nl",
                                                         timeout=5000)
    expect(page.locator(f"#inv-{public_id}-opnieuw")).to_be_focused()
    assert violations(page) == []
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#inv-{public_id}", has_text="Intrekken").get_by_role("button", name="Intrekken").click()
    expect(page.locator("#live-polite")).to_contain_text("Uitnodiging voor nieuw@opvang.nl ingetrokken.",
                                                         timeout=5000)
    expect(page.locator(f"#inv-{public_id}-staat")).to_be_focused()
    expect(page.locator(f"#inv-{public_id}-staat")).to_contain_text("Ingetrokken")
    assert violations(page) == []


def _worksheet(server, page: Page, step: int = 4):
    world = build_world(server.app)
    with server.app.app_context():
        partner_driver(world).own_steps(3, 3)
    login(page, server, world.emails["lib_a"], PASSWORD)
    url = f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/{step}/samen"
    page.goto(url)
    return world, url


def test_worksheet_swaps_keep_the_focus_and_say_what_happened(server, page: Page) -> None:
    _world, _url = _worksheet(server, page)
    # Rows: add one, then remove it.
    field = page.locator("#field-shared_goals")
    field.get_by_role("button", name="Rij toevoegen").click()
    expect(page.locator("#live-polite")).to_have_text("Rij toegevoegd.", timeout=5000)
    page.wait_for_function("document.activeElement && document.activeElement.matches('#field-shared_goals "
                           "[id^=row-shared_goals-] input:not([type=hidden]), #field-shared_goals textarea')")
    page.keyboard.type("Meer ouders lezen voor")
    page.keyboard.press("Tab")
    expect(page.locator("#status-shared_goals")).to_contain_text("Opgeslagen", timeout=5000)
    assert violations(page) == []
    page.once("dialog", lambda dialog: dialog.accept())
    field.locator("[id^=row-shared_goals-]").last.get_by_role("button", name=re.compile("^Verwijderen")).click()
    expect(page.locator("#live-polite")).to_have_text("Rij verwijderd.", timeout=5000)
    focused = page.evaluate("document.activeElement && document.activeElement.closest('#field-shared_goals') !== null")
    assert focused, "the focus stays in the table after a row is removed"
    assert violations(page) == []

    # History: open and close; the focus goes back to the link that opened it.
    page.locator("#input-target_parents").fill("Ouders van peuters die nog niet lezen")
    page.locator("#input-target_parents").press("Tab")
    expect(page.locator("#status-target_parents")).to_contain_text("Opgeslagen", timeout=5000)
    page.locator("#history-open-target_parents").click()
    close = page.locator("#extra-target_parents").get_by_role("button", name=re.compile("^Sluiten"))
    expect(close).to_be_visible(timeout=5000)
    assert violations(page) == []
    close.click()
    expect(page.locator("#history-open-target_parents")).to_be_focused()

    # A comment: the focus back in the box, the result said.
    question = page.locator("#vraag-target_parents")
    question.locator("summary", has_text="Opmerkingen").click()
    box = question.get_by_label("Schrijf een opmerking")
    box.fill("Kunnen we de peuterspeelzaal noemen?")
    question.get_by_role("button", name="Plaatsen").click()
    expect(page.locator("#live-polite")).to_have_text("Je opmerking is geplaatst.", timeout=5000)
    expect(box).to_be_focused()
    assert violations(page) == []


def test_a_conflict_choice_puts_the_focus_back_in_the_field(server, browser, page: Page) -> None:
    world, url = _worksheet(server, page)
    other = new_page(browser)
    login(other, server, world.emails["cc_a"], PASSWORD)
    other.goto(url)
    page.context.set_offline(True)
    page.locator("#input-consultation").fill("Elke maand bellen we.")
    other.locator("#input-consultation").fill("Elke week mailen we.")
    other.locator("#input-consultation").press("Tab")
    expect(other.locator("#status-consultation")).to_contain_text("Opgeslagen", timeout=5000)
    page.context.set_offline(False)
    page.locator("#input-consultation").press("Tab")
    conflict = page.locator("#conflict-consultation .conflict")
    expect(conflict).to_be_visible(timeout=10000)
    assert violations(page) == []
    conflict.get_by_role("button", name="Mijn versie bewaren").click()
    expect(page.locator("#input-consultation")).to_be_focused(timeout=5000)
    expect(page.locator("#status-consultation")).to_contain_text("Opgeslagen", timeout=5000)
    assert violations(page) == []


def test_a_partners_edit_and_comment_are_said_politely_without_moving_the_focus(server, browser, page: Page) -> None:
    world, url = _worksheet(server, page)
    other = new_page(browser)
    login(other, server, world.emails["cc_a"], PASSWORD)
    other.goto(url)
    page.locator("#input-consultation").focus()
    other.locator("#input-target_parents").fill("Ouders die net in Nederland wonen")
    other.locator("#input-target_parents").press("Tab")
    expect(page.locator("#live-polite")).to_contain_text("wijzigde ‘Op welke ouders", timeout=10000)
    expect(page.locator("#input-consultation")).to_be_focused()
    question = other.locator("#vraag-target_parents")
    question.locator("summary", has_text="Opmerkingen").click()
    question.get_by_label("Schrijf een opmerking").fill("Zullen we ook de wijkteams vragen?")
    question.get_by_role("button", name="Plaatsen").click()
    expect(page.locator("#live-polite")).to_contain_text("Nieuwe opmerking bij ‘Op welke ouders", timeout=10000)
    expect(page.locator("#comment-count-target_parents")).to_have_text("1", timeout=5000)
    expect(page.locator("#input-consultation")).to_be_focused()


def test_at_400_percent_zoom_the_focused_field_is_in_view_and_the_bar_small(server, browser) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        partner_driver(world).own_steps(3, 3)
    context = browser.new_context(viewport={"width": 320, "height": 225}, locale="nl-NL")
    page = context.new_page()
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen")
    field = page.locator("#input-consultation")
    field.focus()
    field.type("Elke maand")
    box = field.bounding_box()
    assert box is not None
    assert box["y"] >= -1 and box["y"] + box["height"] <= 226, box  # a sub-pixel of rounding
    bar = page.locator("#sheet-bar").bounding_box()
    visible = 0 if bar is None else max(0, min(bar["y"] + bar["height"], 225) - max(bar["y"], 0))
    assert visible <= 225 / 3, bar
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"the page scrolls sideways: {width} px"
    context.close()


def test_main_pages_have_no_axe_violation_at_all(server, page: Page) -> None:
    """Best practices included (landmark-unique: every scrolling table box has a name of
    its own, also where both organisations answer the same question)."""
    world = build_world(server.app)
    with server.app.app_context():
        partner_driver(world).through(7)
    base = f"{server.url}/samenwerkingen/{world.ids['partnership_a']}"
    problems = {}
    for who in ("lib_a", "coord_a"):
        context_page = page if who == "lib_a" else new_page(page.context.browser)
        login(context_page, server, world.emails[who], PASSWORD)
        for path in ("", "/plan", "/praktijk", "/stap/4/samen", "/stap/7/samen"):
            context_page.goto(base + path)
            found = violations(context_page)
            if found:
                problems[f"{who} {path or '/'}"] = found
    assert problems == {}


def test_a_skip_link_reaches_the_steps_buttons_in_a_few_keys(server, page: Page) -> None:
    _world, url = _worksheet(server, page)
    page.goto(url)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Naar de knoppen van deze stap")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#sheet-bar-actions")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Stap 4 goedkeuren")).to_be_focused()
    partnership = url.rsplit("/stap/", 1)[0]
    page.goto(partnership)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Naar stap 4 en haar knoppen")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#stap-4-titel")).to_be_focused()


def test_completing_an_own_step_with_missing_answers_keeps_the_focus_and_says_why(server, page: Page) -> None:
    world = build_world(server.app)
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{world.ids['partnership_a']}")
    page.locator("#actie-1-library-complete").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#live-assertive")).to_contain_text("Nog niet ingevuld:", timeout=5000)
    expect(page.locator("#actie-1-library-complete")).to_be_focused()
    link = page.locator("#outcome a").first
    assert re.search(r"/stap/1/bibliotheek#vraag-", link.get_attribute("href") or "")
    assert violations(page) == []
