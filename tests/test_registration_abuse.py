"""Abuse of registration and invitations (phishing through the platform) and account
enumeration: a new account confirms its address before it invites anyone, invitations per
organisation per day are capped and the cap is shown, registration is rate-limited, and
every form answers the same for known and unknown addresses (the owner is told by mail)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.partnerships.models import Invitation
from tests.conftest import make_app, wipe
from tests.factories import age_invitations, login

REGISTRATION = {
    "org_name": "Bibliotheek Nergens",
    "name": "Nina Nieuw",
    "team": "",
    "password": "lang-en-sterk-wachtwoord",
    "confirm": "lang-en-sterk-wachtwoord",
}


def mails(app: Flask) -> list:
    with app.app_context():
        return list(outbox())


def confirm_link(app: Flask) -> str:
    for mail in reversed(mails(app)):
        found = re.search(r"http://[^\s]+(/e-mailadres-bevestigen/[^\s]+)", mail.body)
        if found:
            return found.group(1)
    raise AssertionError("no confirmation mail")


def invitation_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Invitation.id))) or 0


def register(client: FlaskClient, email: str):
    return client.post("/registreren", data={**REGISTRATION, "email": email})


# --- item 2: confirm before inviting, a daily cap, registration rate-limited ---------------


def test_unconfirmed_account_invites_nobody_until_it_confirms(app: Flask, client: FlaskClient) -> None:
    register(client, "nina@bieb-nergens.nl")
    login(client, "nina@bieb-nergens.nl", REGISTRATION["password"])
    home = client.get("/start").get_data(as_text=True)
    assert "Bevestig je e-mailadres" in home and "Stuur de mail opnieuw" in home

    partner = client.post("/samenwerkingen/uitnodigen", data={"emails": "info@opvang.nl, Opvang", "situation": "2"})
    assert partner.status_code == 422 and "Bevestig eerst je e-mailadres" in partner.get_data(as_text=True)
    member = client.post("/organisatie/leden/uitnodigen", data={"email": "collega@bieb-nergens.nl",
                                                                "role": "member"})
    assert member.status_code == 422 and "Bevestig eerst je e-mailadres" in member.get_data(as_text=True)
    assert invitation_count(app) == 0
    assert not any("/uitnodiging/" in m.body for m in mails(app))

    # The notice's button sends the mail again; its link confirms.
    before = len(mails(app))
    assert client.post("/e-mailadres-bevestigen/opnieuw").status_code == 302
    assert len(mails(app)) == before + 1
    client.post(confirm_link(app))
    assert "Bevestig je e-mailadres" not in client.get("/start").get_data(as_text=True)
    partner = client.post("/samenwerkingen/uitnodigen", data={"emails": "info@opvang.nl, Opvang", "situation": "2"})
    assert partner.status_code == 302 and invitation_count(app) == 1


def test_confirmation_link_needs_the_button_and_rejects_tampering(app: Flask, client: FlaskClient) -> None:
    register(client, "nina@bieb-nergens.nl")
    link = confirm_link(app)
    client.get(link)  # a mail scanner opening the link confirms nothing
    with app.app_context():
        assert db.session.scalar(select(User.email_confirmed_at)) is None
    bad = app.test_client().post(link[:-3] + "AAA")
    assert bad.status_code == 410 and "klopt niet" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User.email_confirmed_at)) is None
    assert client.post(link).status_code == 302
    again = app.test_client().post(link)
    assert again.status_code == 302 and again.headers["Location"].endswith("/inloggen")


def test_a_password_reset_also_confirms_the_address(app: Flask, client: FlaskClient) -> None:
    register(client, "nina@bieb-nergens.nl")
    client.post("/wachtwoord-vergeten", data={"email": "nina@bieb-nergens.nl"})
    link = re.search(r"http://[^\s]+(/wachtwoord-herstellen/[^\s]+)", mails(app)[-1].body).group(1)
    client.post(link, data={"password": "een-ander-lang-wachtwoord", "confirm": "een-ander-lang-wachtwoord"})
    with app.app_context():
        assert db.session.scalar(select(User.email_confirmed_at)) is not None


def test_invitations_per_day_are_capped_and_the_cap_is_shown(world, app: Flask, client: FlaskClient) -> None:
    app.config["INVITATIONS_PER_DAY"] = 3
    login(client, world.emails["lib_a"])
    form = client.get("/samenwerkingen/uitnodigen").get_data(as_text=True)
    assert "vandaag nog 3 uitnodigingen versturen (maximaal 3 per dag)" in form
    too_many = "\n".join(f"opvang{i}@voorbeeld.nl, Opvang {i}" for i in range(4))
    response = client.post("/samenwerkingen/uitnodigen", data={"emails": too_many, "situation": "2"})
    assert response.status_code == 422
    assert "vandaag nog 3 uitnodigingen versturen" in response.get_data(as_text=True)
    assert invitation_count(app) == 0

    two = "\n".join(f"opvang{i}@voorbeeld.nl, Opvang {i}" for i in range(2))
    assert client.post("/samenwerkingen/uitnodigen", data={"emails": two, "situation": "2"}).status_code == 302
    members = client.get("/organisatie/leden").get_data(as_text=True)
    assert "vandaag nog 1 uitnodiging versturen (maximaal 3 per dag)" in members
    assert client.post("/organisatie/leden/uitnodigen",
                       data={"email": "collega@bieb-a.nl", "role": "member"}).status_code == 302
    # The cap is reached: a resend counts too and is refused.
    with app.app_context():
        first = db.session.scalar(select(Invitation.public_id).where(Invitation.purpose == "partnership"))
    sent_before = len(mails(app))
    client.post(f"/uitnodigingen/{first}/opnieuw")
    assert len(mails(app)) == sent_before
    refused = client.post("/organisatie/leden/uitnodigen", data={"email": "nog-een@bieb-a.nl", "role": "member"})
    assert refused.status_code == 422 and "al 3 uitnodigingen verstuurd" in refused.get_data(as_text=True)
    assert invitation_count(app) == 3


@pytest.fixture
def limited(_migrated: None) -> Iterator[Flask]:
    app = make_app(RATELIMIT_ENABLED=True)
    yield app
    wipe(app)


def test_registration_is_rate_limited(limited: Flask) -> None:
    client = limited.test_client()
    codes = [register(client, f"nieuw{i}@bieb.nl").status_code for i in range(6)]
    assert codes == [200] * 5 + [429]
    with limited.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 5


# --- item 4: the same answer for known and unknown addresses -----------------------------------


TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{20,}")  # a per-session CSRF token


def _same(a: str, b: str, *variable: tuple[str, str]) -> None:
    """The two pages are equal once the address typed and the session's CSRF token are set aside."""
    for left, right in variable:
        a, b = a.replace(left, "X"), b.replace(right, "X")
    assert TOKEN.sub("T", a) == TOKEN.sub("T", b)


def test_registration_answers_the_same_for_a_taken_address(world, app: Flask) -> None:
    known = register(app.test_client(), world.emails["cc_a"])
    unknown = register(app.test_client(), "niemand@nergens.nl")
    assert known.status_code == unknown.status_code == 200
    _same(known.get_data(as_text=True), unknown.get_data(as_text=True),
          (world.emails["cc_a"], "niemand@nergens.nl"))
    owner, new = mails(app)
    assert owner.to == world.emails["cc_a"] and "al een account" in owner.body and "/inloggen" in owner.body
    assert new.to == "niemand@nergens.nl" and "/e-mailadres-bevestigen/" in new.body
    with app.app_context():
        # Nothing changed for the existing account.
        assert db.session.scalar(select(func.count(User.id)).where(User.email == world.emails["cc_a"])) == 1


def test_partner_invitation_answers_the_same_for_every_address(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    addresses = {
        "unknown": "onbekend@nergens.nl",
        "library": world.emails["lib_b"],  # wrong kind
        "partner": world.emails["cc_a"],  # already works with library A
        "childcare": world.emails["cc_b"],  # on the platform, not yet a partner
    }
    pages = {}
    for key, email in addresses.items():
        response = client.post("/samenwerkingen/uitnodigen",
                               data={"emails": f"{email}, Organisatie {key}", "situation": "2"})
        assert response.status_code == 302, key
        pages[key] = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "1 uitnodiging verstuurd." in pages[key]
    listing = client.get("/uitnodigingen").get_data(as_text=True)
    # The list shows the names the inviter typed, never the real organisation behind an address.
    assert "Bibliotheek B" not in listing and "Opvang B" not in listing
    by_to = {m.to: m.body for m in mails(app)}
    assert "/uitnodiging/" in by_to[addresses["unknown"]]
    assert "/uitnodiging/" in by_to[addresses["childcare"]]
    assert "/uitnodiging/" not in by_to[addresses["library"]] and "bibliotheek en een kinderopvang" in by_to[
        addresses["library"]]
    assert "/uitnodiging/" not in by_to[addresses["partner"]] and "al samen" in by_to[addresses["partner"]]


def test_a_resent_invitation_to_an_address_that_cannot_accept_explains_again(world, app: Flask,
                                                                             client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    client.post("/samenwerkingen/uitnodigen", data={"emails": f"{world.emails['lib_b']}, Iets", "situation": "2"})
    with app.app_context():
        inv = db.session.scalar(select(Invitation.public_id))
    age_invitations(app)
    client.post(f"/uitnodigingen/{inv}/opnieuw")
    assert [("/uitnodiging/" in m.body) for m in mails(app)] == [False, False]


def test_member_invitation_answers_the_same_for_another_organisations_address(world, app: Flask,
                                                                                client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    known = client.post("/organisatie/leden/uitnodigen", data={"email": world.emails["cc_b"], "role": "member"})
    unknown = client.post("/organisatie/leden/uitnodigen", data={"email": "nieuw@bieb-a.nl", "role": "member"})
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]
    page = client.get("/organisatie/leden").get_data(as_text=True)
    assert f"Uitnodiging verstuurd naar {world.emails['cc_b']}." in page
    assert "Uitnodiging verstuurd naar nieuw@bieb-a.nl." in page
