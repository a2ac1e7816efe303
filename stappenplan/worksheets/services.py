"""Writing answers: the one path every answer write goes through.

Each write names the version it was based on. A stale write is refused as a
conflict (tables: merged per row and cell, see ``tables``), so nobody silently
overwrites someone else's work. The version is compared-and-swapped in a single
UPDATE, which holds on every database; on PostgreSQL the cycle row is locked as
well, so workflow transitions and edits of one partnership are serialised.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User
from ..core import uow
from ..extensions import db, utcnow
from ..i18n import gettext as _
from ..partnerships.models import Partnership
from ..workflow import engine
from ..workflow import services as workflow
from ..workflow.answers import filled_rows, validate_answer
from ..workflow.definition import PlanDefinition, Question, Step
from ..workflow.engine import ActionRefused
from ..workflow.localize import localized
from ..workflow.models import Cycle, StepInstance
from ..workflow.plan_loader import get_definition
from ..workflow.upgrade import readable_old
from . import merge
from .models import Answer, AnswerRevision
from .tables import Conflict, TableOp, apply_ops

FOLD_WINDOW = timedelta(seconds=60)


@dataclass
class Sheet:
    """A worksheet as one viewer sees it: the step instance plus who is looking."""

    partnership: Partnership
    cycle: Cycle
    instance: StepInstance
    defn: PlanDefinition
    step: Step
    role: str  # library, childcare or coordinator
    #: All step instances of the cycle (both loaders read them), so views need not read them again.
    instances: list[StepInstance] = field(default_factory=list)
    #: ``cycle`` and ``instances`` were read after locking the cycle row in the open
    #: transaction: the next save may use them as they are (cleared once it ends).
    locked: bool = False

    @property
    def party(self) -> str | None:
        return self.role if self.role in engine.PARTIES else None

    @property
    def asked_to(self) -> str | None:
        """Whose questions: the owner in steps 1-3, the viewer elsewhere."""
        return self.instance.slot if self.step.mode == "each" else self.party

    def questions(self) -> list[Question]:
        """The questions this viewer sees, in order (step 5 records: childcare only)."""
        viewer = self.party or "coordinator"
        return [
            q for q in self.step.questions_for(self.asked_to, self.partnership.situation)
            if engine.question_visible(q, viewer)
            and not (self.role == "coordinator" and q.visible_to is not None)
        ]

    def question(self, key: str) -> Question | None:
        for q in self.questions():
            if q.key == key:
                return q
        return None

    def old_questions(self, keys: Iterable[str]) -> list[Question]:
        """Of ``keys``, the questions of the version this round moved from that the round's
        version no longer asks and that this viewer may read: their answers stay readable
        ("uit versie N", with their history), never editable."""
        if self.cycle.upgraded_from is None:
            return []
        old = localized(get_definition(self.cycle.upgraded_from))
        viewer = self.party or "coordinator"
        return [q for q in readable_old(old, self.defn, self.step.number, keys)
                if q.applies_to(self.asked_to, self.partnership.situation) and engine.question_visible(q, viewer)
                and not (self.role == "coordinator" and q.visible_to is not None)]

    @property
    def editable(self) -> bool:
        return self.party is not None and self.instance.status == engine.OPEN and (
            self.step.mode != "each" or self.instance.slot == self.party
        )


@dataclass
class SaveOutcome:
    status: str  # saved, unchanged, conflict, invalid, refused
    question: Question | None = None
    answer: Answer | None = None
    version: int = 0
    value: Any = None
    message: str | None = None
    theirs: Any = None
    mine: Any = None
    theirs_by: str | None = None
    theirs_at: datetime | None = None
    saved_at: datetime | None = None
    cells: list[Conflict] = field(default_factory=list)
    #: Saved as a three-way merge with someone else's change: ``value`` is the merged answer.
    merged: bool = False

    @property
    def ok(self) -> bool:
        return self.status in {"saved", "unchanged"}


def load_sheet(partnership: Partnership, role: str, step: int, slot: str) -> Sheet:
    """The worksheet of the current cycle (no access checks: see access.sheet_or_404)."""
    cycle = workflow.current_cycle(partnership)
    defn = workflow.plan_for(cycle)
    instances = workflow.instances_of(cycle)
    instance = next((i for i in instances if i.step == step and i.slot == slot), None)
    if instance is None:
        raise LookupError(f"no step {step}/{slot}")
    return Sheet(partnership=partnership, cycle=cycle, instance=instance, defn=defn, step=defn.step(step), role=role,
                 instances=instances)


def answers_for(instance: StepInstance) -> dict[str, Answer]:
    return {a.question: a for a in db.session.scalars(_answers_statement(), {"b_instance": instance.id})}


@functools.cache
def _answers_statement() -> Select:
    """A step instance's answers (every worksheet page), built once (see ``_answer_locked``)."""
    return select(Answer).where(Answer.step_instance_id == bindparam("b_instance"))


#: ``save(base=...)`` default: the client did not say what it started from.
NO_BASE = object()


def save(sheet: Sheet, user: User, key: str, raw: Any, base_version: int, base: Any = NO_BASE) -> SaveOutcome:
    """Save one whole answer based on ``base_version``.

    ``base`` is the value the editor started from (sent by the worksheet's script).
    When someone else saved in the meantime, the two changes are merged three-way
    (``merge``); only changes to the same words or the same choice are a conflict.
    Without ``base`` (a plain form post) any change in between is a conflict.
    """
    question = sheet.question(key)
    if question is None:
        return SaveOutcome("invalid", message=_("Deze vraag bestaat niet in dit werkblad."))
    value, error = validate_answer(question, raw)
    if error:
        return SaveOutcome("invalid", question=question, message=error, mine=raw)
    start = NO_BASE
    if base is not NO_BASE:
        start, base_error = validate_answer(question, base)
        if base_error:
            start = NO_BASE

    def decide(current: Any, version: int) -> Decision:
        if base_version == version or value == current:
            return Decision(value)
        if start is not NO_BASE:
            try:
                merged, problem = validate_answer(question, merge.merge(question, start, current, value))
            except merge.MergeConflict:
                pass
            else:
                if problem is None:
                    return Decision(merged, merged=merged != value)
        return Decision(None, SaveOutcome("conflict", question=question, mine=value))

    return _write(sheet, user, question, decide)


def save_table(sheet: Sheet, user: User, key: str, ops: list[TableOp], base_version: int) -> SaveOutcome:
    """Apply row operations to a table answer; stale edits merge per row and cell."""
    question = sheet.question(key)
    if question is None or question.type not in ("table", "records"):
        return SaveOutcome("invalid", message=_("Deze vraag bestaat niet in dit werkblad."))

    def decide(current: Any, version: int) -> Decision:
        result = apply_ops(current, ops)
        if result.conflicts:
            return Decision(None, SaveOutcome("conflict", question=question, cells=result.conflicts))
        rows, error = validate_answer(question, result.rows)
        if error:
            return Decision(None, SaveOutcome("invalid", question=question, message=error))
        return Decision(rows)

    return _write(sheet, user, question, decide)


def add_suggestion(sheet: Sheet, user: User, key: str, suggestion_key: str) -> SaveOutcome:
    """Add a suggested row (step 7's actions to consider) to a table question.

    The row gets the suggestion's fixed id, so a second click, a double post or two
    people at once still add it once; afterwards it is an ordinary row.
    """
    question = sheet.question(key)
    if question is None or question.suggestions is None:
        return SaveOutcome("invalid", message=_("Deze vraag bestaat niet in dit werkblad."))
    suggestions = question.suggestions
    suggestion = suggestions.get(suggestion_key)
    if suggestion is None:
        return SaveOutcome("invalid", question=question, message=_("Deze actie bestaat niet."))
    cells = {**suggestions.initial, suggestions.text_column: suggestion.label,
             suggestions.group_column: suggestion.group}
    return save_table(sheet, user, key, [TableOp("add", suggestion.row_id, cells=cells)], 0)


def restore(sheet: Sheet, user: User, key: str, revision_id: int) -> SaveOutcome:
    """Bring back an earlier value; itself a new revision."""
    question = sheet.question(key)
    if question is None:
        return SaveOutcome("invalid", message=_("Deze vraag bestaat niet in dit werkblad."))
    revision = db.session.scalar(
        select(AnswerRevision)
        .join(Answer, Answer.id == AnswerRevision.answer_id)
        .where(AnswerRevision.id == revision_id, Answer.step_instance_id == sheet.instance.id,
               Answer.question == key)
    )
    if revision is None:
        return SaveOutcome("invalid", question=question, message=_("Deze versie bestaat niet."))
    value = revision.value

    def decide(current: Any, version: int) -> Decision:
        return Decision(value)

    return _write(sheet, user, question, decide, kind="restore")


def _changes_content(question: Question, current: Any, value: Any) -> bool:
    """Whether storing ``value`` changes what the answer says. An empty table row is shown
    nowhere and counts for nothing (``display.filled_rows``): adding or removing one
    (the "+ Rij toevoegen" button stores the row before anything is typed in it) is no
    edit that voids the partner's approval; typing in it is."""
    if question.type in ("table", "records"):
        return filled_rows(current) != filled_rows(value)
    return bool(value != current)


@dataclass
class Decision:
    """What ``_write`` should store: ``value``, or nothing and ``refusal``."""

    value: Any
    refusal: SaveOutcome | None = None
    #: The value combines the editor's change with someone else's (three-way merge).
    merged: bool = False


Decide = Callable[[Any, int], Decision]


# The statements of every save, each built once per process with bind parameters
# (``b_``-prefixed: UPDATE reserves the column names). A save runs four of them; building
# them anew and working out their cache keys cost more Python than running them. The
# UPDATEs run through ``uow.run`` (Core, on the session's connection, after a flush): the
# identity map is not synchronised, as before (the outcome is built from what was written).


@functools.cache
def _answer_locked() -> Select:
    """The answer to one question of a step instance, its row locked."""
    return (select(Answer)
            .where(Answer.step_instance_id == bindparam("b_instance"), Answer.question == bindparam("b_question"))
            .with_for_update(of=Answer)
            .execution_options(populate_existing=True))


@functools.cache
def _next_sequence() -> Any:
    """Raise the step instance's sequence number (the change feed's) and return it."""
    return (update(StepInstance).where(StepInstance.id == bindparam("b_instance"))
            .values(content_version=StepInstance.content_version + 1)
            .returning(StepInstance.content_version))


def bump_sequence(instance_id: int) -> int:
    """Move the step instance's change-feed sequence on (news without a changed answer)."""
    return int(uow.run(_next_sequence(), {"b_instance": instance_id}).scalar_one())


@functools.cache
def _swap() -> Any:
    """Compare-and-swap: write the answer only if its version is still the one read."""
    columns = Answer.__table__.c
    return (update(Answer)
            .where(Answer.id == bindparam("b_answer"), Answer.version == bindparam("b_version"))
            .values(value=bindparam("b_value", type_=columns.value.type),
                    version=bindparam("b_new_version", type_=columns.version.type),
                    updated_at=bindparam("b_now", type_=columns.updated_at.type),
                    updated_by_id=bindparam("b_user", type_=columns.updated_by_id.type),
                    draft=False,
                    instance_seq=bindparam("b_seq", type_=columns.instance_seq.type)))


@functools.cache
def _fold() -> Any:
    """Fold a save into the newest revision when it is this person's recent edit of the
    previous version (``_add_revision``)."""
    columns = AnswerRevision.__table__.c
    newest = (
        select(AnswerRevision.id).where(AnswerRevision.answer_id == bindparam("b_answer"))
        .order_by(AnswerRevision.id.desc()).limit(1).scalar_subquery()
    )
    return (update(AnswerRevision)
            .where(AnswerRevision.id == newest, AnswerRevision.kind == "edit",
                   AnswerRevision.user_id == bindparam("b_user"),
                   AnswerRevision.version == bindparam("b_previous"),
                   AnswerRevision.updated_at >= bindparam("b_since", type_=columns.updated_at.type))
            .values(value=bindparam("b_value", type_=columns.value.type),
                    version=bindparam("b_version", type_=columns.version.type),
                    updated_at=bindparam("b_now", type_=columns.updated_at.type),
                    saves=AnswerRevision.saves + 1))


def _write(sheet: Sheet, user: User, question: Question, decide: Decide, kind: str = "edit") -> SaveOutcome:
    """Lock, let ``decide`` look at the current value, compare-and-swap, add a revision.

    It goes through ``workflow.edit`` once: the workflow locks the cycle row (serialising
    this save with sign-offs and with other saves of the partnership on PostgreSQL),
    refuses edits of a closed step, runs ``write_answer`` below and, when that changed
    what the step says, voids earlier sign-offs. A save that changes no content (an
    empty table row) is allowed where an edit is and voids nothing. All of it happens
    in a savepoint that is undone when the save turns out to be a conflict, a refusal
    or no change; the request's unit of work commits the rest.
    """
    if sheet.party is None:
        return SaveOutcome("refused", question=question, message=_("Je kunt hier alleen meelezen."))
    party: str = sheet.party
    loaded = (sheet.cycle, sheet.instances) if sheet.locked else None
    sheet.locked = False  # the next save reads them again

    def write_answer() -> workflow.Written[SaveOutcome]:
        answer = db.session.scalar(_answer_locked(), {"b_instance": sheet.instance.id, "b_question": question.key})
        current = answer.value if answer else None
        version = answer.version if answer else 0
        decision = decide(current, version)
        value = decision.value
        if decision.refusal is not None:
            tentative.undo()
            return workflow.Written(_with_theirs(decision.refusal, sheet, question), changed=False)
        if value == current and (answer is None or not answer.draft):
            tentative.undo()
            # ``merged``: the editor's change was already in the answer (its earlier save
            # arrived, the answer did not), so nothing is written, but the field shows an
            # older text than the answer; it must be shown the answer, or the next save
            # would build on the old text.
            return workflow.Written(SaveOutcome("unchanged", question=question, version=version, value=current,
                                                saved_at=answer.updated_at if answer else None,
                                                merged=decision.merged), changed=False)
        now = utcnow()
        seq = uow.run(_next_sequence(), {"b_instance": sheet.instance.id}).scalar_one()
        try:
            if answer is None:
                answer = Answer(step_instance_id=sheet.instance.id, question=question.key, version=0)
                db.session.add(answer)
                db.session.flush()
            answer_id = answer.id
            swapped = cast(CursorResult, uow.run(  # an UPDATE: its result has a rowcount
                _swap(), {"b_answer": answer_id, "b_version": version, "b_value": value,
                          "b_new_version": version + 1, "b_now": now, "b_user": user.id, "b_seq": seq},
            )).rowcount
        except IntegrityError:
            swapped = 0
        if swapped != 1:
            tentative.undo()
            return workflow.Written(_with_theirs(SaveOutcome("conflict", question=question, mine=value), sheet,
                                                 question), changed=False)
        _add_revision(answer_id, version + 1, value, user, party,
                      "merge" if decision.merged else kind, now)
        # The outcome is built from what was written: no read-back afterwards.
        return workflow.Written(SaveOutcome("saved", question=question, version=version + 1, value=value,
                                            saved_at=now, merged=decision.merged),
                                changed=_changes_content(question, current, value))

    with uow.savepoint() as tentative:
        try:
            return workflow.edit(sheet.partnership, user, party, sheet.step.number, sheet.instance.slot,
                                 write_answer, locked=loaded)
        except ActionRefused as refusal:
            tentative.undo()
            return SaveOutcome("refused", question=question, message=refusal.message)


def _add_revision(answer_id: int, version: int, value: Any, user: User, party: str, kind: str,
                  now: datetime) -> None:
    """Fold quick consecutive saves by one person; anyone else's save starts a new revision.

    One UPDATE folds into the newest revision when it is this person's recent edit of
    the previous version; only when it matched nothing is a new revision inserted.
    """
    if kind == "edit":
        folded = cast(CursorResult, uow.run(  # an UPDATE: its result has a rowcount
            _fold(), {"b_answer": answer_id, "b_user": user.id, "b_previous": version - 1,
                           "b_since": now - FOLD_WINDOW, "b_value": value, "b_version": version, "b_now": now},
        )).rowcount
        if folded:
            return
    db.session.add(AnswerRevision(answer_id=answer_id, version=version, value=value, user_id=user.id,
                                  party=party, kind=kind, created_at=now, updated_at=now))


def _with_theirs(outcome: SaveOutcome, sheet: Sheet, question: Question) -> SaveOutcome:
    """Fill in the current value and who wrote it (read after the rollback)."""
    answer = db.session.scalar(
        select(Answer).where(Answer.step_instance_id == sheet.instance.id, Answer.question == question.key)
    )
    if answer is not None:
        outcome.theirs = answer.value
        outcome.version = answer.version
        outcome.value = answer.value
        outcome.theirs_at = answer.updated_at
        outcome.theirs_by = answer.updated_by.name if answer.updated_by else None
        outcome.answer = answer
    if outcome.status == "conflict" and not outcome.message:
        outcome.message = _("Iemand anders heeft dit antwoord intussen gewijzigd.")
    return outcome
