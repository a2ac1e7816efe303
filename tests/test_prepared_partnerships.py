"""A partnership exists from the invitation on: the inviter fills its own steps 1-3 before
the partner accepts, and the partner (or a coordinator) sees nothing of it until then."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.organisations.models import Organisation
from stappenplan.partnerships.models import Invitation, Partnership
from stappenplan.worksheets.models import Answer
from tests.factories import login
from tests.formdata import text_of

HX = {"HX-Request": "true"}
NEW_ACCOUNT = {"org_name": "Opvang Zonnig", "name": "Kim", "password": "sterk-wachtwoord-8",
               "confirm": "sterk-wachtwoord-8"}


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _invite(client: FlaskClient, line: str) -> None:
    response = client.post("/samenwerkingen/uitnodigen", data={"emails": line, "situation": "2"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def _prepared(app: Flask, email: str) -> Partnership:
    with app.app_context():
        inv = db.session.scalar(select(Invitation).where(Invitation.email == email))
        partnership = db.session.get(Partnership, inv.partnership_id)
        db.session.expunge(partnership)
        return partnership


def _link(app: Flask, email: str) -> str:
    with app.app_context():
        body = [m.body for m in outbox() if m.to == email][-1]
    return re.search(r"http://[^\s]+(/uitnodiging/[^\s]+)", body).group(1)


def _save_why(client: FlaskClient, url: str, text: str) -> None:
    saved = client.post(f"{url}/stap/1/bibliotheek/vraag/why", data={"q-why": text, "v-why": 0}, headers=HX)
    assert saved.status_code == 200, saved.get_data(as_text=True)[:300]


def test_a_library_starts_its_own_steps_before_the_new_partner_accepts(world, app: Flask) -> None:
    library = _client(app, world.emails["lib_a"])
    _invite(library, "info@zonnig.nl, Opvang Zonnig")
    prepared = _prepared(app, "info@zonnig.nl")
    assert prepared.pending
    url = f"/samenwerkingen/{prepared.public_id}"
    home = text_of(library.get("/start").get_data(as_text=True))
    assert "Opvang Zonnig" in home and "Uitnodiging nog niet geaccepteerd" in home
    page = text_of(library.get(url).get_data(as_text=True))
    assert "Opvang Zonnig heeft de uitnodiging nog niet geaccepteerd." in page
    _save_why(library, url, "Omdat taal thuis begint")
    # The partner's own step stays out of sight; step 4 waits for both.
    assert library.get(f"{url}/stap/1/kinderopvang").status_code == 404
    assert "gaat open als jullie allebei stap 3" in text_of(library.get(f"{url}/stap/4/samen").get_data(as_text=True))
    # A coordinator of the library's region sees nothing of it yet.
    coordinator = _client(app, world.emails["coord_a"])
    assert coordinator.get(url).status_code == 404
    assert "Opvang Zonnig" not in coordinator.get("/regio").get_data(as_text=True)
    with app.app_context():
        placeholder = db.session.get(Organisation, prepared.childcare_id)
        assert placeholder.placeholder and placeholder.name == "Opvang Zonnig"
    # The new organisation accepts through the mail: the same partnership, with the library's answer.
    guest = app.test_client()
    assert guest.post(_link(app, "info@zonnig.nl"), data=NEW_ACCOUNT).status_code == 302
    with app.app_context():
        partnership = db.session.scalar(select(Partnership).where(Partnership.public_id == prepared.public_id))
        assert not partnership.pending and partnership.childcare.name == "Opvang Zonnig"
        assert not partnership.childcare.placeholder and partnership.childcare_id == prepared.childcare_id
        assert db.session.scalar(select(func.count(Organisation.id)).where(Organisation.name == "Opvang Zonnig")) == 1
        assert db.session.scalar(select(Answer.value).where(Answer.question == "why")) == "Omdat taal thuis begint"
    shown = text_of(guest.get(url).get_data(as_text=True))
    assert "Opvang Zonnig" in shown and "nog niet geaccepteerd" not in shown
    # Steps 1-3 of the library stay private, as before: the draft does not show to the partner.
    assert "Omdat taal thuis begint" not in guest.get(url).get_data(as_text=True)
    assert guest.get(f"{url}/stap/1/bibliotheek").status_code == 404
    assert coordinator.get(url).status_code == 200


def test_an_organisation_on_the_platform_sees_nothing_until_it_accepts(world, app: Flask) -> None:
    library_b = _client(app, world.emails["lib_b"])
    _invite(library_b, f"{world.emails['cc_a']}, Opvang A")
    prepared = _prepared(app, world.emails["cc_a"])
    url = f"/samenwerkingen/{prepared.public_id}"
    _save_why(library_b, url, "Eigen concept van B")
    childcare = _client(app, world.emails["cc_a"])
    assert childcare.get(url).status_code == 404
    assert childcare.get(f"{url}/stap/1/kinderopvang").status_code == 404
    home = childcare.get("/start").get_data(as_text=True)
    assert "Bibliotheek B nodigt jullie uit voor een samenwerking." in text_of(home)
    assert prepared.public_id not in home
    [inv_id] = re.findall(r'action="/uitnodigingen/ontvangen/([\w-]+)/accepteren"', home)
    response = childcare.post(f"/uitnodigingen/ontvangen/{inv_id}/accepteren")
    assert response.headers["Location"].endswith(url)  # the very partnership B prepared
    assert childcare.get(url).status_code == 200
    assert "Eigen concept van B" not in childcare.get(url).get_data(as_text=True)


def test_revoking_takes_the_prepared_partnership_and_placeholder_along(world, app: Flask) -> None:
    library = _client(app, world.emails["lib_a"])
    _invite(library, "info@zonnig.nl, Opvang Zonnig")
    prepared = _prepared(app, "info@zonnig.nl")
    row = library.get("/uitnodigingen").get_data(as_text=True)
    assert "Alvast beginnen" in row and "wordt dan ook verwijderd" in row
    with app.app_context():
        inv_id = db.session.scalar(select(Invitation.public_id).where(Invitation.email == "info@zonnig.nl"))
    assert library.post(f"/uitnodigingen/{inv_id}/intrekken").status_code == 302
    with app.app_context():
        assert db.session.get(Partnership, prepared.id) is None
        assert db.session.get(Organisation, prepared.childcare_id) is None
    assert library.get(f"/samenwerkingen/{prepared.public_id}").status_code == 404
    # Inviting the same address again prepares a new one; inviting it twice does not make two.
    _invite(library, "info@zonnig.nl, Opvang Zonnig")
    with app.app_context():
        waiting = db.session.scalar(select(func.count(Partnership.id)).where(Partnership.awaiting_org_id.is_not(None)))
        assert waiting == 1


def test_an_address_that_joined_an_organisation_meanwhile_takes_the_prepared_partnership_along(
        world, app: Flask) -> None:
    from tests.factories import make_user

    library = _client(app, world.emails["lib_a"])
    _invite(library, "nieuw@opvang-b.nl, Opvang B")
    prepared = _prepared(app, "nieuw@opvang-b.nl")
    _save_why(library, f"/samenwerkingen/{prepared.public_id}", "Al begonnen")
    with app.app_context():  # the address became an admin of Opvang B, which is on the platform
        org_b = db.session.scalar(select(Organisation).where(Organisation.name == "Opvang B"))
        make_user(org_b, "nieuw@opvang-b.nl")
        db.session.commit()
    newcomer = _client(app, "nieuw@opvang-b.nl")
    link = _link(app, "nieuw@opvang-b.nl")
    assert "Samenwerking accepteren" in newcomer.get(link).get_data(as_text=True)
    assert newcomer.post(link).status_code == 302
    with app.app_context():
        partnership = db.session.scalar(select(Partnership).where(Partnership.public_id == prepared.public_id))
        assert partnership.childcare.name == "Opvang B" and not partnership.pending
        assert db.session.get(Organisation, prepared.childcare_id) is None  # the placeholder is gone
        assert db.session.scalar(select(Answer.value).where(Answer.question == "why")) == "Al begonnen"
    assert newcomer.get(f"/samenwerkingen/{prepared.public_id}").status_code == 200
