"""The daily invitation cap holds: counted per mail (resends too), under a lock on the
organisation, and the "nog N" on the forms is exactly what the server accepts."""

from __future__ import annotations

import re
import threading

import pytest
from flask import Flask
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.core.errors import ServiceError
from stappenplan.extensions import db
from stappenplan.partnerships import invitations
from stappenplan.partnerships.invitations import PartnerEntry
from stappenplan.partnerships.models import Invitation, InvitationSend
from tests.conftest import make_app
from tests.factories import age_invitations, login


def _lines(prefix: str, n: int) -> list[PartnerEntry]:
    return [PartnerEntry(f"{prefix}{i}@opvang.nl", f"Opvang {prefix} {i}") for i in range(n)]


def _left_on_the_form(client) -> int:
    page = client.get("/samenwerkingen/uitnodigen").get_data(as_text=True)
    return int(re.search(r"kan vandaag nog (\d+) uitnodiging", page).group(1))


def test_resends_count_against_the_cap_and_have_their_own_limit(world, app: Flask) -> None:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    assert _left_on_the_form(client) == 100
    client.post("/samenwerkingen/uitnodigen", data={"emails": "a@opvang.nl, Opvang A2", "situation": "2"})
    assert _left_on_the_form(client) == 99
    with app.app_context():
        public_id = db.session.scalar(select(Invitation.public_id))
    resend = f"/uitnodigingen/{public_id}/opnieuw"
    refused = client.post(resend, follow_redirects=True).get_data(as_text=True)
    assert "Deze uitnodiging is net verstuurd. Over 60 minuten kun je hem opnieuw versturen." in refused
    assert _left_on_the_form(client) == 99  # refused: nothing sent, nothing counted
    for expected_left in (98, 97, 96):
        age_invitations(app)
        assert client.post(resend).status_code == 302
        assert _left_on_the_form(client) == expected_left
    age_invitations(app)
    fourth = client.post(resend, follow_redirects=True).get_data(as_text=True)
    assert "Deze uitnodiging is al 3 keer opnieuw verstuurd." in fourth
    with app.app_context():
        kinds = db.session.execute(select(InvitationSend.kind, func.count()).group_by(InvitationSend.kind)).all()
        assert dict(kinds) == {"new": 1, "resend": 3}


def test_the_number_on_the_form_is_what_the_server_accepts(world, app: Flask) -> None:
    app.config["INVITATIONS_PER_DAY"] = 3
    client = app.test_client()
    login(client, world.emails["lib_a"])
    client.post("/samenwerkingen/uitnodigen", data={"emails": "a@opvang.nl, A\nb@opvang.nl, B", "situation": "2"})
    assert _left_on_the_form(client) == 1
    two = client.post("/samenwerkingen/uitnodigen", data={"emails": "c@opvang.nl, C\nd@opvang.nl, D",
                                                          "situation": "2"})
    assert two.status_code == 422 and "kan vandaag nog 1 uitnodiging versturen" in two.get_data(as_text=True)
    # A colleague's invitation comes from the same allowance.
    assert client.post("/organisatie/leden/uitnodigen", data={"email": "nieuw@bieb-a.nl", "role": "member"}
                       ).status_code == 302
    assert _left_on_the_form(client) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(InvitationSend.id))) == 3


@pytest.mark.postgres
def test_parallel_requests_never_pass_the_cap(world, app: Flask) -> None:
    """Five requests of 30 at the same moment against a cap of 100: three get through, two
    are refused, and exactly 90 invitations and 90 mails exist (without the lock on the
    organisation all five passed: 150)."""
    parallel = make_app()
    barrier = threading.Barrier(5)
    outcomes: list[str] = [""] * 5

    def worker(index: int) -> None:
        with parallel.app_context():
            actor = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
            barrier.wait()
            try:
                invitations.invite_partners(actor, _lines(f"p{index}-", 30), 2)
                outcomes[index] = "sent"
            except ServiceError as error:
                outcomes[index] = error.message

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes).count("sent") == 3, outcomes
    assert all("kan vandaag nog 10 uitnodigingen versturen" in o for o in outcomes if o != "sent"), outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count(Invitation.id))) == 90
        assert db.session.scalar(select(func.count(InvitationSend.id))) == 90


@pytest.mark.postgres
def test_parallel_resends_of_one_invitation_send_one_mail(world, app: Flask) -> None:
    with app.app_context():
        actor = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        [inv] = invitations.invite_partners(actor, _lines("r", 1), 2)
        public_id = inv.public_id
        db.session.commit()
    age_invitations(app)
    parallel = make_app()
    barrier = threading.Barrier(6)
    sent: list[bool] = [False] * 6

    def worker(index: int) -> None:
        with parallel.app_context():
            user = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
            target = db.session.scalar(select(Invitation).where(Invitation.public_id == public_id))
            barrier.wait()
            try:
                invitations.resend(user, target)
                sent[index] = True
            except ServiceError:
                pass

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sent.count(True) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(InvitationSend.id)).where(InvitationSend.kind == "resend")) == 1
