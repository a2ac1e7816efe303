"""The foundation as a user meets it: log in per role, invite a partner, accept, members."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from stappenplan.coordination.models import Reminder
from stappenplan.extensions import db
from stappenplan.mail import outbox
from tests.browser.conftest import login, shot
from tests.factories import PASSWORD, age_invitations, build_world, driver


def test_library_invites_childcare_which_accepts(server, page, browser) -> None:
    world = build_world(server.app)
    login(page, server, world.emails["lib_a"], PASSWORD)
    assert page.get_by_role("heading", name="Jullie samenwerkingen").is_visible()
    shot(page, "library-home")

    page.get_by_role("link", name="Kinderopvang uitnodigen").first.click()
    page.get_by_label("E-mailadressen").fill("info@zonnebloem.nl, Kinderopvang De Zonnebloem")
    page.get_by_label("Bibliotheek en kinderopvang werken al samen", exact=False).check()
    shot(page, "invite-form")
    page.get_by_role("button", name="Uitnodigingen versturen").click()
    page.wait_for_url(server.url + "/uitnodigingen")
    row = page.locator("tr", has_text="info@zonnebloem.nl")
    assert row.get_by_text("Verstuurd").is_visible()

    # Resend through htmx: the row is replaced in place (a resend waits an hour).
    age_invitations(server.app)
    with page.expect_response(re.compile(r"/opnieuw$")):
        row.get_by_role("button", name="Opnieuw versturen").click()
    assert page.locator("tr", has_text="info@zonnebloem.nl").get_by_text("Verstuurd").is_visible()
    shot(page, "invitations")

    with server.app.app_context():
        mails = [m for m in outbox() if m.to == "info@zonnebloem.nl"]
    assert len(mails) == 2
    link = re.search(r"http://\S+", mails[-1].body).group(0)
    link = re.sub(r"^http://[^/]+", server.url, link)

    guest = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL").new_page()
    guest.goto(link)
    assert guest.get_by_label("Naam van je organisatie").input_value() == "Kinderopvang De Zonnebloem"
    guest.get_by_label("Je naam").fill("Yara Peters")
    guest.get_by_label(re.compile(r"^Wachtwoord")).fill("zonnige-dagen-2026")
    guest.get_by_label("Herhaal het wachtwoord").fill("zonnige-dagen-2026")
    shot(guest, "accept-invitation")
    guest.get_by_role("button", name="Account aanmaken en samenwerking starten").click()
    guest.wait_for_url(server.url + "/start")
    assert guest.get_by_text("Bibliotheek A").first.is_visible()
    shot(guest, "childcare-home")
    guest.context.close()


def test_bad_input_shows_messages_next_to_fields(server, page) -> None:
    page.goto(server.url + "/registreren")
    page.get_by_label("Naam van de bibliotheekvestiging").fill("Bieb")
    page.get_by_label("Je naam").fill("Ik")
    page.get_by_label("E-mailadres").fill("geen-adres")
    page.get_by_label(re.compile(r"^Wachtwoord")).fill("kort")
    page.get_by_label("Herhaal het wachtwoord").fill("kort")
    page.get_by_role("button", name="Vestiging registreren").click()
    email = page.get_by_label("E-mailadres")
    assert email.get_attribute("aria-invalid") == "true"
    described = email.get_attribute("aria-describedby")
    assert "Vul een geldig e-mailadres in" in page.locator(f"#{described.split()[-1]}").inner_text()
    assert page.locator(".error-summary").is_visible()
    shot(page, "register-errors")


def test_coordinator_and_member_pages(server, page) -> None:
    world = build_world(server.app)
    login(page, server, world.emails["coord_a"], PASSWORD)
    assert page.get_by_role("heading", name="Samenwerkingen in de regio").is_visible()
    assert page.get_by_text("Opvang A").is_visible()
    assert page.get_by_text("Opvang B").count() == 0
    shot(page, "coordinator-home")
    page.get_by_role("button", name="Uitloggen").click()
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.get_by_role("link", name="Collega's").click()
    row = page.locator("tr", has_text="lid@bieb-a.nl")
    row.get_by_role("link", name="Wijzigen").click()
    editing = page.locator("tr.row-editing")
    editing.get_by_label("Rol").select_option("admin")
    shot(page, "members-edit")
    editing.get_by_role("button", name="Opslaan").click()
    page.locator("tr:not(.row-editing)", has_text="lid@bieb-a.nl").get_by_text("Beheerder").wait_for()
    shot(page, "members")


def test_an_error_card_never_takes_the_place_of_what_was_being_changed(server, page) -> None:
    """A server fault in answer to an htmx action (the 503 card) leaves the part of the page
    as it was - the step list with the reason just typed, an invitation's row - and shows
    the card's words next to the button. The card used to replace that part."""

    from stappenplan.core.errors_web import error_page

    world = build_world(server.app)
    with server.app.app_context():
        driver(world).own_steps(3, 3)
    with server.app.test_request_context(headers={"HX-Request": "true"}):
        card, code = error_page(503)
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{world.ids['partnership_a']}")
    act = re.compile(r".*/samenwerkingen/[^/]+/actie$")
    page.route(act, lambda route: route.fulfill(status=code, content_type="text/html", body=card))
    timeline = page.locator("#timeline")
    timeline.locator("summary", has_text="Heropenen").first.click()
    reason = timeline.get_by_label("Waarom heropen je deze stap?").first
    reason.fill("We willen de doelen nog eens bekijken")
    timeline.get_by_role("button", name=re.compile(r"^Stap \d heropenen")).first.click()
    note = timeline.locator(".action-error")
    expect(note).to_contain_text("Even niet bereikbaar", timeout=5000)
    expect(timeline.locator(".error-page")).to_have_count(0)
    expect(reason).to_have_value("We willen de doelen nog eens bekijken")
    page.unroute(act)
    timeline.get_by_role("button", name=re.compile(r"^Stap \d heropenen")).first.click()
    expect(page.locator("#timeline")).to_contain_text("is heropend", timeout=5000)
    expect(page.locator(".action-error")).to_have_count(0)


def test_a_panel_asked_for_after_the_session_ended_says_log_in_again(server, page) -> None:
    """The session ends in another tab; "Geschiedenis" then shows the Dutch "Log opnieuw
    in" card in its panel, not the whole login page inside the worksheet."""
    world = build_world(server.app)
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/1/bibliotheek")
    tab = page.context.new_page()
    tab.goto(server.url + "/start")
    tab.get_by_role("button", name="Uitloggen").click()
    page.bring_to_front()
    page.locator(".q__tools").first.get_by_role("link", name=re.compile("^Geschiedenis")).click()
    panel = page.locator(".extra").first
    expect(panel).to_contain_text("Log opnieuw in", timeout=5000)
    expect(page.locator("input[type=password]")).to_have_count(0)
    expect(page.locator("header")).to_have_count(1)
    # Its button logs in and comes back to this worksheet.
    here = page.url
    panel.get_by_role("link", name="Opnieuw inloggen").click()
    page.get_by_label("E-mailadres").fill(world.emails["lib_a"])
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(here)


def test_a_form_on_its_way_says_so_and_is_sent_once(server, page) -> None:
    """A plain form post marks its button busy, and a second press while it is on its way
    does not submit again: one post, one reminder."""
    world = build_world(server.app)
    login(page, server, world.emails["coord_a"], PASSWORD)
    page.goto(f"{server.url}/regio/samenwerking/{world.ids['partnership_a']}/opvolgen")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    # After app.js's own listener (on the document), note what each press did: was the
    # button marked, did the submission go ahead. sessionStorage outlives the navigation.
    page.evaluate("""() => { sessionStorage.removeItem('presses');
        window.addEventListener('submit', (event) => {
            const button = event.submitter;
            const seen = JSON.parse(sessionStorage.getItem('presses') || '[]');
            seen.push({sent: !event.defaultPrevented,
                       busy: button.getAttribute('aria-disabled') === 'true' && button.classList.contains('is-busy')});
            sessionStorage.setItem('presses', JSON.stringify(seen));
        }); }""")
    # Pressed twice, the second time while the first is on its way.
    page.evaluate("() => { const b = document.querySelector('#h-remind ~ form [type=submit]'); b.click(); b.click(); }")
    expect(page.locator(".flash--success")).to_contain_text("De herinnering is gestuurd")
    assert page.evaluate("() => JSON.parse(sessionStorage.getItem('presses'))") == [
        {"sent": True, "busy": True}, {"sent": False, "busy": True}]
    assert len(posts) == 1
    expect(page.get_by_role("button", name="Herinnering sturen")).not_to_have_attribute("aria-disabled", "true")
    with server.app.app_context():
        assert db.session.scalar(select(func.count(Reminder.id))) == 1
