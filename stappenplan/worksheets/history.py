"""The history of one answer, with the differences between versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..accounts.models import User
from ..extensions import db
from ..i18n import gettext as _
from ..workflow.definition import Question
from .display import answer_text, diff_tokens
from .models import Answer, AnswerRevision
from .services import Sheet


@dataclass
class Entry:
    revision_id: int
    version: int
    who: str
    party: str | None
    kind: str
    at: datetime
    saves: int
    text: str
    diff: list[tuple[str, str]]
    current: bool


def entries(sheet: Sheet, question: Question, goals: dict[str, str] | None = None) -> list[Entry]:
    """Newest first; each with its word-level difference to the version before."""
    rows = db.session.execute(
        select(AnswerRevision, Answer.version)
        .join(Answer, Answer.id == AnswerRevision.answer_id)
        .where(Answer.step_instance_id == sheet.instance.id, Answer.question == question.key)
        .order_by(AnswerRevision.id)
    ).all()
    result: list[Entry] = []
    previous = ""
    for revision, current_version in rows:
        text = answer_text(question, revision.value, goals)
        result.append(Entry(
            revision_id=revision.id, version=revision.version,
            who=revision.user.name if revision.user else _("verwijderde gebruiker"),
            party=revision.party, kind=revision.kind, at=revision.updated_at, saves=revision.saves,
            text=text, diff=diff_tokens(previous, text), current=revision.version == current_version,
        ))
        previous = text
    result.reverse()
    return result




def last_other_editor(sheet: Sheet, question: Question, user: object) -> str | None:
    """The name of the person whose change a merge combined with (the newest other editor)."""
    return db.session.scalar(
        select(User.name)
        .join(AnswerRevision, AnswerRevision.user_id == User.id)
        .join(Answer, Answer.id == AnswerRevision.answer_id)
        .where(Answer.step_instance_id == sheet.instance.id, Answer.question == question.key,
               AnswerRevision.user_id != getattr(user, "id", None))
        .order_by(AnswerRevision.id.desc()).limit(1)
    )
