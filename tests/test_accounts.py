"""Registration, login, logout, remember me, passwords and their reset."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stappenplan.accounts.models import PasswordResetRequest, User
from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.organisations.models import Membership, Organisation
from tests.factories import PASSWORD, login
from tests.formdata import NS, parse

GOOD = {
    "org_name": "Bibliotheek Zuid – vestiging Oost",
    "name": "Anna de Boer",
    "email": "Anna@Bieb-Zuid.nl ",
    "team": "jeugd",
    "password": "lang-en-sterk-wachtwoord",
    "confirm": "lang-en-sterk-wachtwoord",
}


def counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count(User.id))),
            db.session.scalar(select(func.count(Organisation.id))),
            db.session.scalar(select(func.count(Membership.id))),
        )


def test_login_page_is_dutch(client: FlaskClient) -> None:
    page = client.get("/inloggen").get_data(as_text=True)
    assert "Inloggen" in page and "Wachtwoord vergeten?" in page
    assert 'lang="nl"' in page


def test_register_library_creates_org_and_admin(app: Flask, client: FlaskClient) -> None:
    response = client.post("/registreren", data=GOOD)
    assert response.status_code == 200 and "Kijk in je mail" in response.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "anna@bieb-zuid.nl"))
        assert user is not None and user.is_admin
        assert user.organisation.kind == "library"
        assert user.membership.team == "jeugd"
        assert user.password_hash.startswith("$argon2id$")
        assert user.email_confirmed_at is None
        [mail] = outbox()
        link = re.search(r"http://[^\s]+(/e-mailadres-bevestigen/[^\s]+)", mail.body).group(1)
    # Opening the link changes nothing (mail scanners open links); the button confirms and logs in.
    assert "E-mailadres bevestigen" in client.get(link).get_data(as_text=True)
    assert client.get("/start").status_code == 302
    assert client.post(link).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "anna@bieb-zuid.nl")).email_confirmed_at
    assert "Jullie samenwerkingen" in client.get("/start").get_data(as_text=True)


def test_register_refuses_bad_input_and_creates_nothing(app: Flask, client: FlaskClient) -> None:
    client.post("/registreren", data=GOOD)
    before = counts(app)
    fresh = app.test_client()
    cases = [
        ({"email": "geen-adres"}, "Vul een geldig e-mailadres in"),
        ({"password": "kort", "confirm": "kort"}, "minstens 10 tekens"),
        ({"password": "wachtwoord123", "confirm": "wachtwoord123"}, "te makkelijk te raden"),
        ({"confirm": "iets-anders-dan-dat"}, "niet gelijk"),
        ({"org_name": "x" * 201}, "Maximaal 200 tekens"),
        ({"name": ""}, "Dit veld is verplicht"),
    ]
    for change, message in cases:
        data = {**GOOD, "email": "nieuw@bieb.nl", **change}
        response = fresh.post("/registreren", data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, change
        assert message in page, (change, page[:2000])
        assert 'aria-invalid="true"' in page
    assert counts(app) == before


def test_login_failure_does_not_reveal_whether_email_exists(world, client: FlaskClient) -> None:
    wrong_pw = client.post("/inloggen", data={"email": world.emails["lib_a"], "password": "fout-fout-fout"})
    unknown = client.post("/inloggen", data={"email": "niemand@nergens.nl", "password": "fout-fout-fout"})
    assert wrong_pw.status_code == unknown.status_code == 200
    message = "Het e-mailadres of het wachtwoord klopt niet."
    assert message in wrong_pw.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)


def test_login_logout_and_remember_me(world, client: FlaskClient) -> None:
    response = client.post(
        "/inloggen", data={"email": world.emails["lib_a"], "password": PASSWORD, "remember": "y"}
    )
    assert response.status_code == 302
    assert any(c.key == "remember_token" for c in client._cookies.values())
    assert client.get("/start").status_code == 200
    client.post("/uitloggen")
    response = client.get("/start")
    assert response.status_code == 302 and "/inloggen" in response.headers["Location"]


def test_remember_cookie_alone_restores_the_session(world, app: Flask) -> None:
    client = app.test_client()
    client.post("/inloggen", data={"email": world.emails["lib_a"], "password": PASSWORD, "remember": "y"})
    remember = client.get_cookie("remember_token")
    assert remember is not None
    other = app.test_client()
    other.set_cookie("remember_token", remember.value)
    assert other.get("/start").status_code == 200


def test_login_redirects_only_to_local_next(world, client: FlaskClient) -> None:
    response = client.post(
        "/inloggen?next=https://evil.example/", data={"email": world.emails["lib_a"], "password": PASSWORD}
    )
    assert response.headers["Location"] == "/start"
    client.post("/uitloggen")
    response = client.post(
        "/inloggen?next=/organisatie/leden", data={"email": world.emails["lib_a"], "password": PASSWORD}
    )
    assert response.headers["Location"] == "/organisatie/leden"


def test_change_password_ends_other_sessions(world, app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    login(first, world.emails["lib_a"])
    login(second, world.emails["lib_a"])
    response = first.post(
        "/account",
        data={"current": PASSWORD, "password": "nieuw-wachtwoord-99", "confirm": "nieuw-wachtwoord-99"},
    )
    assert response.status_code == 302
    assert first.get("/start").status_code == 200  # this session continues
    assert second.get("/start").status_code == 302  # the other one ended
    login(app.test_client(), world.emails["lib_a"], "nieuw-wachtwoord-99")


def _labels(html: str) -> dict[str, str]:
    """Each control's label text, by the control's name."""
    root = parse(html)
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    labels = {}
    for label in root.iter(f"{NS}label"):
        control = by_id.get(label.get("for"))
        if control is not None:
            labels[control.get("name")] = " ".join("".join(label.itertext()).split())
    return labels


def test_changing_the_password_asks_for_the_new_one_by_that_name(world, client: FlaskClient) -> None:
    """On /account the field under "Huidig wachtwoord" is the new password; where a form has
    no other password (registration), it is simply "Wachtwoord"."""
    login(client, world.emails["lib_a"])
    labels = _labels(client.get("/account").get_data(as_text=True))
    assert labels["current"] == "Huidig wachtwoord (verplicht)"
    assert labels["password"] == "Nieuw wachtwoord (verplicht)"
    assert labels["confirm"] == "Herhaal het nieuwe wachtwoord (verplicht)"
    labels = _labels(client.application.test_client().get("/registreren").get_data(as_text=True))
    assert labels["password"] == "Wachtwoord (verplicht)" and labels["confirm"] == "Herhaal het wachtwoord (verplicht)"


def test_change_password_checks_current(world, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    response = client.post(
        "/account", data={"current": "verkeerd-wachtwoord", "password": "nieuw-wachtwoord-99",
                          "confirm": "nieuw-wachtwoord-99"},
    )
    assert "Dit is niet je huidige wachtwoord." in response.get_data(as_text=True)


def test_logout_ends_sessions_everywhere(world, app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    login(first, world.emails["lib_a"])
    login(second, world.emails["lib_a"])
    first.post("/uitloggen")
    assert second.get("/start").status_code == 302


def _reset_link(app: Flask) -> str:
    with app.app_context():
        body = outbox()[-1].body
    match = re.search(r"http://[^\s]+/wachtwoord-herstellen/[^\s]+", body)
    assert match, body
    return re.sub(r"^http://[^/]+", "", match.group(0))


def test_password_reset_flow(world, app: Flask, client: FlaskClient) -> None:
    response = client.post("/wachtwoord-vergeten", data={"email": world.emails["cc_a"]})
    assert "Kijk in je mail" in response.get_data(as_text=True)
    link = _reset_link(app)
    assert client.get(link).status_code == 200
    new = "hersteld-wachtwoord-1"
    response = client.post(link, data={"password": new, "confirm": new})
    assert response.status_code == 302
    login(client, world.emails["cc_a"], "hersteld-wachtwoord-1")
    # single use
    again = app.test_client().get(link)
    assert again.status_code == 410 and "al gebruikt" in again.get_data(as_text=True)


def test_password_reset_for_unknown_email_looks_the_same(app: Flask, client: FlaskClient) -> None:
    response = client.post("/wachtwoord-vergeten", data={"email": "onbekend@nergens.nl"})
    assert "Kijk in je mail" in response.get_data(as_text=True)
    with app.app_context():
        # The address's owner learns there is no account; no reset link is made.
        [mail] = outbox()
        assert mail.to == "onbekend@nergens.nl" and "geen account" in mail.body
        assert "/wachtwoord-herstellen/" not in mail.body
        assert db.session.scalar(select(func.count(PasswordResetRequest.id))) == 0


def test_password_reset_link_expires(world, app: Flask, client: FlaskClient, monkeypatch) -> None:
    client.post("/wachtwoord-vergeten", data={"email": world.emails["cc_a"]})
    link = _reset_link(app)
    import itsdangerous.timed

    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(
        itsdangerous.timed.TimestampSigner, "get_timestamp",
        lambda self: real(self) + int(timedelta(hours=2).total_seconds()),
    )
    response = client.get(link)
    assert response.status_code == 410 and "verlopen" in response.get_data(as_text=True)


def test_tampered_reset_link(world, app: Flask, client: FlaskClient) -> None:
    client.post("/wachtwoord-vergeten", data={"email": world.emails["cc_a"]})
    link = _reset_link(app)
    response = client.get(link[:-3] + "abc")
    assert response.status_code == 410
    with app.app_context():
        assert db.session.scalar(select(func.count(PasswordResetRequest.id))) == 1


def test_login_rehashes_a_password_stored_with_older_argon2_settings(world, app: Flask) -> None:
    """Changing the Argon2 settings (64 MiB -> 19 MiB) must not lock anyone out, and
    old hashes move to the new settings at the next login."""
    from argon2 import PasswordHasher

    from tests.factories import PASSWORD, login

    email = world.emails["lib_a"]
    old_hash = PasswordHasher(time_cost=1, memory_cost=2048, parallelism=2).hash(PASSWORD)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        user.password_hash = old_hash
        db.session.commit()
    login(app.test_client(), email)
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.email == email))
    assert stored != old_hash
    assert f"m={app.config['ARGON2_MEMORY_COST']},t={app.config['ARGON2_TIME_COST']}" in stored
    login(app.test_client(), email)  # the new hash works


def test_a_person_corrects_their_own_name(world, app, client: FlaskClient) -> None:
    from sqlalchemy import select

    from stappenplan.accounts.models import User
    from stappenplan.audit.models import AuditEvent
    from stappenplan.extensions import db

    login(client, world.emails["lib_a"])
    page = client.get("/account").get_data(as_text=True)
    assert "Naam wijzigen" in page and 'action="/account/naam"' in page
    empty = client.post("/account/naam", data={"name": "   "})
    assert empty.status_code == 422 and "Dit veld is verplicht." in empty.get_data(as_text=True)
    long = client.post("/account/naam", data={"name": "x" * 121})
    assert long.status_code == 422 and "x" * 121 in long.get_data(as_text=True)  # what was typed stays
    done = client.post("/account/naam", data={"name": "  Anna   de  Vries "}, follow_redirects=True)
    assert "Je naam is gewijzigd." in done.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        assert user.name == "Anna de Vries"
        assert db.session.scalar(select(AuditEvent.kind).where(AuditEvent.actor_id == user.id,
                                                               AuditEvent.kind == "account_renamed"))
    assert "wijzigde de eigen naam" in client.get("/organisatie/logboek").get_data(as_text=True)


def test_a_reset_request_does_the_same_work_for_a_known_and_an_unknown_address(world, app: Flask) -> None:
    """The same statements for both (one outbox row, no lookup), so the time taken tells
    nothing; whose address it is, is decided when the mail is delivered."""
    from sqlalchemy import event

    from stappenplan.mail import outbox as sent_mails
    from stappenplan.outbox.models import OutboxMessage
    from stappenplan.outbox.services import deliver

    app.config["OUTBOX_INLINE"] = False
    client = app.test_client()

    def statements(email: str) -> list[str]:
        seen: list[str] = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.post("/wachtwoord-vergeten", data={"email": email}).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return seen

    known = statements(world.emails["cc_a"])
    unknown = statements("niemand@nergens.nl")
    assert known == unknown
    with app.app_context():
        assert db.session.scalar(select(func.count(PasswordResetRequest.id))) == 0
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 2
        deliver()
        assert db.session.scalar(select(func.count(PasswordResetRequest.id))) == 1
        mails = {m.to: m for m in sent_mails()}
    assert "/wachtwoord-herstellen/" in mails[world.emails["cc_a"]].body
    assert "geen account" in mails["niemand@nergens.nl"].body
