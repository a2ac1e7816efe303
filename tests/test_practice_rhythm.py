"""The year's rhythm: reminders of what is due (frozen clock, never twice a week per
item), the weekly overview, and each person's calendar feed (parsed with icalendar)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.extensions import db, local_today
from stappenplan.mail import outbox
from stappenplan.notifications import services as notifications
from stappenplan.notifications.models import Notification, NotificationPreference
from stappenplan.partnerships.models import Partnership
from stappenplan.practice import services as practice
from stappenplan.practice.models import PracticeRecord
from tests.factories import driver as _driver
from tests.factories import login

TODAY = local_today()
MEMBERS = 4  # two people in each organisation of the test world


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _reminders(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Notification.title).where(Notification.kind == "reminder")
                                       .order_by(Notification.id)))


def _run(app: Flask, day: date) -> int:
    with app.app_context():
        return notifications.due_reminders(day)


def _agreed_with_moments(app: Flask, world) -> None:
    """Steps 6 and 7 agreed (demo: "Liedjesmiddag" in 21 days, an action due in 5 days and
    one in 60), step 8 open with an evaluation moment in 6 days."""
    with app.app_context():
        d = _driver(world)
        d.through(7)
        d.fill_joint(8)


def test_what_is_due_reaches_both_organisations_and_never_twice_a_week(world, app: Flask) -> None:
    _agreed_with_moments(app, world)
    assert _run(app, TODAY) == 2 * MEMBERS  # the action due in 5 days and the evaluation moment in 6
    titles = _reminders(app)
    assert sum("Deadline" in t and "Training interactief voorlezen" in t for t in titles) == MEMBERS
    assert sum(t.startswith("Evaluatiemoment") and "Halfjaarlijkse terugblik" in t for t in titles) == MEMBERS
    assert _run(app, TODAY) == 0  # run twice the same day: nothing new
    assert _run(app, TODAY + timedelta(days=3)) == 0  # within the week: not again
    # A week later the action is overdue and still open: reminded again, once.
    assert _run(app, TODAY + timedelta(days=7)) == MEMBERS
    assert sum("Actie over tijd" in t for t in _reminders(app)) == MEMBERS
    # The activity's date passed without anyone marking it: "Is it held?"
    later = TODAY + timedelta(days=22)
    made = _run(app, later)
    assert any("Is Liedjesmiddag geweest?" in t for t in _reminders(app)) and made >= MEMBERS
    # Marked held (and the action done): nothing more about them, whatever the date.
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        user = db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))
        for record in practice.records_of(p):
            if record.source_row == "act-2":
                assert practice.update(record, user, "childcare", {
                    "status": "held", "date": (TODAY + timedelta(days=21)).isoformat(), "parents": "",
                    "children": "", "note": ""}, record.version).ok is False  # the future: refused
                record.date = TODAY - timedelta(days=1)  # as if it took place yesterday
                db.session.flush()
                assert practice.update(record, user, "childcare", {
                    "status": "held", "date": record.date.isoformat(), "parents": "4", "children": "",
                    "note": ""}, record.version).ok
            if record.kind == "action":
                assert practice.update(record, user, "childcare", {
                    "status": "done", "who": record.who or "", "date": record.date.isoformat() if record.date else "",
                    "note": ""}, record.version).ok
    assert _run(app, later + timedelta(days=14)) == 0


def test_the_reminders_go_on_after_the_round_is_closed(world, app: Flask) -> None:
    with app.app_context():
        _driver(world).through(8)  # step 8 approved: the round is closed
    assert _run(app, TODAY) == 2 * MEMBERS  # the practice goes on: action due, evaluation moment


def test_a_weekly_choice_gets_one_overview_on_monday(world, app: Flask) -> None:
    _agreed_with_moments(app, world)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        notifications.set_preferences(user, {"reminder": "weekly"})
    with app.app_context():
        outbox().clear()
    _run(app, TODAY)
    with app.app_context():
        mine = db.session.scalars(select(Notification).join(User, User.id == Notification.user_id)
                                  .where(User.email == world.emails["lib_a"], Notification.kind == "reminder")).all()
        assert len(mine) == 2 and {n.mode for n in mine} == {"weekly"}
        assert world.emails["lib_a"] not in [m.to for m in outbox()]  # no mail right away
    monday = TODAY + timedelta(days=(7 - TODAY.weekday()) % 7 or 7)
    tuesday = monday + timedelta(days=1)
    def weekly_to_lib_a() -> list:
        return [m for m in outbox() if m.to == world.emails["lib_a"] and "overzicht van deze week" in m.subject]

    # (Others may get their daily overview, e.g. of the partner's comments: only lib_a's weekly one counts.)
    with app.app_context():
        notifications.send_digests(tuesday - timedelta(days=7))
        assert weekly_to_lib_a() == []  # not a Monday: nothing weekly
        notifications.send_digests(monday)
        notifications.send_digests(tuesday)
    with app.app_context():
        mails = weekly_to_lib_a()
        assert len(mails) == 1
        assert "Training interactief voorlezen" in mails[0].body


def test_the_weekly_choice_is_offered_and_kept(world, app: Flask) -> None:
    client = _client(app, world.emails["cc_a"])
    page = client.get("/account/meldingen").get_data(as_text=True)
    assert 'value="weekly"' in page and "In het wekelijkse overzicht" in page
    assert client.post("/account/meldingen", data={"reminder": "weekly"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(NotificationPreference.mode).where(
            NotificationPreference.kind == "reminder")) == "weekly"
    refused = client.post("/account/meldingen", data={"reminder": "monthly"}, follow_redirects=True)
    assert "wekelijks overzicht" in refused.get_data(as_text=True)


def _address(page: str) -> str:
    match = re.search(r'id="agenda-adres" type="text" readonly value="([^"]+)"', page)
    assert match, "no calendar address on the account page"
    return match.group(1).split("://", 1)[1].split("/", 1)[1]


def test_a_calendar_feed_holds_each_dated_item_once_and_a_renewed_address_ends_the_old(world, app: Flask) -> None:
    _agreed_with_moments(app, world)
    lib = _client(app, world.emails["lib_a"])
    assert 'id="agenda-adres"' not in lib.get("/account").get_data(as_text=True)
    assert lib.post("/account/agenda").status_code == 302
    first = "/" + _address(lib.get("/account").get_data(as_text=True))
    anonymous = app.test_client()  # a calendar program has no session: the address is the key
    response = anonymous.get(first)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    events = calendar.walk("VEVENT")
    uids = [str(e["UID"]) for e in events]
    assert len(uids) == len(set(uids))
    with app.app_context():
        dated = db.session.scalars(select(PracticeRecord.public_id).where(
            PracticeRecord.kind.in_(("activity", "action")), PracticeRecord.date.is_not(None))).all()
    assert {u.split("@")[0] for u in uids if not u.startswith("evaluatie-")} == set(dated)
    assert sum(u.startswith("evaluatie-") for u in uids) == 1
    summaries = {str(e["SUMMARY"]) for e in events}
    assert "Activiteit: Liedjesmiddag" in summaries and "Evaluatiemoment: Halfjaarlijkse terugblik" in summaries
    liedjes = next(e for e in events if str(e["SUMMARY"]) == "Activiteit: Liedjesmiddag")
    assert liedjes.decoded("DTSTART") == TODAY + timedelta(days=21)
    # Another organisation's person sees none of it.
    other = _client(app, world.emails["lib_b"])
    other.post("/account/agenda")
    other_feed = Calendar.from_ical(anonymous.get("/" + _address(other.get("/account").get_data(as_text=True))).data)
    assert not {str(e["UID"]) for e in other_feed.walk("VEVENT")} & set(uids)
    # Renewed: the old address is gone, the new one works.
    lib.post("/account/agenda")
    second = "/" + _address(lib.get("/account").get_data(as_text=True))
    assert second != first and anonymous.get(first).status_code == 404 and anonymous.get(second).status_code == 200
    lib.post("/account/agenda/uit")
    assert anonymous.get(second).status_code == 404
    assert anonymous.get("/agenda/" + "x" * 43 + ".ics").status_code == 404
    # A coordinator has no calendar of partnerships.
    assert _client(app, world.emails["coord_a"]).post("/account/agenda").status_code in (403, 404)
