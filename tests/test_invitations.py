"""Partnership invitations: single and bulk, expiry, single use, revoke, resend, existing orgs."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.organisations.models import Organisation
from stappenplan.partnerships.models import Invitation, Partnership
from tests.factories import age_invitations, login
from tests.formdata import text_of

NEW_ACCOUNT = {"org_name": "Opvang Nieuw", "name": "Kim", "password": "sterk-wachtwoord-8",
               "confirm": "sterk-wachtwoord-8"}


def links(app: Flask) -> list[str]:
    with app.app_context():
        return [re.search(r"http://[^\s]+(/uitnodiging/[^\s]+)", m.body).group(1) for m in outbox()]


def totals(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count(Organisation.id))),
                db.session.scalar(select(func.count(User.id))),
                db.session.scalar(select(func.count(Partnership.id))))


def invite(client: FlaskClient, text: str, situation: str = "2"):
    return client.post("/samenwerkingen/uitnodigen", data={"emails": text, "situation": situation})


def test_library_invites_new_childcare_which_accepts(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    assert invite(client, "info@nieuw.nl, Opvang Nieuw", "3").status_code == 302
    [link] = links(app)
    with app.app_context():
        expires = db.session.scalar(select(Invitation.expires_at).where(Invitation.email == "info@nieuw.nl"))
    with app.test_request_context():
        from stappenplan.i18n import format_day
        until = format_day(expires)
    row = text_of(client.get("/uitnodigingen").get_data(as_text=True))
    assert f"Verstuurd · geldig tot {until}" in row and f"Verstuurd tot {until}" not in row
    guest = app.test_client()
    page = guest.get(link).get_data(as_text=True)
    assert "Bibliotheek A nodigt jullie uit" in page and 'value="Opvang Nieuw"' in page
    assert guest.post(link, data=NEW_ACCOUNT).status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "info@nieuw.nl"))
        assert user.is_admin and user.organisation.kind == "childcare"
        partnership = db.session.scalar(select(Partnership).where(Partnership.childcare_id == user.organisation.id))
        assert partnership.library.name == "Bibliotheek A" and partnership.situation == 3
    listing = client.get("/uitnodigingen").get_data(as_text=True)
    assert "Geaccepteerd" in listing


def test_invitation_works_only_once(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    invite(client, "info@nieuw.nl, Opvang Nieuw")
    [link] = links(app)
    app.test_client().post(link, data=NEW_ACCOUNT)
    before = totals(app)
    again = app.test_client().post(link, data={**NEW_ACCOUNT, "org_name": "Tweede"})
    assert again.status_code == 410 and "al gebruikt" in again.get_data(as_text=True)
    assert totals(app) == before


def test_expired_invitation(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    invite(client, "info@nieuw.nl, Opvang Nieuw")
    [link] = links(app)
    with app.app_context():
        inv = db.session.scalar(select(Invitation))
        inv.expires_at = inv.expires_at - timedelta(days=15)
        db.session.commit()
    before = totals(app)
    response = app.test_client().post(link, data=NEW_ACCOUNT)
    assert response.status_code == 410 and "verlopen" in response.get_data(as_text=True)
    assert totals(app) == before
    assert "Verlopen" in client.get("/uitnodigingen").get_data(as_text=True)


def test_revoked_invitation(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    invite(client, "info@nieuw.nl, Opvang Nieuw")
    [link] = links(app)
    with app.app_context():
        inv_id = db.session.scalar(select(Invitation.public_id))
    response = client.post(f"/uitnodigingen/{inv_id}/intrekken", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Ingetrokken" in response.get_data(as_text=True)
    before = totals(app)
    response = app.test_client().post(link, data=NEW_ACCOUNT)
    assert response.status_code == 410 and "ingetrokken" in response.get_data(as_text=True)
    assert totals(app) == before


def test_resend_replaces_the_link(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    invite(client, "info@nieuw.nl, Opvang Nieuw")
    with app.app_context():
        inv_id = db.session.scalar(select(Invitation.public_id))
    age_invitations(app)
    assert client.post(f"/uitnodigingen/{inv_id}/opnieuw").status_code == 302
    old, new = links(app)
    assert old != new
    response = app.test_client().get(old)
    assert response.status_code == 410 and "nieuwere uitnodiging" in response.get_data(as_text=True)
    assert app.test_client().post(new, data=NEW_ACCOUNT).status_code == 302


def test_tampered_link(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    invite(client, "info@nieuw.nl, Opvang Nieuw")
    [link] = links(app)
    for bad in (link[:-4] + "AAAA", "/uitnodiging/onzin", "/uitnodiging/" + "x" * 2000):
        response = app.test_client().post(bad, data=NEW_ACCOUNT)
        assert response.status_code == 410 and "klopt niet" in response.get_data(as_text=True)


def test_accepting_into_an_existing_organisation(world, app: Flask) -> None:
    """Library B invites childcare A, which is already on the platform."""
    lib_b, cc_a = app.test_client(), app.test_client()
    login(lib_b, world.emails["lib_b"])
    # Any address of that organisation; the name is asked for every address.
    assert invite(lib_b, world.emails["cc_a_member"] + ", Opvang A").status_code == 302
    [link] = links(app)
    with app.app_context():
        inv = db.session.scalar(select(Invitation))
        assert inv.target_org.name == "Opvang A"
    # Not logged in: asked to log in first.
    response = cc_a.get(link)
    assert response.status_code == 302 and "/inloggen" in response.headers["Location"]
    # A member (not admin) of the organisation cannot accept.
    login(cc_a, world.emails["cc_a_member"])
    cc_a.post(link)
    with app.app_context():  # the partnership B prepared with the invitation still waits
        assert db.session.scalar(select(func.count(Partnership.id)).where(Partnership.awaiting_org_id.is_(None))) == 2
    cc_a.post("/uitloggen")
    login(cc_a, world.emails["cc_a"])
    assert "Samenwerking accepteren" in cc_a.get(link).get_data(as_text=True)
    assert cc_a.post(link).status_code == 302
    with app.app_context():
        org = db.session.scalar(select(Organisation).where(Organisation.name == "Opvang A"))
        libraries = db.session.scalars(select(Partnership).where(Partnership.childcare_id == org.id)).all()
        assert sorted(p.library.name for p in libraries) == ["Bibliotheek A", "Bibliotheek B"]
    home = cc_a.get("/start").get_data(as_text=True)
    assert "Bibliotheek A" in home and "Bibliotheek B" in home


def test_childcare_invites_a_library(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["cc_a"])
    assert invite(client, "nieuw@bieb.nl, Bibliotheek Nieuw", "1").status_code == 302
    [link] = links(app)
    assert app.test_client().post(link, data={**NEW_ACCOUNT, "org_name": "Bibliotheek Nieuw"}).status_code == 302
    with app.app_context():
        p = db.session.scalar(select(Partnership).join(Partnership.library).where(
            Organisation.name == "Bibliotheek Nieuw"))
        assert p.childcare.name == "Opvang A"
        assert p.situation == 1  # the childcare organisation took the initiative


def test_bulk_invitations_with_csv(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    csv_data = "e-mailadres;naam\neen@opvang.nl;Opvang Een\ntwee@opvang.nl;Opvang Twee\n"
    response = client.post(
        "/samenwerkingen/uitnodigen",
        data={"emails": "drie@opvang.nl, Opvang Drie", "situation": "2",
              "csv_file": (io.BytesIO(csv_data.encode()), "lijst.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert len(links(app)) == 3
    listing = client.get("/uitnodigingen").get_data(as_text=True)
    for name in ("Opvang Een", "Opvang Twee", "Opvang Drie"):
        assert name in listing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("geen-email, Naam", "is geen geldig e-mailadres"),
        ("a@b.nl", "ook de naam van de organisatie"),
        ("a@b.nl, X\na@b.nl, X", "staat er twee keer in"),
        ("", "minstens één e-mailadres"),
    ],
)
def test_bulk_bad_lines_send_nothing(world, app: Flask, client: FlaskClient, text: str, message: str) -> None:
    login(client, world.emails["lib_a"])
    response = invite(client, "goed@opvang.nl, Goede Opvang\n" + text if text else "")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert links(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count(Invitation.id))) == 0


def test_the_error_summary_names_every_bad_line(world, app: Flask, client: FlaskClient) -> None:
    """Two bad lines: the summary at the top (where focus goes) lists both, not only the
    first, each linking to the field."""
    import re

    login(client, world.emails["lib_a"])
    response = invite(client, "goed@opvang.nl, Goede Opvang\ngeen-emailadres, X\njan@, Y")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    summary = page[page.index('class="error-summary"'):]
    summary = summary[:summary.index("</div>")]
    items = re.findall(r"<li><a href=\"#[^\"]+\">[^<]*</a></li>", summary)
    assert len(items) == 2, summary
    assert "Regel 2" in items[0] and "Regel 3" in items[1]
    # A missing organisation name is said in the same round as a bad address.
    both = invite(client, "geen-emailadres, X\nzonder@naam.nl").get_data(as_text=True)
    assert "Regel 1: &#39;geen-emailadres&#39; is geen geldig e-mailadres." in both or "Regel 1:" in both
    assert "Regel 2: Vul bij zonder@naam.nl ook de naam van de organisatie in." in both


def test_duplicate_open_invitation_is_refused(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    invite(client, "info@nieuw.nl, Opvang Nieuw")
    response = invite(client, "info@nieuw.nl, Opvang Nieuw")
    assert response.status_code == 422 and "staat al een uitnodiging open" in response.get_data(as_text=True)


def test_childcare_chooses_between_its_own_initiative_and_existing_cooperation(
        world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["cc_a"])
    page = client.get("/samenwerkingen/uitnodigen").get_data(as_text=True)
    radios = re.findall(r'<input[^>]*name="situation"[^>]*>', page)
    assert sorted(re.search(r'value="(\d)"', r).group(1) for r in radios) == ["1", "3"]
    assert "checked" in next(r for r in radios if 'value="1"' in r)  # its own initiative by default
    # examples for a library, not for a childcare location
    assert "placeholder=\"jeugd@bibliotheekrivierenland.nl" in page and "Kinderopvang De Vlinder" not in page
    refused = invite(client, "nieuw@bieb.nl, Bibliotheek Nieuw", "2")  # not offered to childcare
    assert refused.status_code == 422 and "Not a valid" not in refused.get_data(as_text=True)
    assert links(app) == []
    assert invite(client, "nieuw@bieb.nl, Bibliotheek Nieuw", "3").status_code == 302
    [link] = links(app)
    assert app.test_client().post(link, data={**NEW_ACCOUNT, "org_name": "Bibliotheek Nieuw"}).status_code == 302
    with app.app_context():
        p = db.session.scalar(select(Partnership).join(Partnership.library).where(
            Organisation.name == "Bibliotheek Nieuw"))
        assert p.situation == 3


def test_library_is_offered_its_own_situations(world, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    page = client.get("/samenwerkingen/uitnodigen").get_data(as_text=True)
    radios = re.findall(r'<input[^>]*name="situation"[^>]*>', page)
    assert sorted(re.search(r'value="(\d)"', r).group(1) for r in radios) == ["2", "3"]
    assert 'placeholder="info@devlinder.nl, Kinderopvang De Vlinder"' in page


def test_invitation_mail_names_the_inviter_explains_the_plan_and_quotes_the_message(
        world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    message = "Beste Kim,\n<b>Leuk</b> als jullie meedoen!\nAccepteer via https://elders.example/x"
    response = client.post("/samenwerkingen/uitnodigen", data={
        "emails": "info@nieuw.nl, Opvang Nieuw", "situation": "2", "message": message})
    assert response.status_code == 302
    with app.app_context():
        [mail] = outbox()
    assert "Admin van Bibliotheek A nodigt je uit" in mail.body
    assert "In acht stappen" in mail.body and "samenwerkingsplan" in mail.body
    assert "Persoonlijk bericht van Admin:" in mail.body
    # plain text, each line quoted: the message cannot pass for the mail's own text or link
    assert "> Beste Kim,\n> <b>Leuk</b> als jullie meedoen!\n> Accepteer via https://elders.example/x" in mail.body
    assert "\nAccepteer via https://elders" not in mail.body


def test_invitation_without_message_has_no_message_block(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["cc_a"])
    assert invite(client, "nieuw@bieb.nl, Bibliotheek Nieuw", "1").status_code == 302
    with app.app_context():
        [mail] = outbox()
    assert "Admin van Opvang A nodigt je uit" in mail.body and "Persoonlijk bericht" not in mail.body


@pytest.mark.parametrize(("message", "problem"), [
    ("x" * 1001, "Maximaal 1000 tekens"),
    ("Hallo\x00daar", "onzichtbaar stuurteken"),
])
def test_bad_personal_message_sends_nothing(world, app: Flask, client: FlaskClient, message: str,
                                            problem: str) -> None:
    login(client, world.emails["lib_a"])
    response = client.post("/samenwerkingen/uitnodigen", data={
        "emails": "info@nieuw.nl, Opvang Nieuw", "situation": "2", "message": message})
    assert response.status_code == 422
    assert problem in response.get_data(as_text=True)
    assert links(app) == []


def test_inviting_an_organisation_you_already_work_with(world, app: Flask, client: FlaskClient) -> None:
    """By its name the inviter is told at once (it knows its partners; nothing about
    accounts is revealed). By an address only, the invitation goes out as before, and the
    partner's start page does not ask it to accept what it cannot accept (the mail says why)."""
    login(client, world.emails["lib_a"])
    refused = invite(client, "iemand@opvang-a.nl,  opvang a ")
    assert refused.status_code == 422
    assert "Met Opvang A werken jullie al samen." in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Invitation.id))) == 0
    assert invite(client, f"{world.emails['cc_a']}, Kinderopvang A (typo)").status_code == 302
    with app.app_context():
        mails = [m for m in outbox() if m.to == world.emails["cc_a"]]
        assert len(mails) == 1 and "uitnodiging/" not in mails[0].body  # the mail explains, no link
    partner = app.test_client()
    login(partner, world.emails["cc_a"])
    assert "nodigt jullie uit voor een samenwerking" not in partner.get("/start").get_data(as_text=True)
    # Another organisation's invitation does show there.
    other = app.test_client()
    login(other, world.emails["lib_b"])
    assert invite(other, f"{world.emails['cc_a']}, Opvang A").status_code == 302
    assert "Bibliotheek B nodigt jullie uit voor een samenwerking" in partner.get("/start").get_data(as_text=True)


def _received(page: str) -> list[str]:
    """The ids of the invitations the start page offers to accept, from their forms."""
    return re.findall(r'action="/uitnodigingen/ontvangen/([\w-]+)/accepteren"', page)


def test_an_organisation_on_the_platform_accepts_from_its_start_page(world, app: Flask) -> None:
    """Library B invites childcare A (already on the platform): A's admin accepts from the
    start page, without the mail; a member sees the invitation but no button."""
    lib_b, admin, member = app.test_client(), app.test_client(), app.test_client()
    login(lib_b, world.emails["lib_b"])
    assert invite(lib_b, world.emails["cc_a_member"] + ", Opvang A").status_code == 302
    login(member, world.emails["cc_a_member"])
    page = text_of(member.get("/start").get_data(as_text=True))
    assert "Bibliotheek B nodigt jullie uit voor een samenwerking." in page
    assert "Een beheerder van jullie organisatie kan deze uitnodiging accepteren." in page
    assert _received(member.get("/start").get_data(as_text=True)) == []
    login(admin, world.emails["cc_a"])
    [inv_id] = _received(admin.get("/start").get_data(as_text=True))
    # The member cannot accept by posting either; without the CSRF token nothing happens.
    assert member.post(f"/uitnodigingen/ontvangen/{inv_id}/accepteren").status_code in {403, 404}
    response = admin.post(f"/uitnodigingen/ontvangen/{inv_id}/accepteren")
    assert response.status_code == 302 and "/samenwerkingen/" in response.headers["Location"]
    with app.app_context():
        org = db.session.scalar(select(Organisation).where(Organisation.name == "Opvang A"))
        libraries = db.session.scalars(select(Partnership).where(Partnership.childcare_id == org.id)).all()
        assert sorted(p.library.name for p in libraries) == ["Bibliotheek A", "Bibliotheek B"]
        inv = db.session.scalar(select(Invitation).where(Invitation.public_id == inv_id))
        assert inv.state == "accepted" and inv.partnership_id is not None
    assert "De samenwerking met Bibliotheek B is gestart." in admin.get(response.headers["Location"]).get_data(
        as_text=True)
    # Accepted once: the button is gone and a second post is a 404, as is the mail's link used.
    assert _received(admin.get("/start").get_data(as_text=True)) == []
    assert admin.post(f"/uitnodigingen/ontvangen/{inv_id}/accepteren").status_code == 404
    [link] = [m.group(1) for m in (re.search(r"http://[^\s]+(/uitnodiging/[^\s]+)", body) for body in _bodies(app))
              if m]
    assert admin.get(link).status_code == 410


def _bodies(app: Flask) -> list[str]:
    with app.app_context():
        return [m.body for m in outbox()]


def test_declining_in_the_app_tells_the_inviter_and_closes_the_link(world, app: Flask) -> None:
    lib_b, admin = app.test_client(), app.test_client()
    login(lib_b, world.emails["lib_b"])
    assert invite(lib_b, world.emails["cc_a"] + ", Opvang A").status_code == 302
    login(admin, world.emails["cc_a"])
    home = admin.get("/start").get_data(as_text=True)
    [inv_id] = _received(home)
    assert "wilt afslaan?" in home  # the confirmation before a decline
    response = admin.post(f"/uitnodigingen/ontvangen/{inv_id}/afslaan", follow_redirects=True)
    assert "Je hebt de uitnodiging van Bibliotheek B afgeslagen." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Partnership.id))) == 2
        assert db.session.scalar(select(Invitation).where(Invitation.public_id == inv_id)).state == "declined"
    assert "Afgeslagen" in text_of(lib_b.get("/uitnodigingen").get_data(as_text=True))
    [link] = links(app)
    assert "Deze uitnodiging is al afgeslagen." in admin.get(link).get_data(as_text=True)
    assert lib_b.post(f"/uitnodigingen/{inv_id}/opnieuw").status_code in {302, 422}
    assert len(links(app)) == 1  # a declined invitation is not sent again


def test_another_organisations_invitation_cannot_be_accepted_from_the_app(world, app: Flask) -> None:
    """Only the addressed organisation's admin: childcare B's admin gets a 404."""
    lib_b, other = app.test_client(), app.test_client()
    login(lib_b, world.emails["lib_b"])
    assert invite(lib_b, world.emails["cc_a"] + ", Opvang A").status_code == 302
    with app.app_context():
        inv_id = db.session.scalar(select(Invitation.public_id))
    login(other, world.emails["cc_b"])
    for action in ("accepteren", "afslaan"):
        assert other.post(f"/uitnodigingen/ontvangen/{inv_id}/{action}").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Invitation.public_id)) == inv_id
        assert db.session.scalar(select(Invitation)).state == "pending"


def test_the_activity_names_who_invited_and_who_accepted(world, app: Flask, client: FlaskClient) -> None:
    """The start is the inviter's doing; the invited side accepted (it did not start it)."""
    login(client, world.emails["lib_a"])
    assert invite(client, "info@nieuw.nl, Opvang Nieuw", "3").status_code == 302
    [link] = links(app)
    guest = app.test_client()
    assert guest.post(link, data=NEW_ACCOUNT).status_code == 302
    with app.app_context():
        inviter = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        partnership = db.session.scalar(select(Partnership).join(Partnership.childcare).where(
            Organisation.name == "Opvang Nieuw"))
        inviter_name, url = inviter.name, f"/samenwerkingen/{partnership.public_id}"
    for reader in (client, guest):
        feed = text_of(reader.get(url).get_data(as_text=True))
        assert f"{inviter_name} nodigde Opvang Nieuw uit; de samenwerking is gestart" in feed
        assert "Kim accepteerde de uitnodiging" in feed
        assert "Kim startte de samenwerking" not in feed
