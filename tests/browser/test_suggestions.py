"""Step 7's suggested actions in a real browser: one click (or Enter) adds the action as
a row of the action plan, the suggestion then shows as added, and the row can be edited."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from stappenplan.extensions import db
from stappenplan.workflow.models import StepInstance
from stappenplan.worksheets.models import Answer
from tests.browser.conftest import login
from tests.factories import PASSWORD, build_world, driver


def _rows(server) -> list[dict]:
    with server.app.app_context():
        stmt = (select(Answer.value).join(StepInstance, StepInstance.id == Answer.step_instance_id)
                .where(Answer.question == "action_schema", StepInstance.step == 7))
        return db.session.scalars(stmt.order_by(Answer.id.desc())).first() or []


def test_clicking_a_suggestion_adds_an_editable_row(server, page: Page) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        driver(world).through(6)
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/7/samen")
    before = len(_rows(server))

    page.locator("#add-collection_lending").click()
    row = page.locator("#row-action_schema-s-collection_lending")
    expect(row).to_be_visible(timeout=5000)
    expect(row.locator("input[name='q-action_schema--s-collection_lending--action']")).to_have_value(
        "Laat ouders op de opvang boeken lenen om thuis voor te lezen.")
    expect(row.locator("select[name='q-action_schema--s-collection_lending--theme']")).to_have_value("collection")
    added = page.locator("#suggestion-collection_lending a.suggestion__added")
    expect(added).to_have_text("Toegevoegd: ga naar deze actie in het actieschema")
    expect(page.locator("#suggestion-collection_lending button")).to_have_count(0)
    assert len(_rows(server)) == before + 1

    # Keyboard: focus a suggestion's button and press Enter.
    page.locator("#add-planning_contacts").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#row-action_schema-s-planning_contacts")).to_be_visible(timeout=5000)
    assert len(_rows(server)) == before + 2

    # The added row is an ordinary row: edit it and it is saved.
    who = page.locator("#q-action_schema--s-collection_lending--who")
    who.fill("Mira van de bibliotheek")
    who.blur()
    expect(page.locator("#status-action_schema")).to_contain_text("Opgeslagen", timeout=5000)
    row_value = next(r for r in _rows(server) if r["id"] == "s-collection_lending")
    assert row_value["cells"]["who"] == "Mira van de bibliotheek"
