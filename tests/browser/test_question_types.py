"""Every question type in a real browser: fill, reload, still shown; change one option and
the others stay; the partner sees it through the change feed; round 2 shows what it
carried over as chosen."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from stappenplan.extensions import db
from stappenplan.workflow.engine import Action
from stappenplan.workflow.models import StepInstance
from stappenplan.worksheets.models import Answer
from tests.browser.conftest import login, shot
from tests.factories import PASSWORD, build_world
from tests.factories import driver as partner_driver

FEED = 4500  # ms: longer than the change feed's interval plus a request


def _world(server, through: int | None = None, own: tuple[int, int] | None = None):
    world = build_world(server.app)
    with server.app.app_context():
        driver = partner_driver(world)
        if own:
            driver.own_steps(*own)
        if through:
            driver.through(through)
    return world


def _url(server, world, step: int, slot: str) -> str:
    return f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/{step}/{slot}"


def _stored(server, key: str, step: int | None = None, slot: str | None = None):
    """The newest answer to ``key`` (of one step and slot: both parties answer steps 1-3)."""
    with server.app.app_context():
        stmt = select(Answer.value).join(StepInstance, StepInstance.id == Answer.step_instance_id)
        stmt = stmt.where(Answer.question == key)
        if step is not None:
            stmt = stmt.where(StepInstance.step == step)
        if slot is not None:
            stmt = stmt.where(StepInstance.slot == slot)
        return db.session.scalars(stmt.order_by(Answer.id.desc())).first()


def _saved(page: Page, key: str) -> None:
    expect(page.locator(f"#status-{key}")).to_contain_text("Opgeslagen", timeout=5000)


def _partner(browser, server, email: str) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
    other = context.new_page()
    login(other, server, email, PASSWORD)
    return other


def test_multi_scale_check_and_table_are_shown_as_saved_after_reload(server, page) -> None:
    world = _world(server)
    login(page, server, world.emails["lib_a"], PASSWORD)
    # Step 1: several aims (multi) and a score with a remark (scale).
    url1 = _url(server, world, 1, "bibliotheek")
    page.goto(url1)

    def aim(key: str):
        return page.locator(f'input[name="q-aims"][value="{key}"]')

    aim("language_development").check()
    _saved(page, "aims")
    aim("trust").check()
    _saved(page, "aims")
    page.locator('input[name="q-support"][value="4"]').check()
    _saved(page, "support")
    remark = page.locator("#q-support--remark")
    remark.fill("Het team staat erachter")
    remark.press("Tab")  # only a remark: the score must stay
    expect(page.locator("#status-support")).to_contain_text("Opgeslagen om", timeout=5000)
    page.wait_for_timeout(FEED)  # the change feed runs: nothing may be unticked
    expect(aim("trust")).to_be_checked()
    page.reload()
    expect(aim("language_development")).to_be_checked()
    expect(aim("trust")).to_be_checked()
    expect(aim("home_environment")).not_to_be_checked()
    expect(page.locator('input[name="q-support"][value="4"]')).to_be_checked()
    expect(remark).to_have_value("Het team staat erachter")
    # A third aim: the first two stay.
    aim("home_environment").check()
    _saved(page, "aims")
    assert _stored(server, "aims", 1, "library") == ["language_development", "home_environment", "trust"]
    assert _stored(server, "support", 1, "library") == {"value": 4, "remark": "Het team staat erachter"}
    page.reload()
    for key in ("language_development", "home_environment", "trust"):
        expect(aim(key)).to_be_checked()
    shot(page, "question-types-step1")

    # Complete step 1 from the worksheet's own bar, then step 2: yes/no/partly and a table with a number.
    bar = page.locator("#sheet-bar")
    bar.locator("summary").click()
    bar.get_by_role("link", name="Waarom wil je (meer) met ouders samenwerken?").click()
    expect(page.locator("#input-why")).to_be_focused()  # the bar's link puts the cursor in the question
    page.locator("#input-why").fill("Omdat ouders de eerste opvoeders zijn.")
    _saved(page, "why")
    expect(bar).to_contain_text("2 van 2 verplichte vragen ingevuld", timeout=FEED)
    bar.get_by_role("button", name="Stap 1 afronden").click()
    expect(page.locator(".flash")).to_contain_text("Stap 1 is afgerond")
    page.goto(_url(server, world, 2, "bibliotheek"))
    page.locator('input[name="q-in_policy"][value="deels"]').check()
    _saved(page, "in_policy")
    page.locator("#field-current_activities").get_by_role("button", name="Rij toevoegen").click()
    row = page.locator("#field-current_activities fieldset.row-card:not(.row-card--new)").first
    expect(row).to_be_visible(timeout=5000)
    row.get_by_label("Activiteit (verplicht)").fill("Voorleesochtend")
    row.get_by_label("Activiteit (verplicht)").press("Tab")
    _saved(page, "current_activities")
    number = row.locator("input[inputmode=decimal]")
    number.fill("12,5")
    number.press("Tab")
    expect(page.locator("#status-current_activities")).to_contain_text("Opgeslagen om", timeout=5000)
    page.reload()
    expect(page.locator('input[name="q-in_policy"][value="deels"]')).to_be_checked()
    row = page.locator("#field-current_activities fieldset.row-card:not(.row-card--new)").first
    expect(row.get_by_label("Activiteit (verplicht)")).to_have_value("Voorleesochtend")
    expect(row.locator("input[inputmode=decimal]")).to_have_value("12,5")
    assert _stored(server, "current_activities")[0]["cells"] == {"activity": "Voorleesochtend",
                                                                  "parents_reached": 12.5}


def test_partner_sees_choices_through_the_change_feed(server, browser, page) -> None:
    world = _world(server, own=(3, 3))
    url = _url(server, world, 4, "samen")
    login(page, server, world.emails["lib_a"], PASSWORD)
    other = _partner(browser, server, world.emails["cc_a"])
    page.goto(url)
    other.goto(url)
    page.locator('input[name="q-consultation_frequency"][value="monthly"]').check()
    _saved(page, "consultation_frequency")
    page.locator('input[name="q-agreement"][value="ja"]').check()
    _saved(page, "agreement")
    page.locator("#input-agreement_date").fill("2027-03-01")
    _saved(page, "agreement_date")
    page.locator("body").click()
    expect(other.locator('input[name="q-consultation_frequency"][value="monthly"]')).to_be_checked(timeout=FEED)
    expect(other.locator('input[name="q-agreement"][value="ja"]')).to_be_checked(timeout=FEED)
    expect(other.locator("#input-agreement_date")).to_have_value("2027-03-01", timeout=FEED)
    # The partner changes one option; the library sees it, and the other answers stay.
    other.locator('input[name="q-agreement"][value="deels"]').check()
    _saved(other, "agreement")
    expect(page.locator('input[name="q-agreement"][value="deels"]')).to_be_checked(timeout=FEED)
    expect(page.locator('input[name="q-consultation_frequency"][value="monthly"]')).to_be_checked()
    page.wait_for_timeout(FEED)
    other.reload()
    expect(other.locator('input[name="q-consultation_frequency"][value="monthly"]')).to_be_checked()
    expect(other.locator('input[name="q-agreement"][value="deels"]')).to_be_checked()
    assert _stored(server, "agreement") == "deels" and _stored(server, "consultation_frequency") == "monthly"
    shot(other, "question-types-step4-partner")
    other.context.close()


def test_a_remark_from_the_partner_keeps_both_goal_scores(server, browser, page) -> None:
    world = _world(server, through=7)
    url = _url(server, world, 8, "samen")
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(url)
    scores = page.locator("#field-goal_progress .scale")
    expect(scores).to_have_count(2)
    scores.nth(0).locator('input[value="3"]').check()
    _saved(page, "goal_progress")
    scores.nth(1).locator('input[value="5"]').check()
    _saved(page, "goal_progress")
    page.locator("h1").click()  # out of the field: the change feed may update it now
    other = _partner(browser, server, world.emails["cc_a"])
    other.goto(url)
    first_remark = other.locator("#field-goal_progress input[type=text]").first
    first_remark.fill("Lukt goed in de peutergroep")
    first_remark.press("Tab")
    _saved(other, "goal_progress")
    value = _stored(server, "goal_progress")
    assert sorted(e["value"] for e in value.values()) == [3, 5]
    assert "Lukt goed in de peutergroep" in [e["remark"] for e in value.values()]
    expect(page.locator("#field-goal_progress input[type=text]").first).to_have_value(
        "Lukt goed in de peutergroep", timeout=FEED)
    page.reload()
    expect(page.locator("#field-goal_progress .scale").nth(0).locator('input[value="3"]')).to_be_checked()
    expect(page.locator("#field-goal_progress .scale").nth(1).locator('input[value="5"]')).to_be_checked()
    other.context.close()


def test_round_two_shows_carried_over_choices_as_chosen(server, page) -> None:
    world = _world(server, through=8)
    with server.app.app_context():
        partner_driver(world).act("library", Action("start_new_cycle"))
    aims = _stored(server, "aims", step=1, slot="library")
    assert aims
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(_url(server, world, 1, "bibliotheek"))
    expect(page.locator("#vraag-aims")).to_contain_text("Uit de vorige ronde")
    for key in aims:
        expect(page.locator(f'input[name="q-aims"][value="{key}"]')).to_be_checked()
    support = _stored(server, "support", step=1, slot="library")
    if support and support.get("value"):
        expect(page.locator(f'input[name="q-support"][value="{support["value"]}"]')).to_be_checked()
    shot(page, "question-types-round2")


def test_step5_record_with_ticks_and_a_short_line_is_shown_as_saved(server, page) -> None:
    world = _world(server, through=4)
    login(page, server, world.emails["cc_a"], PASSWORD)
    url = _url(server, world, 5, "samen")
    page.goto(url)
    records = page.locator("#field-conversations")
    records.get_by_role("button", name="Gesprek toevoegen").click()
    card = records.locator("fieldset.row-card:not(.row-card--new)").last
    expect(card).to_be_visible(timeout=5000)
    label = card.get_by_label("Label, bijv. Gezin A (verplicht)")
    label.fill("Gezin Q")
    label.press("Tab")
    _saved(page, "conversations")
    def tick(card, key: str):
        return card.locator(f'input[name$="--activities_with_child"][value="{key}"]')

    tick(card, "singing").check()
    tick(card, "outdoors").check()
    page.wait_for_timeout(FEED)
    row_id = card.get_attribute("id").rsplit("-", 1)[-1]
    rows = _stored(server, "conversations")
    saved = next(r for r in rows if r["id"] == row_id)["cells"]
    assert saved["label"] == "Gezin Q" and set(saved["activities_with_child"]) == {"singing", "outdoors"}
    page.reload()
    card = page.locator(f"#row-conversations-{row_id}")
    expect(card.get_by_label("Label, bijv. Gezin A (verplicht)")).to_have_value("Gezin Q")
    expect(tick(card, "singing")).to_be_checked()
    expect(tick(card, "outdoors")).to_be_checked()
    expect(tick(card, "reading_aloud")).not_to_be_checked()
    shot(page, "question-types-step5-records")
