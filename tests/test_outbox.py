"""E-mail through the outbox: a mail server that refuses loses nothing and never turns a
committed action into an error; ``flask deliver`` sends later, once; dead letters are
shown to the organisation's admins; mails are written in the recipient's language."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from stappenplan.accounts.models import User
from stappenplan.extensions import db, utcnow
from stappenplan.outbox.models import OutboxMessage
from stappenplan.outbox.services import MAX_ATTEMPTS
from stappenplan.partnerships.models import Invitation
from tests.conftest import make_app, wipe
from tests.factories import build_world, login


class FakeSMTP:
    """A mail server that refuses while ``refuse`` is set, and otherwise accepts."""

    refuse = True
    sent: list = []

    def __init__(self, host: str, port: int, timeout: float = 0) -> None:
        if FakeSMTP.refuse:
            raise smtplib.SMTPConnectError(421, b"Service not available")

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def starttls(self) -> None:
        return None

    def login(self, user: str, password: str) -> None:
        return None

    def send_message(self, msg) -> None:
        FakeSMTP.sent.append(msg)


@pytest.fixture
def smtp_app(_migrated: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    FakeSMTP.refuse = True
    FakeSMTP.sent = []
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    app = make_app(MAIL_BACKEND="smtp", MAIL_USE_TLS=False)
    yield app
    wipe(app)


def _messages(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _due_now(app: Flask) -> None:
    """Time passes: every waiting message is due."""
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def test_a_refusing_mail_server_loses_nothing_and_deliver_sends_once(smtp_app: Flask) -> None:
    world = build_world(smtp_app)
    client = smtp_app.test_client()
    login(client, world.emails["lib_a"])
    response = client.post("/samenwerkingen/uitnodigen", data={"emails": "info@nieuw.nl, Opvang Nieuw",
                                                              "situation": "2"})
    assert response.status_code == 302  # the action succeeded although the mail server refused
    with smtp_app.app_context():
        assert db.session.scalar(select(Invitation).where(Invitation.email == "info@nieuw.nl")) is not None
    [waiting] = _messages(smtp_app)
    assert waiting.status == "pending" and waiting.attempts == 1 and "SMTPConnectError" in waiting.last_error
    assert FakeSMTP.sent == []
    runner = smtp_app.test_cli_runner()
    early = runner.invoke(args=["deliver"])
    assert early.exit_code == 0 and "0 verstuurd" in early.output  # not due yet: back-off
    FakeSMTP.refuse = False
    _due_now(smtp_app)
    done = runner.invoke(args=["deliver"])
    assert done.exit_code == 0 and "1 verstuurd" in done.output, done.output
    again = runner.invoke(args=["deliver"])
    assert "0 verstuurd" in again.output
    assert len(FakeSMTP.sent) == 1  # nothing twice
    mail = FakeSMTP.sent[0]
    assert mail["To"] == "info@nieuw.nl" and "Bibliotheek A" in mail["Subject"]
    assert mail["Message-ID"].startswith("<") and mail["Message-ID"].endswith(">")
    [sent] = _messages(smtp_app)
    assert sent.status == "sent" and sent.params == {}  # the invitation link is not kept after sending


def test_a_mail_that_keeps_failing_is_given_up_and_shown_to_admins(smtp_app: Flask) -> None:
    world = build_world(smtp_app)
    client = smtp_app.test_client()
    login(client, world.emails["lib_a"])
    client.post("/samenwerkingen/uitnodigen", data={"emails": "info@nieuw.nl, Opvang Nieuw", "situation": "2"})
    runner = smtp_app.test_cli_runner()
    for _attempt in range(MAX_ATTEMPTS - 1):
        _due_now(smtp_app)
        runner.invoke(args=["deliver"])
    [dead] = _messages(smtp_app)
    assert dead.status == "dead" and dead.attempts == MAX_ATTEMPTS
    page = client.get("/organisatie/logboek").get_data(as_text=True)
    assert "E-mails die niet zijn aangekomen" in page and "info@nieuw.nl" in page and "Opgegeven" in page
    # another organisation's admin cannot retry it (404); their own admin can
    other = smtp_app.test_client()
    login(other, world.emails["lib_b"])
    assert other.post(f"/organisatie/e-mails/{dead.public_id}/opnieuw").status_code == 404
    assert client.post(f"/organisatie/e-mails/{dead.public_id}/opnieuw").status_code == 302
    FakeSMTP.refuse = False
    assert "1 verstuurd" in runner.invoke(args=["deliver"]).output
    assert [m.status for m in _messages(smtp_app)] == ["sent"]


def test_a_notification_mail_is_written_in_the_recipients_language(world, app: Flask) -> None:
    from stappenplan.core import uow
    from stappenplan.mail import outbox
    from stappenplan.workflow.engine import Action
    from tests.test_notifications import _driver

    with app.app_context():
        member = db.session.scalar(select(User).where(User.email == world.emails["cc_a_member"]))
        member.locale = "en"
        d = _driver(world)
        d.own_steps(3, 3)
        d.fill_joint(4)
        uow.checkpoint()
        outbox().clear()
        d.act("library", Action("sign_off", 4, "joint"))
        uow.checkpoint()
        by_to = {m.to: m for m in outbox()}
    assert by_to[world.emails["cc_a_member"]].subject == "The library approved step 4"
    assert by_to[world.emails["cc_a"]].subject == "De bibliotheek keurde stap 4 goed"
    assert "Now the step is waiting for your approval" in by_to[world.emails["cc_a_member"]].body
