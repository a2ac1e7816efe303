"""A coordinator follows up a stalled partnership: contact people, a reminder to both
organisations (in the app and by e-mail, once per click, logged; a second one the same day
only when confirmed), refused outside the region, and a mark when a reminder got no
reaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from stappenplan.audit.models import AuditEvent
from stappenplan.coordination.models import Reminder
from stappenplan.extensions import db, utcnow
from stappenplan.mail import outbox
from stappenplan.notifications.models import Notification
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow.models import Cycle
from tests.factories import login


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _url(world) -> str:
    return f"/regio/samenwerking/{world.ids['partnership_a']}/opvolgen"


def _stall(app: Flask, world, days: int = 40) -> None:
    with app.app_context():
        pid = db.session.scalar(select(Partnership.id).where(Partnership.public_id == world.ids["partnership_a"]))
        db.session.execute(update(Cycle).where(Cycle.partnership_id == pid)
                           .values(last_activity_at=utcnow() - timedelta(days=days)))
        db.session.commit()


def test_follow_up_page_shows_both_contact_people(world, app: Flask) -> None:
    _stall(app, world)
    page = _client(app, world.emails["coord_a"]).get(_url(world))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert world.emails["lib_a"] in html and world.emails["cc_a"] in html  # the admins
    assert world.emails["lib_a_member"] not in html  # contact people are the admins
    assert "Stilgevallen" in html and "Nog geen herinneringen gestuurd." in html


def test_a_reminder_reaches_both_organisations_once_per_click_and_is_logged(world, app: Flask) -> None:
    _stall(app, world)
    coordinator = _client(app, world.emails["coord_a"])
    response = coordinator.post(_url(world), data={"message": "Zullen we volgende week bellen?"})
    assert response.status_code == 302
    with app.app_context():
        notes = db.session.scalars(select(Notification).where(Notification.kind == "reminder")).all()
        assert len(notes) == 2  # the admin of the library and the admin of the childcare
        mails = [m for m in outbox() if "Herinnering van" in m.subject]
        assert sorted(m.to for m in mails) == sorted([world.emails["lib_a"], world.emails["cc_a"]])
        assert all("Zullen we volgende week bellen?" in m.body for m in mails)
        assert db.session.scalar(select(func.count(Reminder.id))) == 1
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.kind == "region_reminder")) == 1
    # A second one the same day is sent only when the coordinator confirms it: the page
    # says who sent the first, and the typed message stays.
    page = coordinator.get(_url(world)).get_data(as_text=True)
    # It was this coordinator: the page says "je", not their name.
    assert 'id="recent-reminder"' in page and "Je stuurde op" in page and "al een herinnering" in page
    assert "Toch nog een herinnering sturen" in page
    assert "„Zullen we volgende week bellen?”" in page  # Dutch quotation marks
    refused = coordinator.post(_url(world), data={"message": "Nog even dit"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Je stuurde minder dan een dag geleden al een herinnering" in html and "Nog even dit</textarea>" in html
    with app.app_context():
        assert db.session.scalar(select(func.count(Reminder.id))) == 1
        assert len([m for m in outbox() if "Herinnering van" in m.subject]) == 2
    # Confirmed, a second click is a second reminder (and no more than that).
    coordinator.post(_url(world), data={"message": "", "again": "y"})
    with app.app_context():
        assert db.session.scalar(select(func.count(Reminder.id))) == 2
        assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "reminder")) == 4
    page = coordinator.get(_url(world)).get_data(as_text=True)
    assert page.count("door Coord") == 2 and "Zullen we volgende week bellen?" in page
    # Logged in the partnership's activity, for the parties and the coordinator alike.
    library = _client(app, world.emails["lib_a"])
    assert "stuurde een herinnering namens Coördinatie A" in library.get(
        f"/samenwerkingen/{world.ids['partnership_a']}/activiteit").get_data(as_text=True)
    assert "stuurde een herinnering namens Coördinatie A" in coordinator.get(
        f"/samenwerkingen/{world.ids['partnership_a']}/activiteit").get_data(as_text=True)
    # The dashboard's stalled list shows it was sent, with the date.
    dashboard = coordinator.get("/regio").get_data(as_text=True)
    assert "Herinnerd op" in dashboard and "Opvolgen" in dashboard


def test_a_day_after_a_reminder_the_next_needs_no_confirmation(world, app: Flask) -> None:
    _stall(app, world)
    coordinator = _client(app, world.emails["coord_a"])
    assert coordinator.post(_url(world), data={"message": ""}).status_code == 302
    with app.app_context():
        db.session.execute(update(Reminder).values(created_at=utcnow() - timedelta(hours=25)))
        db.session.commit()
    page = coordinator.get(_url(world)).get_data(as_text=True)
    assert 'id="recent-reminder"' not in page and "Toch nog een herinnering sturen" not in page
    assert coordinator.post(_url(world), data={"message": ""}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(Reminder.id))) == 2


def test_reminder_refused_outside_the_region_and_for_parties(world, app: Flask) -> None:
    _stall(app, world)
    other = _client(app, world.emails["coord_b"])
    assert other.get(_url(world)).status_code == 404
    assert other.post(_url(world), data={"message": "x"}).status_code == 404
    for who in ("lib_a", "cc_a"):
        assert _client(app, world.emails[who]).post(_url(world), data={"message": "x"}).status_code == 404
    assert _client(app, world.emails["coord_a"]).get("/regio/samenwerking/bestaat-niet/opvolgen").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(Reminder.id))) == 0
        assert db.session.scalar(select(func.count(Notification.id))) == 0


def test_a_too_long_message_is_refused_and_kept(world, app: Flask) -> None:
    _stall(app, world)
    response = _client(app, world.emails["coord_a"]).post(_url(world), data={"message": "x" * 1001})
    assert response.status_code == 422 and "Maximaal 1000 tekens" in response.get_data(as_text=True)
    assert "x" * 1001 in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Reminder.id))) == 0


def test_a_reminder_without_reaction_marks_the_partnership(world, app: Flask) -> None:
    _stall(app, world)
    coordinator = _client(app, world.emails["coord_a"])
    coordinator.post(_url(world), data={"message": ""})
    assert "Geen reactie op de herinnering" not in coordinator.get("/regio").get_data(as_text=True)
    with app.app_context():  # 15 days later, still nothing happened
        db.session.execute(update(Reminder).values(created_at=utcnow() - timedelta(days=15)))
        db.session.commit()
    assert "Geen reactie op de herinnering" in coordinator.get("/regio").get_data(as_text=True)
    app.config["REMINDER_FOLLOW_UP_DAYS"] = 20
    assert "Geen reactie op de herinnering" not in coordinator.get("/regio").get_data(as_text=True)
    app.config["REMINDER_FOLLOW_UP_DAYS"] = 14
    _stall(app, world, days=10)  # activity after the reminder: no longer stalled, no mark
    assert "Geen reactie op de herinnering" not in coordinator.get("/regio").get_data(as_text=True)


@pytest.mark.postgres
def test_a_reminder_works_under_row_level_security(world, app: Flask) -> None:
    """A coordinator scope writes no notifications for other organisations' people: the
    reminder's notifications are the system's (rls.system_write), and stay unreadable to it."""
    from sqlalchemy import text


    _stall(app, world)
    from tests.test_rls import secured_app

    rls_app = secured_app()
    coordinator = rls_app.test_client()
    login(coordinator, world.emails["coord_a"])
    assert coordinator.post(_url(world), data={"message": "Even bellen?"}).status_code == 302
    assert "door Coord" in coordinator.get(_url(world)).get_data(as_text=True)
    library = rls_app.test_client()
    login(library, world.emails["lib_a"])
    assert "Herinnering van Coördinatie A" in library.get("/meldingen").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "reminder")) == 2
        coord_id = db.session.execute(text("SELECT id FROM organisations WHERE kind = 'coordination' "
                                           "ORDER BY id LIMIT 1")).scalar()
    with rls_app.app_context(), db.engine.connect() as conn:
        conn.execute(text('SET ROLE "stappenplan_app"'))
        conn.execute(text("SELECT set_config('app.org_id', :o, true)"), {"o": str(coord_id)})
        assert conn.execute(text("SELECT count(*) FROM notifications WHERE kind = 'reminder'")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM reminders")).scalar() == 1
        conn.rollback()


def test_the_coordinators_start_page_names_stalled_partnerships_and_unanswered_reminders(
        world, app: Flask) -> None:
    from tests.formdata import text_of

    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    _stall(app, world)
    coordinator = _client(app, world.emails["coord_a"])
    page = text_of(coordinator.get("/start").get_data(as_text=True))
    assert "1 samenwerking ligt stil" in page and "Opvolgen" in page
    assert "Geen reactie op de herinnering" not in page
    assert coordinator.post(_url(world), data={"message": "Bellen?"}).status_code == 302
    with app.app_context():  # the reminder was sent long ago and nothing happened since
        db.session.execute(update(Reminder).values(created_at=utcnow() - timedelta(days=20)))
        db.session.commit()
    _stall(app, world, days=30)
    page = text_of(coordinator.get("/start").get_data(as_text=True))
    assert "1 reageerde niet op een herinnering." in page and "Geen reactie op de herinnering" in page
