"""A person's calendar feed (iCalendar, RFC 5545) of the dates in their partnerships.

Each person may ask for a secret address; a calendar program subscribes to it and shows
the activities of step 6 (practice records), the actions' due dates (step 7) and the
evaluation moments of step 8 of the newest round of every partnership of their
organisation. The address is the only key: renewing it makes the old one answer 404.
Every item has a stable UID, so a calendar updates an event instead of adding it twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from icalendar import Calendar, Event
from sqlalchemy import func, select

from ..accounts.models import User
from ..audit.services import record as audit
from ..core.web import external_url
from ..extensions import db, utcnow
from ..i18n import gettext as _
from ..partnerships.models import Partnership
from ..workflow import services as workflow
from ..workflow.models import Cycle, StepInstance
from .models import PracticeRecord

EVALUATION_STEP, EVALUATION_QUESTION = 8, "evaluation_moments"
#: Dates further back than this are left out (a calendar need not carry years of history).
HISTORY = timedelta(days=400)


def renew(user: User) -> str:
    """A new secret address for ``user``'s calendar; the previous one stops working."""
    user.calendar_token = secrets.token_urlsafe(32)
    audit("calendar_renewed", actor_id=user.id, organisation_id=user.organisation.id if user.organisation else None)
    db.session.flush()
    return user.calendar_token


def stop(user: User) -> None:
    user.calendar_token = None
    audit("calendar_stopped", actor_id=user.id, organisation_id=user.organisation.id if user.organisation else None)
    db.session.flush()


def address(user: User) -> str | None:
    return external_url("calendar.feed_ics", token=user.calendar_token) if user.calendar_token else None


def owner(token: str) -> User | None:
    """The person whose feed this secret address is (None: no such address, or renewed)."""
    if not 20 <= len(token) <= 64:
        return None
    user = db.session.scalar(select(User).where(User.calendar_token == token))  # users: no row-level policies
    if user is None or user.membership is None or not secrets.compare_digest(user.calendar_token or "", token):
        return None
    return user


@dataclass(frozen=True)
class Item:
    uid: str
    day: date
    summary: str
    description: str
    url: str


def items_for(org_id: int, today: date) -> list[Item]:
    """The dated items of the newest round of every partnership of the organisation, once
    each: three statements, however many partnerships."""
    partnerships = {p.id: p for p in db.session.scalars(select(Partnership).where(
        (Partnership.library_id == org_id) | (Partnership.childcare_id == org_id)))}
    if not partnerships:
        return []
    newest = (select(Cycle.partnership_id, func.max(Cycle.number).label("number"))
              .where(Cycle.partnership_id.in_(partnerships)).group_by(Cycle.partnership_id).subquery())
    since = today - HISTORY
    records = db.session.scalars(
        select(PracticeRecord).join(Cycle, Cycle.id == PracticeRecord.cycle_id)
        .join(newest, (newest.c.partnership_id == Cycle.partnership_id) & (newest.c.number == Cycle.number))
        .where(PracticeRecord.kind.in_(("activity", "action")), PracticeRecord.date.is_not(None),
               PracticeRecord.date >= since, PracticeRecord.status.not_in(("cancelled", "dropped")))
        .order_by(PracticeRecord.date, PracticeRecord.id)).all()
    evaluations = {instance_id: (cycle_public_id, partnership_id) for instance_id, cycle_public_id, partnership_id
                   in db.session.execute(
        select(StepInstance.id, Cycle.public_id, Cycle.partnership_id)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .join(newest, (newest.c.partnership_id == Cycle.partnership_id) & (newest.c.number == Cycle.number))
        .where(StepInstance.step == EVALUATION_STEP, StepInstance.slot == "joint", StepInstance.status != "locked"))}
    moments = [(value, *evaluations[instance_id])
               for instance_id, key, value in workflow.answers_of(list(evaluations)) if key == EVALUATION_QUESTION]
    host = _uid_host()
    items: list[Item] = []
    for record in records:
        p = partnerships[record.partnership_id]
        pair = f"{p.library.name} & {p.childcare.name}"
        url = external_url("practice.show", partnership_id=p.public_id) + f"#praktijk-{record.public_id}"
        assert record.date is not None
        if record.kind == "activity":
            summary = _("Activiteit: %(what)s", what=record.title)
        else:
            summary = _("Deadline actie: %(what)s", what=record.title)
        items.append(Item(f"{record.public_id}@{host}", record.date, summary, pair, url))
    for value, cycle_public_id, partnership_id in moments:
        p = partnerships[partnership_id]
        for row in value if isinstance(value, list) else []:
            cells = (row.get("cells") or {}) if isinstance(row, dict) else {}
            try:
                day = date.fromisoformat(cells["date"]) if isinstance(cells.get("date"), str) else None
            except ValueError:
                day = None
            if day is None or day < since:
                continue
            url = external_url("worksheets.show", partnership_id=p.public_id, step=EVALUATION_STEP, slot="samen")
            items.append(Item(f"evaluatie-{cycle_public_id}-{row.get('id')}@{host}", day,
                              _("Evaluatiemoment: %(what)s", what=cells.get("topic") or _("evaluatie")),
                              f"{p.library.name} & {p.childcare.name}", url))
    return sorted(items, key=lambda i: (i.day, i.uid))


def _uid_host() -> str:
    """The domain in every UID: stable for one installation, whatever its address."""
    return str(current_app.config.get("MAIL_ID_DOMAIN") or "stappenplan.local")


def render(items: list[Item], name: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Stappenplan//Praktijk//NL")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    stamp = utcnow()
    for item in items:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", item.day)
        event.add("dtend", item.day + timedelta(days=1))
        event.add("summary", item.summary)
        event.add("description", f"{item.description}\n{item.url}")
        event.add("url", item.url)
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()
