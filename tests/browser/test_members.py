"""The colleagues' page with the keyboard: the inline role editor and its messages."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import login, shot
from tests.factories import PASSWORD, build_world


def test_role_editor_takes_the_focus_and_gives_it_back(server, page: Page) -> None:
    """"Wijzigen" puts the focus on the editor's first control; "Opslaan" and "Annuleren"
    put it back on the row's "Wijzigen" button. The message of a saved change shows at
    once in the page's flash area, and not again on the next page."""
    world = build_world(server.app)
    member_id = world.ids["member_lib_a_member"]
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(server.url + "/organisatie/leden")
    row = page.locator(f"#member-{member_id}")
    edit = row.get_by_role("link", name="Wijzigen Lid")
    edit.focus()
    page.keyboard.press("Enter")
    select = page.locator(f"#role-{member_id}")
    expect(select).to_be_focused()
    expect(page.get_by_label("Rol", exact=True)).to_have_count(2)  # the editor's and the invite form's
    shot(page, "members-role-editor")
    select.select_option("admin")
    row.get_by_role("button", name="Opslaan").click()
    expect(page.locator("#flash")).to_contain_text("De rol van Lid is aangepast.")
    expect(row.get_by_role("link", name="Wijzigen Lid")).to_be_focused()
    expect(row).to_contain_text("Beheerder")
    # Cancelling: the focus goes back to the row too.
    page.keyboard.press("Enter")
    expect(select).to_be_focused()
    row.get_by_role("link", name="Annuleren").click()
    expect(row.get_by_role("link", name="Wijzigen Lid")).to_be_focused()
    assert page.locator("#flash").get_attribute("role") == "status"  # still the live region
    page.reload()
    expect(page.locator("#flash")).not_to_contain_text("aangepast")
