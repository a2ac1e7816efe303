"""Comment threads per question, with resolve/reopen and mentions by email."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from ..accounts.models import User
from ..audit.services import record
from ..core import signals
from ..core.errors import ServiceError
from ..extensions import db, utcnow
from ..i18n import gettext as _
from ..organisations.models import Membership
from ..workflow.answers import has_control_characters
from .models import Comment, CommentMention, CommentThread
from .services import Sheet, bump_sequence

MAX_COMMENT = 5000


def audience_org_ids(sheet: Sheet) -> list[int]:
    """Who may read comments: both organisations on shared steps, the owner on own steps."""
    p = sheet.partnership
    if sheet.step.mode == "each":
        return [p.library_id if sheet.instance.slot == "library" else p.childcare_id]
    return [p.library_id, p.childcare_id]


def mentionable(sheet: Sheet) -> list[User]:
    """Everyone who may read the step's comments: the only people a comment can name."""
    return list(
        db.session.scalars(
            select(User).join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id.in_(audience_org_ids(sheet))).order_by(User.name)
        )
    )


def threads_for(sheet: Sheet) -> dict[str, CommentThread]:
    return {
        t.question: t
        for t in db.session.scalars(
            select(CommentThread).where(CommentThread.step_instance_id == sheet.instance.id)
        )
    }


def thread_for(sheet: Sheet, key: str) -> CommentThread | None:
    return db.session.scalar(
        select(CommentThread).where(
            CommentThread.step_instance_id == sheet.instance.id, CommentThread.question == key
        )
    )


def add_comment(sheet: Sheet, user: User, key: str, body: str, mention_ids: list[str]) -> Comment:
    if sheet.party is None:
        raise ServiceError(_("Je kunt hier alleen meelezen."))
    if sheet.question(key) is None:
        raise ServiceError(_("Deze vraag bestaat niet in dit werkblad."))
    body = (body or "").strip()
    if not body:
        raise ServiceError(_("Schrijf eerst een opmerking."), field="body")
    if len(body) > MAX_COMMENT:
        raise ServiceError(_("Een opmerking mag maximaal 5.000 tekens hebben."), field="body")
    if has_control_characters(body):
        raise ServiceError(_("Deze tekst bevat een onzichtbaar stuurteken. Haal het weg en probeer het opnieuw."),
                           field="body")
    people = mentionable(sheet)
    allowed = {u.public_id: u for u in people}
    unknown = [m for m in mention_ids if m not in allowed]
    if unknown:
        raise ServiceError(_("Je kunt alleen mensen noemen die dit werkblad mogen zien."), field="mentions")
    # "@Full Name" in the text names a person as a ticked box does (unknown names are just text).
    mention_ids = [*mention_ids, *(u.public_id for u in named_in(body, people))]
    thread = thread_for(sheet, key)
    if thread is None:
        thread = CommentThread(step_instance_id=sheet.instance.id, question=key)
        db.session.add(thread)
        db.session.flush()
    elif thread.resolved_at is not None:
        thread.resolved_at = None  # a new comment reopens the conversation
        thread.resolved_by_id = None
    comment = Comment(thread_id=thread.id, author_id=user.id, party=sheet.party, body=body)
    db.session.add(comment)
    db.session.flush()
    mentioned = [allowed[m] for m in dict.fromkeys(mention_ids) if allowed[m].id != user.id]
    for person in mentioned:
        db.session.add(CommentMention(comment_id=comment.id, user_id=person.id))
    record("comment_added", actor_id=user.id, organisation_id=user.organisation.id,
           partnership_id=sheet.partnership.id, step=sheet.step.number, question=key,
           mentions=len(mentioned))
    announce_to_open_pages(sheet)
    for person in mentioned:
        signals.mentioned.send(sheet, person=person, author=user, key=key, body=body)
    signals.commented.send(sheet, comment=comment, author=user, key=key, body=body, mentioned=mentioned)
    return comment


def named_in(body: str, people: Iterable[User]) -> list[User]:
    """The people whose full name follows an "@" in ``body`` (case-insensitive; at each "@"
    the longest name that ends at a word boundary wins, so "@Lotte de Vries" never also
    names a "Lotte"; an "@" inside a word, as in an e-mail address, names no one)."""
    by_name: dict[str, list[User]] = {}
    for person in people:
        name = " ".join((person.name or "").split()).casefold()
        if name:
            by_name.setdefault(name, []).append(person)
    longest_first = sorted(by_name, key=len, reverse=True)
    text = body.casefold()
    found: dict[int, User] = {}
    at = text.find("@")
    while at != -1:
        rest = text[at + 1:]
        for name in (longest_first if at == 0 or not _word_char(text[at - 1]) else ()):
            if rest.startswith(name) and not (len(rest) > len(name) and _word_char(rest[len(name)])):
                found.update((u.id, u) for u in by_name[name])
                break
        at = text.find("@", at + 1)
    return list(found.values())


def _word_char(char: str) -> bool:
    return char.isalnum() or char in "_-"


def set_resolved(sheet: Sheet, user: User, key: str, resolved: bool) -> CommentThread:
    if sheet.party is None:
        raise ServiceError(_("Je kunt hier alleen meelezen."))
    thread = thread_for(sheet, key)
    if thread is None:
        raise ServiceError(_("Er zijn nog geen opmerkingen bij deze vraag."))
    thread.resolved_at = utcnow() if resolved else None
    thread.resolved_by_id = user.id if resolved else None
    record("comments_resolved" if resolved else "comments_reopened", actor_id=user.id,
           organisation_id=user.organisation.id, partnership_id=sheet.partnership.id,
           step=sheet.step.number, question=key)
    announce_to_open_pages(sheet)
    return thread


def announce_to_open_pages(sheet: Sheet) -> None:
    """A comment is news for the worksheet's open pages: the change feed's sequence moves on
    (no answer changes), and the feed sends the questions' comment counts again."""
    bump_sequence(sheet.instance.id)
