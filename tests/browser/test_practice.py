"""Practice in two browsers: after steps 6 and 7 are agreed, the childcare organisation
marks an activity held with 7 parents and the library ticks an action done. Neither step
is reopened, both approvals stay, each sees the other's change without reloading (past
the feed's interval), and the coordinator's figures move by exactly 1 activity and 7
parents, counted by hand in the database."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from stappenplan.extensions import db, local_today
from stappenplan.practice.models import PracticeRecord
from stappenplan.workflow.models import SignOff, StepInstance
from tests.browser.conftest import login, new_page, shot
from tests.factories import PASSWORD, build_world
from tests.factories import driver as partner_driver

FEED = 3500  # ms: past the practice page's feed interval (3 s)


def _approvals(server) -> list[tuple[int, str, str]]:
    with server.app.app_context():
        return sorted(db.session.execute(
            select(StepInstance.step, StepInstance.status, SignOff.party)
            .join(SignOff, SignOff.step_instance_id == StepInstance.id)
            .where(StepInstance.slot == "joint", StepInstance.step.in_((6, 7)))).all())


def _held(server) -> tuple[int, int]:
    """By hand: activities marked held this year, and their parents."""
    with server.app.app_context():
        count, parents = db.session.execute(select(func.count(), func.sum(PracticeRecord.parents)).where(
            PracticeRecord.kind == "activity", PracticeRecord.status == "held",
            func.extract("year", PracticeRecord.date) == local_today().year)).one()
        return count, parents or 0


def _figure(page: Page, label: str) -> str:
    return page.locator(f"#h-year ~ dl dt:text-is('{label}') + dd").first.inner_text().strip()


def test_two_partners_keep_practice_and_the_coordinator_counts_it_once(server, browser, page: Page) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        partner_driver(world).through(7)
    practice_url = f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/praktijk"
    approvals = _approvals(server)
    assert {(step, status) for step, status, _party in approvals} == {(6, "completed"), (7, "completed")}

    coordinator = new_page(browser)
    login(coordinator, server, world.emails["coord_a"], PASSWORD)
    coordinator.goto(f"{server.url}/regio/resultaten")
    before_activities = int(_figure(coordinator, "Activiteiten gehouden"))
    before_parents = int(_figure(coordinator, "Ouders bereikt"))
    assert (before_activities, before_parents) == _held(server)

    login(page, server, world.emails["cc_a"], PASSWORD)
    library = new_page(browser)
    login(library, server, world.emails["lib_a"], PASSWORD)
    page.goto(practice_url)
    library.goto(practice_url)

    # Childcare: "Liedjesmiddag" took place today, with 7 parents.
    card = page.locator("article[data-practice-card]", has_text="Liedjesmiddag")
    card.get_by_label("Geweest", exact=True).check()
    card.get_by_label("Datum").fill(local_today().isoformat())
    card.get_by_label("Aantal ouders").fill("7")
    card.get_by_label("Wat werkte, en wat niet?").fill("Vaders kwamen ook.")
    card.get_by_role("button", name="Opslaan").click()
    expect(page.locator("#live-polite")).to_have_text("Opgeslagen: Liedjesmiddag.")
    expect(page.locator("article[data-practice-card]", has_text="Liedjesmiddag").get_by_role(
        "button", name="Opslaan")).to_be_focused()

    # Library: the action "Ouderbetrokkenheid ..." is done.
    action = library.locator("article[data-practice-card]", has_text="Ouderbetrokkenheid")
    action.get_by_label("Stand van zaken").select_option("done")
    action.get_by_role("button", name="Opslaan").click()
    expect(library.locator("#live-polite")).to_contain_text("Opgeslagen: Ouderbetrokkenheid")

    # Each sees the other's change without a reload, past the feed's interval.
    library.wait_for_timeout(FEED)
    held = library.locator("article[data-practice-card]", has_text="Liedjesmiddag")
    expect(held.get_by_label("Aantal ouders")).to_have_value("7", timeout=6000)
    expect(held.get_by_label("Geweest", exact=True)).to_be_checked()
    expect(library.locator("#live-polite")).to_contain_text("bijgewerkt")
    expect(page.locator("article[data-practice-card]", has_text="Ouderbetrokkenheid").get_by_label(
        "Stand van zaken")).to_have_value("done", timeout=6000)
    expect(page.locator("#praktijk-overzicht")).to_contain_text("1 van 2")
    shot(library, "practice-library")

    # No step reopened, no approval touched.
    assert _approvals(server) == approvals

    coordinator.goto(f"{server.url}/regio/resultaten")
    after_activities = int(_figure(coordinator, "Activiteiten gehouden"))
    after_parents = int(_figure(coordinator, "Ouders bereikt"))
    assert (after_activities - before_activities, after_parents - before_parents) == (1, 7)
    assert (after_activities, after_parents) == _held(server)
    shot(coordinator, "practice-coordinator-results")
    coordinator.goto(practice_url)
    expect(coordinator.locator(".badge", has_text="Alleen lezen")).to_be_visible()
    assert coordinator.locator("form.practice-form").count() == 0
    shot(coordinator, "practice-coordinator")
    for other in (library, coordinator):
        assert other.js_errors == []


def test_typing_in_a_card_is_not_overwritten_by_the_partners_change(server, browser, page: Page) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        partner_driver(world).through(7)
    url = f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/praktijk"
    login(page, server, world.emails["cc_a"], PASSWORD)
    library = new_page(browser)
    login(library, server, world.emails["lib_a"], PASSWORD)
    page.goto(url)
    library.goto(url)
    mine = library.locator("article[data-practice-card]", has_text="Liedjesmiddag")
    mine.get_by_label("Aantal kinderen").fill("11")  # typing, not saved yet
    theirs = page.locator("article[data-practice-card]", has_text="Liedjesmiddag")
    theirs.get_by_label("Aantal ouders").fill("5")
    theirs.get_by_role("button", name="Opslaan").click()
    expect(page.locator("#live-polite")).to_have_text("Opgeslagen: Liedjesmiddag.")
    library.wait_for_timeout(FEED)
    expect(mine.get_by_label("Aantal kinderen")).to_have_value("11")  # kept
    expect(mine.locator(".practice-card__stale")).to_contain_text("Je partner heeft dit intussen gewijzigd")
    mine.get_by_role("button", name="Opslaan").click()  # merged: their parents, my children
    expect(library.locator("#live-polite")).to_have_text("Opgeslagen: Liedjesmiddag.")
    with server.app.app_context():
        record = db.session.scalar(select(PracticeRecord).where(PracticeRecord.title == "Liedjesmiddag"))
        assert (record.parents, record.children) == (5, 11)
