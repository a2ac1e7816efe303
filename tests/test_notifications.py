"""Notifications: in the app and by email, per-user choices, reminders that never repeat."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.core import uow
from stappenplan.extensions import db, local_today
from stappenplan.mail import outbox
from stappenplan.notifications.models import Notification
from stappenplan.practice import services as practice
from stappenplan.workflow.engine import Action
from tests.factories import driver as _driver
from tests.factories import login


def _notes(email: str) -> list[Notification]:
    return db.session.scalars(select(Notification).join(User, User.id == Notification.user_id)
                              .where(User.email == email).order_by(Notification.id)).all()


def test_step_opening_and_signoff_notify_the_right_people(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.own_steps(3, 3)
        # step 4 opened for both organisations (the actor is not told about their own action)
        titles = [n.title for n in _notes(world.emails["lib_a_member"])]
        assert any("Stap 4 staat open" in t for t in titles)
        assert any("Stap 2 staat open" in t for t in titles)  # the library's own step 2
        assert not any("Stap 2 staat open" in t for t in [n.title for n in _notes(world.emails["cc_b"])])
        d.fill_joint(4)
        uow.checkpoint()  # what happened so far is committed and its mails are sent
        outbox().clear()
        d.act("library", Action("sign_off", 4, "joint"))
        uow.checkpoint()  # the action commits; its mails leave the outbox after that
        cc_titles = [n.title for n in _notes(world.emails["cc_a_member"])]
        assert "De bibliotheek keurde stap 4 goed" in cc_titles
        assert {m.to for m in outbox()} == {world.emails["cc_a"], world.emails["cc_a_member"]}
        assert "Nu wacht de stap op jullie goedkeuring" in outbox()[0].body


def test_preferences_direct_digest_off(world, app: Flask) -> None:
    client = app.test_client()
    login(client, world.emails["cc_a_member"])
    response = client.post("/account/meldingen", data={"step_opened": "off", "signoff": "digest",
                                                        "mention": "direct", "reminder": "direct"})
    assert response.status_code == 302
    bad = client.post("/account/meldingen", data={"step_opened": "soms"}, follow_redirects=True)
    assert "Kies voor elke soort melding" in bad.get_data(as_text=True)
    with app.app_context():
        d = _driver(world)
        outbox().clear()
        d.own_steps(3, 3)
        d.fill_joint(4)
        d.act("library", Action("sign_off", 4, "joint"))
        uow.checkpoint()
        mails_to_member = [m for m in outbox() if m.to == world.emails["cc_a_member"]]
        assert mails_to_member == []  # step_opened off, sign-off in the digest
        assert _notes(world.emails["cc_a_member"])  # still in the app
        from stappenplan.notifications.services import send_digests

        assert send_digests() >= 1
        uow.checkpoint()
        digest = [m for m in outbox() if m.to == world.emails["cc_a_member"]]
        assert len(digest) == 1 and "keurde stap 4 goed" in digest[0].body
        assert send_digests() == 0  # nothing twice


def test_in_app_list_read_and_nav_count(world, app: Flask) -> None:
    with app.app_context():
        _driver(world).own_steps(1, 0)
    client = app.test_client()
    login(client, world.emails["lib_a_member"])
    page = client.get("/start").get_data(as_text=True)
    assert 'class="nav-count">1' in page
    listing = client.get("/meldingen").get_data(as_text=True)
    assert "Stap 2 staat open" in listing and "Nieuw" in listing
    with app.app_context():
        note = _notes(world.emails["lib_a_member"])[0]
    response = client.get(f"/meldingen/{note.public_id}")
    assert response.status_code == 302 and "/stap/2/bibliotheek" in response.headers["Location"]
    assert 'class="nav-count"' not in client.get("/start").get_data(as_text=True)
    other = app.test_client()
    login(other, world.emails["cc_a"])
    assert other.get(f"/meldingen/{note.public_id}").status_code == 404


def test_notify_due_sends_each_reminder_once(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(6)
        soon = (local_today() + timedelta(days=3)).isoformat()
        later = (local_today() + timedelta(days=30)).isoformat()
        d.fill_joint(7)
        d.fill("library", 7, "joint", {"action_schema": [
            {"id": "a1", "cells": {"action": "Training voorlezen", "deadline": soon}},
            {"id": "a2", "cells": {"action": "Beleidsplan", "deadline": later}},
            {"id": "a3", "cells": {"action": "Al klaar", "deadline": soon}},
        ]})
        d.act("library", Action("sign_off", 7, "joint"))
        d.act("childcare", Action("sign_off", 7, "joint"))
        done = next(r for r in practice.records_of(d.p) if r.source_row == "a3")
        assert practice.update(done, d.users["library"], "library",
                               {"status": "done", "who": "", "date": soon, "note": ""}, done.version).ok
    with app.app_context():  # the work above committed (and its mails went out) when its context ended
        outbox().clear()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["notify-due"])
    assert first.exit_code == 0, first.output
    with app.app_context():
        reminders = db.session.scalars(select(Notification).where(Notification.kind == "reminder")).all()
        members = 4  # two per organisation in the test world
        assert len(reminders) == members and all("Training voorlezen" in n.title for n in reminders)
        mails = len(outbox())
        assert mails == members
    second = runner.invoke(args=["notify-due"])
    assert second.exit_code == 0 and "Herinneringen gemaakt: 0." in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "reminder")) == members
        assert len(outbox()) == mails


def _unread(email: str) -> list[str]:
    return [n.title for n in _notes(email) if n.read_at is None]


def test_a_completed_step_settles_what_its_notifications_asked(world, app: Flask) -> None:
    """"Stap 4 staat open" and "… keurde stap 4 goed; nu wacht de stap op jullie
    goedkeuring" are answered once step 4 is completed: no longer new, still listed."""
    with app.app_context():
        d = _driver(world)
        d.own_steps(3, 3)
        d.fill_joint(4)
        d.act("library", Action("sign_off", 4, "joint"))
        uow.checkpoint()
        waiting = _unread(world.emails["cc_a_member"])
        assert "De bibliotheek keurde stap 4 goed" in waiting
        assert any("Stap 4 staat open" in t for t in waiting)
        assert any("Stap 4 staat open" in t for t in _unread(world.emails["lib_a_member"]))
        d.act("childcare", Action("sign_off", 4, "joint"))  # completes step 4
        uow.checkpoint()
        for email in (world.emails["cc_a_member"], world.emails["lib_a_member"]):
            unread = _unread(email)
            assert not any("stap 4" in t.lower() and "staat open" not in t.lower() for t in unread), unread
            assert not any("Stap 4 staat open" in t for t in unread), unread
            assert any("Stap 5 staat open" in t for t in unread) or email == world.emails["lib_a_member"]
        titles = [n.title for n in _notes(world.emails["cc_a_member"])]
        assert "De bibliotheek keurde stap 4 goed" in titles  # kept in the list, read
        # Another partnership's notifications are untouched.
        assert all(n.read_at is None for n in _notes(world.emails["cc_b"]))


def test_people_are_asked_only_about_the_emails_their_organisation_can_get(world, app: Flask) -> None:
    def legends(email: str) -> list[str]:
        client = app.test_client()
        login(client, email)
        page = client.get("/account/meldingen").get_data(as_text=True)
        return re.findall(r"<legend>([^<]+)</legend>", page)

    region = "Aanvragen om mee te doen in een regio, en de beslissing daarover"
    library = legends(world.emails["lib_a"])
    assert region in library and len(library) == 6
    childcare = legends(world.emails["cc_a"])
    assert region not in childcare and "Iemand noemt je in een opmerking" in childcare and len(childcare) == 5
    assert legends(world.emails["coord_a"]) == [region]
