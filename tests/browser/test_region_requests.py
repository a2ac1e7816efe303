"""Joining a region as people do it: a branch asks, withdraws, asks again; the coordinator
declines after confirming, and accepts another request."""

from __future__ import annotations

from stappenplan.extensions import db
from tests.browser.conftest import login, shot
from tests.factories import PASSWORD, build_world, make_org, make_user


def test_branch_asks_and_coordinator_decides(server, page, browser) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        make_user(make_org("Bibliotheek C", "library"), "admin@bieb-c.nl")
        db.session.commit()

    login(page, server, "admin@bieb-c.nl", PASSWORD)
    page.goto(server.url + "/organisatie/regio")
    page.get_by_label("Regio").select_option(label="Regio A")
    page.get_by_role("button", name="Aanvraag versturen").click()
    assert page.get_by_text("Aanvraag in behandeling").is_visible()
    shot(page, "region-request-pending")

    # Withdrawing asks first; cancelling keeps the request.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Aanvraag intrekken").click()
    assert page.get_by_text("Aanvraag in behandeling").is_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Aanvraag intrekken").click()
    page.get_by_text("Je aanvraag voor Regio A is ingetrokken.").wait_for()
    page.get_by_label("Regio").select_option(label="Regio A")
    page.get_by_role("button", name="Aanvraag versturen").click()
    page.get_by_text("Aanvraag in behandeling").wait_for()

    coordinator = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL").new_page()
    login(coordinator, server, world.emails["coord_a"], PASSWORD)
    coordinator.goto(server.url + "/regio")
    assert coordinator.get_by_text("1 vestiging vraagt om mee te doen in jullie regio.").is_visible()
    coordinator.get_by_role("link", name="Aanvragen bekijken").click()
    coordinator.get_by_role("heading", name="1 aanvraag wacht op jullie").wait_for()
    shot(coordinator, "region-requests-coordinator")
    coordinator.once("dialog", lambda dialog: dialog.accept())
    coordinator.get_by_role("button", name="Afwijzen").click()
    coordinator.get_by_text("De aanvraag van Bibliotheek C voor Regio A is afgewezen.").wait_for()
    assert coordinator.get_by_text("Geen aanvragen", exact=True).is_visible()

    page.reload()
    assert page.get_by_text("Je aanvraag voor Regio A is op").is_visible()
    page.get_by_label("Regio").select_option(label="Regio A")
    page.get_by_role("button", name="Aanvraag versturen").click()
    page.get_by_text("Aanvraag in behandeling").wait_for()

    coordinator.reload()
    coordinator.get_by_role("button", name="Aannemen").click()
    coordinator.get_by_text("Bibliotheek C doet nu mee in Regio A.").wait_for()
    page.reload()
    assert page.get_by_text("Je vestiging doet mee in Regio A").is_visible()
    coordinator.context.close()
