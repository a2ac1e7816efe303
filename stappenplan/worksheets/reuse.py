"""Reuse across partnerships: an own step (1-3) starts from the same organisation's
answers of that step in another of its partnerships.

A library with ten partners need not write "Begin met het waarom" ten times. Only the
organisation's own slot is ever read or written here: the statement is scoped to the
partnerships of the organisation and to the slot it fills in itself, so nothing of a
partner (its own steps, the joint steps, step 5's records) can be copied. The copy goes
through the one write path (``services._write``: the workflow's edit seam, revisions,
locking), one question at a time, and is audited once. See docs/decisions.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import aliased

from ..accounts.models import User
from ..audit.services import record
from ..core import uow
from ..core.errors import ServiceError
from ..extensions import db, utcnow
from ..organisations.models import Organisation
from ..partnerships.models import Partnership
from ..workflow import engine
from ..workflow.answers import is_answered, validate_answer
from ..workflow.definition import Question
from ..workflow.models import Cycle, StepInstance
from .models import Answer
from .services import Decision, Sheet, _write, answers_for

#: The audit event of a copy (the activity feed shows it to the copying side only).
AUDIT_KIND = "answers_reused"


@dataclass
class Source:
    """The organisation's answers of the same step in another of its partnerships."""

    partnership_id: str  # public id
    partner: str
    instance_id: int
    #: The step instance belongs to that partnership's newest round (only those are offered).
    current: bool
    values: dict[str, Any] = field(default_factory=dict)
    answered: int = 0


@dataclass
class Overview:
    """What the worksheet shows its owner: where else this step has answers, and where
    this worksheet's answers came from with the questions that differ from there now."""

    sources: list[Source]
    origin: Source | None = None
    reused_at: datetime | None = None
    differing: list[str] = field(default_factory=list)


@dataclass
class Row:
    """One question of the preview: what is copied and what it does to the answer here."""

    question: Question
    theirs: Any
    mine: Any
    #: new (empty here), same, replace (a different answer here), keep (nothing to copy)
    change: str


def applies(sheet: Sheet) -> bool:
    """Reuse is for the owner of an own step (mode ``each``) only."""
    return sheet.step.mode == "each" and sheet.party is not None and sheet.instance.slot == sheet.party


def overview(sheet: Sheet, answers: dict[str, Answer]) -> Overview | None:
    """The panel's and the note's data, in one statement whatever the number of partnerships
    (``answers``: this worksheet's, which the page loaded already)."""
    if not applies(sheet):
        return None
    questions = sheet.questions()
    sources = _sources(sheet, questions)
    origin = next((s for s in sources if s.instance_id == sheet.instance.reused_from_id), None)
    offered = [s for s in sources if s.current and s.answered and s.partnership_id != sheet.partnership.public_id]
    result = Overview(sources=offered, origin=origin, reused_at=sheet.instance.reused_at)
    if origin is not None:
        mine = {key: answer.value for key, answer in answers.items()}
        result.differing = [q.key for q in questions if _differs(q, mine.get(q.key), origin.values.get(q.key))]
    return result


def _answers(sheet: Sheet) -> dict[str, Answer]:
    return answers_for(sheet.instance)


def _differs(question: Question, mine: Any, theirs: Any) -> bool:
    if not is_answered(question, mine) and not is_answered(question, theirs):
        return False
    return bool(mine != theirs)


def offered_source(sheet: Sheet, partnership_id: str) -> Source | None:
    """The source named in a request, when the worksheet may start from it (access.py)."""
    if not applies(sheet) or not sheet.editable:
        return None
    for source in _sources(sheet, sheet.questions()):
        if source.partnership_id == partnership_id and source.partnership_id != sheet.partnership.public_id \
                and source.current and source.answered:
            return source
    return None


def _sources(sheet: Sheet, questions: list[Question]) -> list[Source]:
    party = sheet.party
    assert party is not None
    keys = {q.key: q for q in questions}
    rows = db.session.execute(_sources_statement(party), {
        "org": sheet.partnership.library_id if party == engine.LIBRARY else sheet.partnership.childcare_id,
        "partnership": sheet.partnership.id, "step": sheet.step.number, "slot": party,
        "source": sheet.instance.reused_from_id or 0,
    }).all()
    by_instance: dict[int, Source] = {}
    for public_id, partner, instance_id, current, key, value in rows:
        source = by_instance.setdefault(instance_id, Source(public_id, partner, instance_id, bool(current)))
        question = keys.get(key)
        if question is None:  # a question this worksheet does not ask (another plan, another situation)
            continue
        source.values[key] = value
        if is_answered(question, value):
            source.answered += 1
    return list(by_instance.values())


@functools.cache
def _sources_statement(party: str) -> Select:
    """The answers of step ``step`` in slot ``slot`` (the organisation's own) of every
    other partnership of organisation ``org`` in its newest round, and of the step
    instance ``source`` when it is one of the organisation's: built once per side."""
    own = Partnership.library_id if party == engine.LIBRARY else Partnership.childcare_id
    partner = Partnership.childcare_id if party == engine.LIBRARY else Partnership.library_id
    newer = aliased(Cycle)
    latest = (select(func.max(newer.number)).where(newer.partnership_id == Partnership.id)
              .correlate(Partnership).scalar_subquery())
    return (
        select(Partnership.public_id, Organisation.name, StepInstance.id, (Cycle.number == latest).label("current"),
               Answer.question, Answer.value)
        .select_from(StepInstance)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .join(Partnership, Partnership.id == Cycle.partnership_id)
        .join(Organisation, Organisation.id == partner)
        .join(Answer, Answer.step_instance_id == StepInstance.id)
        .where(own == bindparam("org"), StepInstance.slot == bindparam("slot"),
               or_(and_(Partnership.id != bindparam("partnership"), Cycle.number == latest,
                        StepInstance.step == bindparam("step")),
                   StepInstance.id == bindparam("source")))
        .order_by(Organisation.name, Partnership.id, StepInstance.id)
    )


def preview(sheet: Sheet, source: Source) -> list[Row]:
    """Per question: the answer that is copied and what happens to the answer here."""
    mine = {key: answer.value for key, answer in _answers(sheet).items()}
    rows = []
    for question in sheet.questions():
        theirs, current = source.values.get(question.key), mine.get(question.key)
        if not is_answered(question, theirs):
            change = "keep"
        elif not is_answered(question, current):
            change = "new"
        else:
            change = "same" if theirs == current else "replace"
        rows.append(Row(question, theirs, current, change))
    return rows


@uow.atomic
def copy(sheet: Sheet, user: User, source: Source) -> int:
    """Copy the source's answered questions into this worksheet (answers here that differ
    are replaced; questions the source left empty keep what is here); the number changed.

    Each answer goes through ``_write`` (the workflow's edit seam): a step that was
    completed meanwhile refuses, and then nothing of the copy stays."""
    changed = 0
    for row in preview(sheet, source):
        if row.change not in ("new", "replace"):
            continue
        value, error = validate_answer(row.question, row.theirs)
        if error:
            continue

        def decide(current: Any, version: int, value: Any = value) -> Decision:
            return Decision(value)

        outcome = _write(sheet, user, row.question, decide, kind="reuse")
        if outcome.status == "refused":
            raise ServiceError(outcome.message or "")
        if outcome.status == "saved":
            changed += 1
    sheet.instance.reused_from_id = source.instance_id
    sheet.instance.reused_at = utcnow()
    record(AUDIT_KIND, actor_id=user.id, organisation_id=user.organisation.id, partnership_id=sheet.partnership.id,
           step=sheet.step.number, slot=sheet.instance.slot, source=source.partnership_id, partner=source.partner,
           changed=changed)
    db.session.flush()
    return changed
