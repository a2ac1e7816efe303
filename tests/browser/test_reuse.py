"""Reuse across partnerships as a library meets it: its second partnership's step 1 starts
from its answers in the first, and afterwards says which answers differ."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from tests.browser.conftest import login
from tests.browser.test_swaps import violations
from tests.factories import PASSWORD, build_world, driver, make_org, make_partnership

WHY = "Omdat lezen thuis begint, en ouders de eerste voorlezers zijn."


def test_library_starts_step_1_from_its_other_partnership(server, page: Page) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        first = driver(world)
        first.fill("library", 1, "library", {"why": WHY, "benefit_children": "Meer woorden thuis"})
        first.fill("childcare", 1, "childcare", {"why": "Wat de opvang zelf schreef"})
        lib = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        second = make_partnership(lib.organisation, make_org("Opvang C", "childcare"), lib)
        db.session.commit()
        url = f"{server.url}/samenwerkingen/{second.public_id}/stap/1/bibliotheek"
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(url)
    panel = page.locator("#hergebruik")
    expect(panel.get_by_role("heading", name="Begin vanuit een andere samenwerking")).to_be_visible()
    panel.get_by_label("Samenwerking").select_option(label="Opvang A (2 vragen beantwoord)")
    panel.get_by_role("button", name="Bekijk wat er wordt overgenomen").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("overnemen uit de samenwerking met Opvang A")
    row = page.locator("tr", has_text="Waarom wil je (meer) met ouders samenwerken?")
    expect(row).to_contain_text(WHY)
    expect(row).to_contain_text("Wordt ingevuld")
    expect(page.get_by_text("Wat de opvang zelf schreef")).to_have_count(0)
    assert violations(page) == []
    page.get_by_role("button", name="Overnemen").click()

    expect(page.locator("#flash")).to_contain_text("2 antwoorden overgenomen uit de samenwerking met Opvang A.")
    note = page.locator("#overgenomen")
    expect(note).to_contain_text("Overgenomen uit de samenwerking met Opvang A op")
    expect(note).to_contain_text("Alle antwoorden zijn nog gelijk.")
    expect(note).to_be_focused()
    field = page.locator("#input-why")
    expect(field).to_have_value(WHY)
    assert violations(page) == []

    with page.expect_response(re.compile(r"/vraag/why$")) as saved:
        field.fill("Voor deze opvang: de ouders van de peutergroep.")
        field.blur()
    assert saved.value.ok
    page.reload()
    expect(page.locator("#overgenomen")).to_contain_text("1 vraag wijkt inmiddels af.")
    expect(page.locator("#vraag-why")).to_contain_text("Wijkt af van de samenwerking met Opvang A")
    expect(page.locator("#vraag-benefit_children .badge")).to_have_count(0)
