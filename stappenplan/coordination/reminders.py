"""Following up a stalled partnership: its contact people, and reminders from the region.

A reminder goes to the admins of both organisations, in the app and by e-mail (the
notifications package reacts to ``signals.region_reminder``), and is logged in the
partnership's activity. The dashboard shows the last reminder per partnership; one that
was followed by no activity for ``REMINDER_FOLLOW_UP_DAYS`` marks the partnership.

A second reminder within ``REPEAT_HOURS`` of the last one is sent only when the coordinator
confirms it: two coordinators of a region, or one who sends twice, would otherwise mail
the same people again within the hour.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, bindparam, func, select

from ..accounts.models import User
from ..audit.services import record
from ..core import signals
from ..core.errors import ServiceError
from ..extensions import db, utcnow
from ..i18n import gettext as _
from ..organisations.models import Membership, Organisation
from ..partnerships.models import Partnership
from .models import Reminder

MESSAGE_MAX = 1000
#: A reminder sooner than this after the previous one needs a confirmation.
REPEAT_HOURS = 24


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    organisation: str
    party: str


@dataclass(frozen=True)
class SentReminder:
    at: datetime
    by: str
    message: str
    #: The sender's id (None once the account is gone): "je stuurde" to the sender themselves.
    by_id: int | None = None


@dataclass(frozen=True)
class LastReminder:
    """The newest reminder of a partnership, as the stalled list shows it."""

    at: datetime
    #: Reminded at least REMINDER_FOLLOW_UP_DAYS ago and nothing has happened since.
    unanswered: bool


def contacts(partnership: Partnership) -> list[Contact]:
    """The admins of both organisations (the people a coordinator would call), one query."""
    rows = db.session.execute(
        select(User.name, User.email, Membership.organisation_id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id.in_([partnership.library_id, partnership.childcare_id]),
               Membership.role == "admin")
        .order_by(Membership.organisation_id, User.name)
    ).all()
    names = {partnership.library_id: (partnership.library.name, "library"),
             partnership.childcare_id: (partnership.childcare.name, "childcare")}
    return [Contact(name, email, *names[org_id]) for name, email, org_id in rows]


def history(partnership: Partnership) -> list[SentReminder]:
    rows = db.session.execute(
        select(Reminder.created_at, User.name, Reminder.message, User.id)
        .outerjoin(User, User.id == Reminder.sent_by_id)
        .where(Reminder.partnership_id == partnership.id)
        .order_by(Reminder.created_at.desc(), Reminder.id.desc())
    ).all()
    return [SentReminder(at, name or _("verwijderde gebruiker"), message, user_id)
            for at, name, message, user_id in rows]


def recent(sent: list[SentReminder]) -> SentReminder | None:
    """Of a partnership's reminders (``history``, newest first): the newest, if it was sent
    in the last ``REPEAT_HOURS``."""
    return sent[0] if sent and sent[0].at > utcnow() - timedelta(hours=REPEAT_HOURS) else None


def send(actor: User, partnership: Partnership, message: str, again: bool = False) -> Reminder:
    """One reminder per call: stored, logged in the partnership's activity, and announced.
    Within ``REPEAT_HOURS`` of the previous one only with ``again`` (the confirmation)."""
    message = (message or "").strip()
    if len(message) > MESSAGE_MAX:
        raise ServiceError(_("Het bericht is te lang (maximaal %(n)d tekens).", n=MESSAGE_MAX), field="message")
    org: Organisation = actor.organisation
    # The region's reminders one at a time (a PostgreSQL row lock on the coordination
    # organisation): two coordinators pressing at once, the second sees the first's.
    db.session.execute(select(Organisation.id).where(Organisation.id == org.id).with_for_update()).all()
    if not again and (last := recent(history(partnership))) is not None:
        if last.by_id == actor.id:
            raise ServiceError(_("Je stuurde minder dan een dag geleden al een herinnering. Vink „Toch nog een "
                                 "herinnering sturen” aan als je er nog een wilt sturen."), field="again")
        raise ServiceError(_("%(name)s stuurde minder dan een dag geleden al een herinnering. Vink „Toch nog een "
                             "herinnering sturen” aan als je er nog een wilt sturen.", name=last.by), field="again")
    reminder = Reminder(partnership_id=partnership.id, coordination_id=org.id, sent_by_id=actor.id, message=message)
    db.session.add(reminder)
    db.session.flush()
    record("region_reminder", actor_id=actor.id, organisation_id=org.id, partnership_id=partnership.id,
           region=org.name, with_message=bool(message))
    signals.region_reminder.send(partnership, coordinator=actor, organisation=org, message=message,
                                 reminder_id=reminder.id)
    return reminder


def follow_up_days() -> int:
    return int(current_app.config.get("REMINDER_FOLLOW_UP_DAYS", 14))


@functools.cache
def _last_reminders_statement() -> Select:
    """The dashboard's newest reminder per partnership, built once per process with a bind
    parameter (see ``access.user_by_public_id``)."""
    return (select(Partnership.public_id, func.max(Reminder.created_at))
            .join(Partnership, Partnership.id == Reminder.partnership_id)
            .where(Partnership.public_id.in_(bindparam("partnerships", expanding=True)))
            .group_by(Partnership.public_id))


def last_reminders(partnerships: list[tuple[str, datetime]]) -> dict[str, LastReminder]:
    """The newest reminder of each (partnership public id, its last activity): one query."""
    if not partnerships:
        return {}
    activity = dict(partnerships)
    rows = db.session.execute(_last_reminders_statement(), {"partnerships": list(activity)}).all()
    limit = utcnow() - timedelta(days=follow_up_days())
    return {pid: LastReminder(at, unanswered=at <= limit and activity[pid] <= at) for pid, at in rows}
