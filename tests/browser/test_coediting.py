"""Two people of the two organisations on one joint worksheet, in two browsers."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.demo import Driver
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from stappenplan.worksheets.models import Answer
from tests.browser.conftest import login, shot
from tests.factories import PASSWORD, build_world


def _prepare(server) -> tuple[str, dict[str, str]]:  # noqa: ANN001
    world = build_world(server.app)
    with server.app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        lib = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        cc = db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))
        Driver(p, lib, cc).own_steps(3, 3)
    return f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen", world.emails


def _value(server, key: str) -> str | None:  # noqa: ANN001
    with server.app.app_context():
        return db.session.scalar(select(Answer.value).where(Answer.question == key))


def test_partner_sees_edit_and_both_editing_gives_conflict(server, browser, page) -> None:  # noqa: ANN001
    url, emails = _prepare(server)
    login(page, server, emails["lib_a"], PASSWORD)
    other_context = browser.new_context(viewport={"width": 1280, "height": 900})
    other = other_context.new_page()
    login(other, server, emails["cc_a"], PASSWORD)
    page.goto(url)
    other.goto(url)

    # 1. The library types; the childcare organisation sees it within 5 seconds.
    field = page.locator("#input-target_parents")
    field.fill("Ouders van de peutergroep")
    expect(page.locator("#status-target_parents")).to_contain_text("Opgeslagen om", timeout=5000)
    field.press("Tab")
    expect(other.locator("#input-target_parents")).to_have_value("Ouders van de peutergroep", timeout=5000)
    expect(other.locator("#presence")).to_contain_text("Admin", timeout=5000)

    # 2. Both edit one field: the one who saves second gets the conflict view; nothing is lost.
    theirs = other.locator("#input-consultation")
    theirs.click()  # the childcare user is in the field before the library saves
    mine = page.locator("#input-consultation")
    mine.fill("Elke maand op de opvang")
    expect(page.locator("#status-consultation")).to_contain_text("Opgeslagen om", timeout=5000)
    mine.press("Tab")
    expect(other.locator("#notice-consultation")).to_contain_text("net gewijzigd", timeout=5000)
    expect(theirs).to_have_value("")  # not replaced under the cursor
    theirs.type("Om de week in de bibliotheek")
    conflict = other.locator("#conflict-consultation .conflict")
    expect(conflict).to_be_visible(timeout=5000)
    expect(conflict).to_contain_text("Elke maand op de opvang")
    expect(conflict).to_contain_text("Om de week in de bibliotheek")
    expect(theirs).to_have_value("Om de week in de bibliotheek")
    shot(other, "conflict-view")
    assert _value(server, "consultation") == "Elke maand op de opvang"

    # 3. Keep mine: saved on top of the current version; the library sees it.
    conflict.get_by_role("button", name="Mijn versie bewaren").click()
    expect(other.locator("#status-consultation")).to_contain_text("Opgeslagen om", timeout=5000)
    expect(other.locator("#conflict-consultation .conflict")).to_have_count(0)
    assert _value(server, "consultation") == "Om de week in de bibliotheek"
    expect(page.locator("#input-consultation")).to_have_value("Om de week in de bibliotheek", timeout=5000)
    shot(page, "worksheet-joint")
    other_context.close()


def test_table_rows_added_in_two_browsers_are_both_kept(server, browser, page) -> None:  # noqa: ANN001
    url, emails = _prepare(server)
    login(page, server, emails["lib_a"], PASSWORD)
    other_context = browser.new_context(viewport={"width": 1280, "height": 900})
    other = other_context.new_page()
    login(other, server, emails["cc_a"], PASSWORD)
    page.goto(url)
    other.goto(url)
    add_mine = page.locator("#field-shared_goals").get_by_role("button", name="Rij toevoegen")
    add_theirs = other.locator("#field-shared_goals").get_by_role("button", name="Rij toevoegen")
    add_mine.click()
    add_theirs.click()  # based on an older version: merged, not refused
    expect(other.locator("#field-shared_goals fieldset.row-card:not(.row-card--new)")).to_have_count(2, timeout=5000)
    first = page.locator("#field-shared_goals fieldset.row-card").first.get_by_label("Doel (verplicht)")
    expect(page.locator("#field-shared_goals fieldset.row-card:not(.row-card--new)")).to_have_count(2, timeout=5000)
    first.fill("Meer voorlezen thuis")
    first.press("Tab")
    expect(page.locator("#status-shared_goals")).to_contain_text("Opgeslagen om", timeout=5000)
    rows = _value(server, "shared_goals")
    assert len(rows) == 2 and any(r["cells"].get("goal") == "Meer voorlezen thuis" for r in rows)
    other_context.close()


def test_unsent_edit_is_kept_retried_and_guarded(server, browser, page) -> None:  # noqa: ANN001
    url, emails = _prepare(server)
    login(page, server, emails["lib_a"], PASSWORD)
    page.goto(url)
    page.context.set_offline(True)
    field = page.locator("#input-target_parents")
    field.fill("Geschreven zonder verbinding")
    field.press("Tab")
    expect(page.locator("#status-target_parents")).to_contain_text("Niet opgeslagen", timeout=5000)
    stored = page.evaluate("() => JSON.stringify(localStorage)")
    assert "Geschreven zonder verbinding" in stored
    # Leaving the page now asks for confirmation.
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:  # noqa: ANN001
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", on_dialog)
    retry = page.locator("#status-target_parents").get_by_role("button", name="opnieuw proberen")
    expect(retry).to_be_visible()
    page.context.set_offline(False)  # the browser's "online" event retries the kept edit
    expect(page.locator("#status-target_parents")).to_contain_text("Opgeslagen om", timeout=5000)
    assert _value(server, "target_parents") == "Geschreven zonder verbinding"
    assert "Geschreven zonder verbinding" not in page.evaluate("() => JSON.stringify(localStorage)")
    # With an unsent edit, closing the page raises the browser's "leave page?" question.
    page.context.set_offline(True)
    field.fill("Nog een wijziging")
    field.press("Tab")
    expect(page.locator("#status-target_parents")).to_contain_text("Niet opgeslagen", timeout=5000)
    with page.expect_event("dialog") as info:
        page.close(run_before_unload=True)
    assert info.value.type == "beforeunload"
