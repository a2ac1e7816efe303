"""A library with many partners, as its people meet it: register, invite two childcare
organisations, start at once, reuse what it wrote, partners accept (by mail and in the app),
and the branch joins its region, which its coordinator accepts on the start page."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from stappenplan import demo_content as content
from stappenplan.accounts.models import User
from stappenplan.demo import Driver
from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow.engine import Action
from tests.browser.conftest import login, new_page, shot
from tests.factories import PASSWORD, build_world

SECRET = "nieuwstad-leest-2026"


def _link(server, to: str, path: str) -> str:
    with server.app.app_context():
        body = [m.body for m in outbox() if m.to == to][-1]
    return server.url + re.search(rf"http://[^/\s]+({path}\S+)", body).group(1)


def _saved(page, key: str) -> None:
    expect(page.locator(f"#status-{key}")).to_contain_text("Opgeslagen", timeout=8000)


def test_a_new_library_starts_with_two_partners_and_joins_its_region(server, browser, page) -> None:
    world = build_world(server.app)
    # Register and confirm.
    page.goto(server.url + "/registreren")
    page.get_by_label("Naam van de bibliotheekvestiging").fill("Bibliotheek Nieuwstad")
    page.get_by_label("Je naam").fill("Noor Jansen")
    page.get_by_label("E-mailadres").fill("noor@nieuwstad.nl")
    page.get_by_label(re.compile(r"^Wachtwoord")).fill(SECRET)
    page.get_by_label("Herhaal het wachtwoord").fill(SECRET)
    page.get_by_role("button", name="Vestiging registreren").click()
    page.goto(_link(server, "noor@nieuwstad.nl", "/e-mailadres-bevestigen/"))
    page.get_by_role("button", name="E-mailadres bevestigen").click()
    page.wait_for_url(server.url + "/start")
    expect(page.get_by_role("heading", name="Doe mee in je regio")).to_be_visible()

    # Invite two childcare organisations: a new one, and one already on the platform.
    page.get_by_role("link", name="Kinderopvang uitnodigen").first.click()
    page.get_by_label("E-mailadressen").fill(f"info@opvang-zon.nl, Opvang Zon\n{world.emails['cc_a']}, Opvang A")
    page.get_by_role("button", name="Uitnodigingen versturen").click()
    page.wait_for_url(server.url + "/uitnodigingen")
    expect(page.locator(".flash")).to_contain_text("Jullie kunnen alvast aan jullie eigen stappen")

    # Before anyone accepts: step 1 through the page, steps 2 and 3 as the app does.
    page.goto(server.url + "/start")
    page.locator(".plist__link", has_text="Opvang Zon").click()
    expect(page.get_by_text("Opvang Zon heeft de uitnodiging nog niet geaccepteerd.")).to_be_visible()
    first = page.url
    page.goto(first + "/stap/1/bibliotheek")
    page.locator("#input-why").fill("Omdat taal thuis begint, ook in Nieuwstad.")
    _saved(page, "why")
    # Leave the worksheet first: its feed would reload it when the steps below complete.
    page.goto(server.url + "/start")
    with server.app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == first.rsplit("/", 1)[-1]))
        noor = db.session.scalar(select(User).where(User.email == "noor@nieuwstad.nl"))
        d = Driver(p, noor, None)  # type: ignore[arg-type]  # the partner has no people yet
        for step in (1, 2, 3):
            d.fill("library", step, "library", {k: v for k, v in content.OWN["library"][step].items()
                                                if not (step == 1 and k == "why")})
            d.act("library", Action("complete", step, "library"))
        db.session.commit()

    # The second partnership (Opvang A, also waiting) starts step 1 from the first.
    page.reload()
    page.locator(".plist__link", has_text="Opvang A").click()
    second = page.url
    page.goto(second + "/stap/1/bibliotheek")
    panel = page.locator("#hergebruik")
    source = panel.locator("option", has_text="Opvang Zon").get_attribute("value")
    panel.get_by_label("Samenwerking").select_option(value=source)
    panel.get_by_role("button", name="Bekijk wat er wordt overgenomen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("overnemen uit de samenwerking met Opvang Zon")
    expect(page.locator("tr", has_text="Waarom wil je (meer) met ouders samenwerken?")).to_contain_text(
        "Omdat taal thuis begint, ook in Nieuwstad.")
    page.get_by_role("button", name="Overnemen").click()
    expect(page.locator("#flash")).to_contain_text("overgenomen uit de samenwerking met Opvang Zon")
    expect(page.locator("#input-why")).to_have_value("Omdat taal thuis begint, ook in Nieuwstad.")

    # Opvang Zon accepts through its mail.
    guest = new_page(browser)
    guest.goto(_link(server, "info@opvang-zon.nl", "/uitnodiging/"))
    guest.get_by_label("Je naam").fill("Yara Peters")
    guest.get_by_label(re.compile(r"^Wachtwoord")).fill("zonnige-dagen-2026")
    guest.get_by_label("Herhaal het wachtwoord").fill("zonnige-dagen-2026")
    guest.get_by_role("button", name="Account aanmaken en samenwerking starten").click()
    guest.wait_for_url(server.url + "/start")
    guest.locator(".plist__link", has_text="Bibliotheek Nieuwstad").click()
    guest.goto(guest.url + "/stap/1/kinderopvang")
    guest.locator("#input-why").fill("Ouders vragen om boeken in hun eigen taal.")
    _saved(guest, "why")

    # Opvang A (already on the platform) accepts on its start page.
    opvang_a = new_page(browser)
    login(opvang_a, server, world.emails["cc_a"], PASSWORD)
    invitation = opvang_a.locator("li", has_text="Bibliotheek Nieuwstad nodigt jullie uit")
    invitation.get_by_role("button", name=re.compile("^Accepteren")).click()
    expect(opvang_a.locator(".flash")).to_contain_text("De samenwerking met Bibliotheek Nieuwstad is gestart.")
    opvang_a.goto(opvang_a.url.split("#")[0] + "/stap/1/kinderopvang")
    opvang_a.locator("#input-why").fill("Wij willen ouders vaker binnen zien.")
    _saved(opvang_a, "why")

    # The branch asks to join the region; its coordinator accepts on the start page.
    page.goto(server.url + "/start")
    page.get_by_role("link", name="Vragen om mee te doen").click()
    page.get_by_label("Regio").select_option(label="Regio A")
    page.get_by_role("button", name="Aanvraag versturen").click()
    coordinator = new_page(browser)
    login(coordinator, server, world.emails["coord_a"], PASSWORD)
    request = coordinator.locator("li", has_text="Bibliotheek Nieuwstad")
    request.get_by_role("button", name=re.compile("^Aannemen")).click()
    coordinator.wait_for_url(server.url + "/start")
    expect(coordinator.locator(".flash")).to_contain_text("Bibliotheek Nieuwstad doet nu mee in")
    shot(coordinator, "coordinator-accepted-branch")
    for other in (guest, opvang_a, coordinator):
        assert other.js_errors == []
        other.context.close()
