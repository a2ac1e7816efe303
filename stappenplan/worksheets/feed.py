"""The change feed and presence: shared state in the database, for every app process."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User
from ..core import uow
from ..extensions import db, utcnow
from ..organisations.models import Membership
from .models import Answer, Presence
from .services import Sheet

PRESENCE_WINDOW = timedelta(seconds=60)
# Refresh one's own presence row at most this often, unless the field changes.
PRESENCE_REFRESH = timedelta(seconds=20)


@dataclass
class Present:
    name: str
    party: str | None
    question: str | None


def touch(sheet: Sheet, user: User, question: str | None) -> None:
    """Record that ``user`` has this worksheet open (and is in ``question``)."""
    now = utcnow()
    question = (question or None) if question and sheet.question(question) else None
    row = db.session.scalar(
        select(Presence).where(Presence.step_instance_id == sheet.instance.id, Presence.user_id == user.id)
    )
    if row is None:
        try:
            with uow.savepoint():
                db.session.add(Presence(step_instance_id=sheet.instance.id, user_id=user.id, question=question,
                                        seen_at=now))
                db.session.flush()
        except IntegrityError:  # another tab of the same user got there first
            pass
        return
    if row.question != question or now - row.seen_at > PRESENCE_REFRESH:
        db.session.execute(
            update(Presence).where(Presence.id == row.id).values(question=question, seen_at=now)
            .execution_options(synchronize_session=False)
        )


def others(sheet: Sheet, user: User) -> list[Present]:
    """Everyone else seen on this worksheet in the last minute."""
    since = utcnow() - PRESENCE_WINDOW
    rows = db.session.execute(
        select(User.name, User.id, Presence.question)
        .join(Presence, Presence.user_id == User.id)
        .where(Presence.step_instance_id == sheet.instance.id, Presence.seen_at >= since,
               Presence.user_id != user.id)
        .order_by(User.name)
    ).all()
    parties = _parties(sheet, [r.id for r in rows])
    return [Present(r.name, parties.get(r.id), r.question) for r in rows]


def _parties(sheet: Sheet, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    p = sheet.partnership
    rows = db.session.execute(
        select(Membership.user_id, Membership.organisation_id).where(Membership.user_id.in_(user_ids))
    ).all()
    return {uid: ("library" if oid == p.library_id else "childcare" if oid == p.childcare_id else "")
            for uid, oid in rows}


def signature(present: list[Present]) -> str:
    text = "|".join(f"{p.name}:{p.question or ''}" for p in present)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def changed_since(sheet: Sheet, seq: int) -> list[Answer]:
    """Answers written after the page saw content version ``seq``."""
    return list(
        db.session.scalars(
            select(Answer).where(Answer.step_instance_id == sheet.instance.id, Answer.instance_seq > seq)
        )
    )
