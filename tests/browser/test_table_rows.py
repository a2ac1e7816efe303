"""Step 7's action plan (a table question) in a real browser: a row button clicked right
after typing in a cell waits for that cell's save, then does what it says."""

from __future__ import annotations

import re

from playwright.sync_api import Page, Route, expect
from sqlalchemy import select

from stappenplan.extensions import db
from stappenplan.workflow.models import StepInstance
from stappenplan.worksheets.models import Answer
from tests.browser.conftest import login
from tests.factories import PASSWORD, build_world
from tests.factories import driver as partner_driver

TABLE = re.compile(r".*/vraag/action_schema/tabel$")
ROWS = [{"id": "r-a", "cells": {"action": "Voorleesochtend plannen"}},
        {"id": "r-b", "cells": {"action": "Boekenkist vullen"}}]


def _rows(server) -> list[dict]:
    with server.app.app_context():
        stmt = (select(Answer.value).join(StepInstance, StepInstance.id == Answer.step_instance_id)
                .where(Answer.question == "action_schema", StepInstance.step == 7))
        return db.session.scalars(stmt.order_by(Answer.id.desc())).first() or []


def _open_step7(server, page: Page) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        driver = partner_driver(world)
        driver.through(6)
        driver.fill("library", 7, "joint", {"action_schema": ROWS})
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/7/samen")


class HeldSaves:
    """Holds every cell save of the table until released, so a row button is surely
    clicked while the save of the cell just left is on its way."""

    def __init__(self) -> None:
        self.held: list[Route] = []
        self.abort = False

    def __call__(self, route: Route) -> None:
        if "op=edit" not in (route.request.post_data or ""):
            route.continue_()
        elif self.abort:
            route.abort()
        else:
            self.held.append(route)

    def release(self, page: Page) -> None:
        for _ in range(100):
            if self.held:
                break
            page.wait_for_timeout(50)
        assert self.held, "no cell save was sent"
        while self.held:
            self.held.pop(0).continue_()


def test_a_row_button_right_after_typing_waits_for_the_save_then_acts(server, page: Page) -> None:
    _open_step7(server, page)
    field = page.locator("#field-action_schema")
    cards = field.locator("fieldset.row-card:not(.row-card--new)")
    status = page.locator("#status-action_schema")
    expect(cards).to_have_count(2)
    saves = HeldSaves()
    page.route(TABLE, saves)

    # Add: type in a cell, click "+ Rij toevoegen" at once.
    page.locator("#q-action_schema--r-a--who").fill("Mira")
    field.get_by_role("button", name="Rij toevoegen").click()
    expect(status).to_contain_text("Opslaan", timeout=5000)
    saves.release(page)
    expect(cards).to_have_count(3, timeout=5000)

    # Move: type in the second row, click its "Omhoog" at once.
    page.locator("#q-action_schema--r-b--who").fill("Sam")
    page.locator("#row-action_schema-r-b").get_by_role("button", name=re.compile("^Omhoog")).click()
    saves.release(page)
    expect(cards.first).to_have_id("row-action_schema-r-b", timeout=5000)

    # Delete (confirmed): type in the first row, click the other row's "Verwijderen" at once.
    page.locator("#q-action_schema--r-b--who").fill("Sam en Mo")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#row-action_schema-r-a").get_by_role("button", name=re.compile("^Verwijderen")).click()
    saves.release(page)
    expect(cards).to_have_count(2, timeout=5000)
    expect(page.locator("#row-action_schema-r-a")).to_have_count(0)

    stored = _rows(server)
    assert [r["id"] for r in stored][0] == "r-b" and "r-a" not in [r["id"] for r in stored]
    assert stored[0]["cells"]["who"] == "Sam en Mo"
    page.unroute(TABLE)
    page.reload()
    expect(cards).to_have_count(2)
    expect(cards.first).to_have_id("row-action_schema-r-b")
    expect(page.locator("#q-action_schema--r-b--who")).to_have_value("Sam en Mo")


def test_a_row_button_after_a_failed_save_says_it_did_nothing(server, page: Page) -> None:
    _open_step7(server, page)
    field = page.locator("#field-action_schema")
    cards = field.locator("fieldset.row-card:not(.row-card--new)")
    status = page.locator("#status-action_schema")
    saves = HeldSaves()
    saves.abort = True
    page.route(TABLE, saves)
    page.locator("#q-action_schema--r-a--who").fill("Mira")
    field.get_by_role("button", name="Rij toevoegen").click()
    expect(status).to_contain_text("Niet uitgevoerd: wat je in de tabel typte, is nog niet opgeslagen",
                                   timeout=5000)
    expect(cards).to_have_count(2)
    # The typed text is kept and saved once the connection is back (the save's own retry).
    page.unroute(TABLE)
    expect(status).to_contain_text("Opgeslagen", timeout=10000)
    assert _rows(server)[0]["cells"]["who"] == "Mira"
    field.get_by_role("button", name="Rij toevoegen").click()
    expect(cards).to_have_count(3, timeout=5000)
