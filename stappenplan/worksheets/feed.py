"""The change feed and presence: shared state in the database, for every app process."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, Select, and_, bindparam, delete, or_, select, tuple_, update
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
    row = db.session.scalar(_presence_statement(), {"instance": sheet.instance.id, "user": user.id})
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


def keep_present(pairs: Sequence[tuple[int, int]]) -> int:
    """Renew the presence rows of people whose page has a stream open ((step instance id,
    user id) pairs, reported by the stream service every ~20 s): they are here although
    their page no longer polls. Rows that are gone (a "left" from another tab) come back.
    Returns how many pairs were reported."""
    now = utcnow()
    for chunk in _chunks(sorted(set(pairs))):
        wanted = set(chunk)
        found = {(i, u) for i, u in db.session.execute(select(Presence.step_instance_id, Presence.user_id)
                                                       .where(_pairs_clause(wanted)))}
        if found:
            db.session.execute(update(Presence).where(_pairs_clause(found)).values(seen_at=now)
                               .execution_options(synchronize_session=False))
        for instance_id, user_id in sorted(wanted - found):
            try:
                with uow.savepoint():
                    db.session.add(Presence(step_instance_id=instance_id, user_id=user_id, question=None,
                                            seen_at=now))
                    db.session.flush()
            except IntegrityError:  # the instance or the user is gone, or the row came meanwhile
                pass
    return len(set(pairs))


def forget(pairs: Sequence[tuple[int, int]]) -> None:
    """These people closed the worksheet (their stream ended): out of "Ook op dit
    werkblad" now, not after the minute of PRESENCE_WINDOW. The database announces it."""
    for chunk in _chunks(sorted(set(pairs))):
        db.session.execute(delete(Presence).where(_pairs_clause(set(chunk)))
                           .execution_options(synchronize_session=False))


def _chunks(pairs: list[tuple[int, int]], size: int = 200) -> Iterable[list[tuple[int, int]]]:
    for start in range(0, len(pairs), size):
        yield pairs[start:start + size]


def _pairs_clause(pairs: set[tuple[int, int]]) -> Any:
    """(instance, user) IN pairs; SQLite gets the same as ORs of ANDs."""
    if db.engine.dialect.name == "postgresql":
        return tuple_(Presence.step_instance_id, Presence.user_id).in_(sorted(pairs))
    return or_(*(and_(Presence.step_instance_id == i, Presence.user_id == u) for i, u in sorted(pairs)))


def others(sheet: Sheet, user: User) -> list[Present]:
    """Everyone else seen on this worksheet in the last minute."""
    since = utcnow() - PRESENCE_WINDOW
    rows = db.session.execute(_others_statement(),
                              {"instance": sheet.instance.id, "since": since, "user": user.id}).all()
    parties = _parties(sheet, [r.id for r in rows])
    return [Present(r.name, parties.get(r.id), r.question) for r in rows]


# The worksheet page's presence statements, built once per process with bind parameters
# (see ``access.user_by_public_id``).


@functools.cache
def _presence_statement() -> Select:
    return select(Presence).where(Presence.step_instance_id == bindparam("instance"),
                                  Presence.user_id == bindparam("user"))


@functools.cache
def _others_statement() -> Select:
    return (select(User.name, User.id, Presence.question)
            .join(Presence, Presence.user_id == User.id)
            .where(Presence.step_instance_id == bindparam("instance"),
                   Presence.seen_at >= bindparam("since", type_=Presence.__table__.c.seen_at.type),
                   Presence.user_id != bindparam("user"))
            .order_by(User.name, User.id))  # the same order as with_presence: one signature for both


@functools.cache
def _memberships_statement() -> Select:
    return select(Membership.user_id, Membership.organisation_id).where(
        Membership.user_id.in_(bindparam("users", expanding=True)))


def _parties(sheet: Sheet, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    p = sheet.partnership
    rows = db.session.execute(_memberships_statement(), {"users": user_ids}).all()
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


def presence_params(user_id: int) -> dict[str, Any]:
    """The values ``with_presence`` needs: the viewer, and the start of the window."""
    return {"viewer": user_id, "presence_since": utcnow() - PRESENCE_WINDOW}


def with_presence(stmt: Select[Any], instance: Any) -> Select[Any]:
    """For ``access.sheet_probe``: join the worksheet's presence rows into its statement -
    everyone seen in the window, and the viewer's own row however old - in the order of
    ``others``. One row per presence row; one row of NULLs when there is none."""
    presence, users = Presence.__table__, User.__table__
    return (
        stmt.add_columns(presence.c.user_id.label("presence_user"), presence.c.question.label("presence_question"),
                         presence.c.seen_at.label("presence_seen"), users.c.name.label("presence_name"))
        .outerjoin(presence, (presence.c.step_instance_id == instance.c.id)
                   & ((presence.c.seen_at >= bindparam("presence_since"))
                      | (presence.c.user_id == bindparam("viewer"))))
        .outerjoin(users, users.c.id == presence.c.user_id)
        .order_by(users.c.name, users.c.id)
    )


def quiet_signature(rows: Sequence[Row[Any]], user_id: int, editing: str | None,
                    party: bool) -> tuple[str, bool] | None:
    """From ``with_presence``'s rows: the presence signature of the others, and whether
    the viewer's own row is older than PRESENCE_REFRESH (``refresh`` renews it). None
    when this poll must go the full way because a party's own row is missing or names
    another field (``touch`` checks the field and writes it)."""
    now = utcnow()
    since = now - PRESENCE_WINDOW
    present: list[Present] = []
    own = None
    for row in rows:
        if row.presence_user is None:
            continue
        if row.presence_user == user_id:
            own = row
        elif row.presence_seen >= since:
            present.append(Present(row.presence_name, None, row.presence_question))
    if not party:
        return signature(present), False
    if own is None or own.presence_question != editing:
        return None
    return signature(present), now - own.presence_seen > PRESENCE_REFRESH


def refresh(instance_id: int, user_id: int) -> None:
    """Renew the viewer's presence row (same field), as ``touch`` would."""
    db.session.execute(
        update(Presence).where(Presence.step_instance_id == instance_id, Presence.user_id == user_id)
        .values(seen_at=utcnow()).execution_options(synchronize_session=False)
    )


def signed_token(parties: Iterable[str]) -> str:
    """The parties that approved a step, as the worksheet's poller sends it back: an open
    page learns of a partner's approval (or its withdrawal) from a change of this token."""
    return ".".join(sorted(parties))


def etag(status: str, content_version: int, signed: str, presence: str | None) -> str:
    """What a poller has seen: the step's status, the content's sequence number, who
    approved it and who else is here. The same tag means nothing new for this viewer (304)."""
    return f"{content_version}-{status}-{signed}-{presence}"

