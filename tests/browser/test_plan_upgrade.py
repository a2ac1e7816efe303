"""Plan version 2 as the partners meet it: the library admin reads what changes and moves
the partnership; the childcare organisation is told, reads what changed, and finds every
answer back (the renamed one on the worksheet, the retired one on the plan as "Uit versie 1")."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import login, new_page, shot
from tests.browser.test_swaps import violations
from tests.factories import PASSWORD, build_world
from tests.test_plan_upgrade import _answers, _v1_partnership_through_7


def test_library_admin_previews_and_moves_and_the_partner_is_told(server, page: Page, browser) -> None:
    world = build_world(server.app)
    public_id = _v1_partnership_through_7(server.app, world)
    before = _answers(server.app, public_id)
    retired = str(before[(1, "library", "low_literacy_knowledge")])
    route = str(before[(6, "joint", "taalhuis_route")])

    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{public_id}")
    callout = page.get_by_role("note").filter(has_text="Er is een nieuwe versie van het stappenplan")
    expect(callout).to_contain_text("Jij kiest wanneer jullie samenwerking overgaat.")
    callout.get_by_role("link", name="Bekijk wat er verandert").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Versie 2 van het stappenplan")
    step_6 = page.locator("section.upgrade-step", has=page.get_by_role("heading", name="Stap 6."))
    expect(step_6).to_contain_text("Andere naam of samengevoegd (antwoorden gaan mee)")
    expect(step_6).to_contain_text("1 antwoord krijgt de nieuwe vraag.")
    step_1 = page.locator("section.upgrade-step", has=page.get_by_role("heading", name="Stap 1."))
    expect(step_1).to_contain_text("Niet meer gevraagd")
    expect(step_1).to_contain_text("2 antwoorden blijven leesbaar als ‘Uit versie 1’.")  # both own steps 1
    assert violations(page) == []
    shot(page, "plan-upgrade-preview-library")
    page.get_by_role("button", name="Bijwerken naar versie 2").click()
    expect(page.locator("#flash")).to_contain_text("Het plan is bijgewerkt naar versie 2. Alle antwoorden zijn "
                                                   "bewaard; Opvang A krijgt bericht.")
    expect(page.get_by_text("Jullie werken sinds")).to_contain_text("met versie 2 van het stappenplan")

    partner = new_page(browser)
    try:
        login(partner, server, world.emails["cc_a"], PASSWORD)
        partner.goto(f"{server.url}/meldingen")
        told = partner.get_by_role("link", name="Het stappenplan is bijgewerkt naar versie 2",
                                   exact=False).first
        expect(told).to_be_visible()
        told.click()
        expect(partner.get_by_role("heading", level=1)).to_have_text("Wat er veranderde in versie 2")
        expect(partner.get_by_role("button", name="Bijwerken naar versie 2")).to_have_count(0)
        assert violations(partner) == []
        shot(partner, "plan-upgrade-changed-childcare")

        partner.goto(f"{server.url}/samenwerkingen/{public_id}/plan")
        expect(partner.locator(".plan-facts--cover")).to_contain_text("Versie 2 (bijgewerkt van versie 1 op")
        old = partner.locator(".plan-old")
        expect(old.first).to_contain_text("Uit versie 1")
        expect(old.first).to_contain_text(retired)
        assert violations(partner) == []
        shot(partner, "plan-upgrade-plan-childcare")

        partner.goto(f"{server.url}/samenwerkingen/{public_id}/stap/6/samen")
        handover = partner.locator("#vraag-taalhuis_handover")
        expect(handover).to_contain_text(route)
        expect(partner.locator("#vraag-taalhuis_route")).to_have_count(0)
        assert partner.js_errors == []
    finally:
        partner.context.close()
