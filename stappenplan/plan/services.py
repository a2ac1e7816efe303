"""The samenwerkingsplan as plain data: one cycle of a partnership, filtered for one viewer.

Everything the document may show is decided here, so the templates (HTML page and
PDF) only render what they are given and cannot leak what they never receive:

- steps 1-3 are each organisation's own: a party's answers appear only where
  ``engine.visible`` allows it (the owner always; the partner once the owner
  completed step 3); coordinators never get them ("joint steps and statuses only");
- step 5's conversation records never leave this module: they only feed the
  anonymous theme overview (``definition.tally_records``);
- a step that is not open yet shows its status, not its (carried-over) drafts.

The document costs a constant number of SQL queries, whatever the amount of data:
cycles (1), step instances (1) and their sign-offs (1, selectin), answers (1), the
step-4 goals for step 8 (at most 1) and the round's practice records (1); under
row-level security step 5's theme counts (1, see ``worksheets.tally``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from ..accounts.models import User
from ..audit.services import record
from ..core.web import CONTROL, parse_int
from ..extensions import db, utcnow
from ..partnerships.models import Partnership
from ..practice import services as practice_services
from ..practice.models import PracticeRecord
from ..workflow import engine
from ..workflow.definition import PlanDefinition, Question, Situation, Step
from ..workflow.localize import localized
from ..workflow.models import Cycle, StepInstance
from ..workflow.plan_loader import get_definition
from ..workflow.services import current_cycle, instances_of, state_from
from ..workflow.slots import SLUG_FOR_SLOT
from ..workflow.upgrade import StepDiff, diff, readable_old
from ..workflow.upgrading import StepReport, UpgradeReport, added_keys, plan_upgrade, upgrade_available
from ..worksheets import tally as record_tally
from ..worksheets.models import Answer
from ..worksheets.services import Sheet
from ..worksheets.sheet_view import shared_goals
from .comparison import RoundComparison
from .comparison import compare as compare_rounds

COORDINATOR = "coordinator"

#: Why a slot's answers are not in the document (None: they are).
HIDDEN_LOCKED = "locked"  # the step is not open yet
HIDDEN_NOT_SHARED = "not_shared"  # the other party's own step, before it completed step 3
HIDDEN_COORDINATOR = "coordinator"  # own steps are never shown to coordinators
HIDDEN_COORDINATOR_SHARED = "coordinator_shared"  # ... also once the partner sees them

#: Question types that hold data about individual families: never in the document.
PRIVATE_TYPES = ("records",)


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | dict) and not value)


@dataclass(frozen=True)
class GoalProgressRow:
    """Step 8: how far one shared goal of step 4 got."""

    goal: str
    score: int | None
    remark: str


@dataclass(frozen=True)
class AnswerItem:
    """One question with its answer (``value`` None: not answered)."""

    question: Question
    anchor: str
    value: Any = None
    draft: bool = False
    progress: tuple[GoalProgressRow, ...] = ()

    @property
    def answered(self) -> bool:
        if self.question.type == "goal_progress":
            return bool(self.progress)
        return not _is_empty(self.value)


@dataclass(frozen=True)
class SlotSection:
    """A step for one slot: library / childcare (steps 1-3) or joint."""

    slot: str
    status: str
    completed_at: datetime | None
    signoffs: tuple[str, ...]
    hidden: str | None
    # The viewer's own answers in steps 1-3 that the partner cannot see yet.
    own_unshared: bool = False
    answers: tuple[AnswerItem, ...] = ()
    # Answers to questions of the version the round ran on before an upgrade that this
    # version no longer asks: kept and shown as "uit versie N", never lost.
    old_answers: tuple[AnswerItem, ...] = ()
    # Questions the round's plan version added when the round moved to it: an empty one
    # reads "new in version N", not as if someone skipped it.
    new_keys: frozenset[str] = frozenset()

    @property
    def all_drafts(self) -> bool:
        """Every answer is still the previous round's (one note then, not one per answer)."""
        answered = [a for a in self.answers if a.answered]
        return bool(answered) and all(a.draft for a in answered)


@dataclass(frozen=True)
class TallyGroup:
    """How often each option of one choice/multi column came up in the records."""

    label: str
    counts: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Tally:
    conversations: int
    groups: tuple[TallyGroup, ...]
    #: Fewer conversations than this: no counts (``groups`` is empty), see theme_overview.
    minimum: int = 0
    #: The conversations behind the counts shown (their snapshot, workflow/disclosure.py).
    basis: int = 0

    @property
    def hidden(self) -> bool:
        return not self.groups


@dataclass(frozen=True)
class StepSection:
    step: Step
    slots: tuple[SlotSection, ...]
    tally: Tally | None = None
    # The overview takes the place of the records: before this question (None: at the end).
    tally_before: str | None = None

    @property
    def anchor(self) -> str:
        return f"stap-{self.step.number}"

    @property
    def own(self) -> bool:
        """Filled in by each organisation on its own (steps 1-3)."""
        return self.step.mode == "each"

    @property
    def completed(self) -> bool:
        return all(s.status == engine.COMPLETED for s in self.slots)

    @property
    def key_tables(self) -> list[AnswerItem]:
        """Tables of shared steps (goals, responsibilities, action schema, evaluation
        moments): listed in the table of contents so a reader finds them at once."""
        if self.own:
            return []
        return [a for s in self.slots for a in s.answers if a.question.type == "table"]


@dataclass(frozen=True)
class CycleRef:
    number: int
    created_at: datetime
    closed_at: datetime | None
    current: bool


@dataclass(frozen=True)
class PlanDocument:
    partnership: Partnership
    role: str
    cycle: Cycle
    cycles: tuple[CycleRef, ...]
    defn: PlanDefinition
    situation: Situation | None
    steps: tuple[StepSection, ...]
    generated_at: datetime
    # A ``?ronde=`` that does not name a cycle of this partnership (shown: the current one).
    unknown_round: str | None = None
    #: From round 2 on: step 8's goal scores of every round side by side.
    comparison: RoundComparison | None = None
    #: What happened with the agreed plan (practice records of this round), per step:
    #: 6 the activities (and the round's note), 7 the actions. Shown beside the plan.
    practice: dict[int, list[PracticeRecord]] = field(default_factory=dict)
    practice_note: str | None = None

    @property
    def is_current(self) -> bool:
        return self.cycle.number == self.cycles[-1].number

    @property
    def round_arg(self) -> int | None:
        """The ``ronde`` URL argument that keeps this cycle (None for the current one)."""
        return None if self.is_current else self.cycle.number


# --------------------------------------------------------------------------- building


def parse_round(raw: str | None) -> int | None:
    """``?ronde=N`` as a positive number, or None for anything else (never an error)."""
    return parse_int(raw, None, lo=1, hi=999_999)


def build(partnership: Partnership, role: str, raw_round: str | None = None) -> PlanDocument:
    """The plan of one cycle (``raw_round``, else the current one) as ``role`` may see it.

    ``role`` is library, childcare or coordinator, as given by ``partnership_or_404``.
    """
    cycles = list(db.session.scalars(select(Cycle).where(Cycle.partnership_id == partnership.id)
                                     .order_by(Cycle.number)))
    if not cycles:  # pragma: no cover - every partnership starts with a cycle
        raise LookupError("partnership without cycle")
    wanted = parse_round(raw_round)
    cycle = next((c for c in cycles if c.number == wanted), cycles[-1])
    asked = raw_round is not None and raw_round.strip() != ""
    # Shown back to the reader: without control characters (a page cannot hold a NUL byte).
    unknown = CONTROL.sub("", raw_round or "") if asked and (wanted is None or cycle.number != wanted) else None
    defn = localized(get_definition(cycle.plan_version))
    old_defn = localized(get_definition(cycle.upgraded_from)) if cycle.upgraded_from else None

    instances = instances_of(cycle)
    state = state_from(cycle, instances, {})
    by_key = {(i.step, i.slot): i for i in instances}
    shown = {i.id: _hidden_reason(defn, state, role, i) for i in instances}
    values = _answers([i.id for i in instances if shown[i.id] is None])

    steps = []
    for step in defn.steps:
        questions_for = _questions(step, partnership.situation)
        slots = []
        tally = None
        for slot in engine.slots_for(defn, step.number):
            instance = by_key[(step.number, slot)]
            hidden = shown[instance.id]
            answers: tuple[AnswerItem, ...] = ()
            old_answers: tuple[AnswerItem, ...] = ()
            if hidden is None:
                stored = values.get(instance.id, {})
                asked_to = slot if step.mode == "each" else None
                prefix = f"stap-{step.number}-" + (f"{SLUG_FOR_SLOT[slot]}-" if step.mode == "each" else "")
                answers = tuple(
                    _item(q, prefix + q.key.replace("_", "-"), stored.get(q.key), partnership, cycle, instance,
                          defn, step, role)
                    for q in questions_for(asked_to)
                )
                tally = tally or _tally(step, instance.id, partnership.id, stored, role)
                if old_defn is not None:
                    retired = [q for q in readable_old(old_defn, defn, step.number, [k for k in stored])
                               if q.applies_to(asked_to, partnership.situation) and q.type not in PRIVATE_TYPES
                               and q.visible_to is None]
                    old_answers = tuple(_item(q, f"{prefix}v{old_defn.version}-" + q.key.replace("_", "-"),
                                              stored.get(q.key), partnership, cycle, instance, old_defn,
                                              old_defn.step(step.number), role) for q in retired)
            slots.append(
                SlotSection(
                    slot=slot,
                    status=instance.status,
                    completed_at=instance.completed_at,
                    signoffs=tuple(sorted(s.party for s in instance.signoffs)),
                    hidden=hidden,
                    own_unshared=hidden is None and step.mode == "each" and slot == role
                    and not engine.visible(defn, state, engine.other_party(slot), step.number, slot),
                    answers=answers,
                    old_answers=tuple(a for a in old_answers if a.answered) if hidden is None else (),
                    new_keys=added_keys(cycle.upgraded_from, cycle.plan_version, step.number)
                    if cycle.upgraded_from else frozenset(),
                )
            )
        steps.append(StepSection(step=step, slots=tuple(slots), tally=tally, tally_before=_after_records(step)))

    current = cycles[-1].number
    records = [r for r in practice_services.records_of(partnership) if r.cycle_id == cycle.id]
    shown_steps = {sec.step.number for sec in steps if any(slot.hidden is None for slot in sec.slots)}
    kinds = {step: q.practice.kind for step, q in practice_services.plan_tables(defn) if q.practice}
    by_step = {step: [r for r in records if r.kind == kind] for step, kind in kinds.items() if step in shown_steps}
    activity_shown = any(kinds.get(step) == "activity" for step in by_step)
    note = next((r.note for r in records if r.kind == "note" and r.note), None) if activity_shown else None
    return PlanDocument(
        partnership=partnership,
        role=role,
        cycle=cycle,
        cycles=tuple(CycleRef(c.number, c.created_at, c.closed_at, c.number == current) for c in cycles),
        defn=defn,
        situation=defn.situations.get(partnership.situation),
        steps=tuple(steps),
        generated_at=utcnow(),
        unknown_round=unknown,
        comparison=compare_rounds(cycles, defn),
        practice={step: found for step, found in by_step.items() if found},
        practice_note=note,
    )


def _hidden_reason(defn: PlanDefinition, state: engine.CycleState, role: str, instance: StepInstance) -> str | None:
    """Why this viewer does not get the instance's answers, or None when they do."""
    if instance.status == engine.LOCKED:
        return HIDDEN_LOCKED
    if defn.step(instance.step).mode == "each":
        if role == COORDINATOR:
            # Once shared with the partner, "only the organisation itself" would be untrue.
            partner = engine.other_party(instance.slot)
            shared = engine.visible(defn, state, partner, instance.step, instance.slot)
            return HIDDEN_COORDINATOR_SHARED if shared else HIDDEN_COORDINATOR
        if not engine.visible(defn, state, role, instance.step, instance.slot):
            return HIDDEN_NOT_SHARED
    return None


def _questions(step: Step, situation: int) -> Callable[[str | None], list[Question]]:
    """The questions of a step as the document lists them: no private question types,
    and no question that is limited to one viewer (fail closed)."""

    def listed(party: str | None) -> list[Question]:
        return [
            q for q in step.questions_for(party, situation)
            if q.type not in PRIVATE_TYPES and q.visible_to is None
        ]

    return listed


def _answers(instance_ids: list[int]) -> dict[int, dict[str, tuple[Any, bool]]]:
    """Stored answers of the visible instances (one query), per instance and question key.

    Private question types (step 5's records) are loaded only to count themes: see
    ``_tally``; they are never put on an ``AnswerItem`` (and under row-level security
    only the childcare organisation can load them at all).
    """
    rows = db.session.execute(
        select(Answer.step_instance_id, Answer.question, Answer.value, Answer.draft)
        .where(Answer.step_instance_id.in_(instance_ids))
    )
    result: dict[int, dict[str, tuple[Any, bool]]] = {}
    for instance_id, key, value, draft in rows:
        result.setdefault(instance_id, {})[key] = (value, bool(draft))
    return result


def _item(
    question: Question,
    anchor: str,
    stored: tuple[Any, bool] | None,
    partnership: Partnership,
    cycle: Cycle,
    instance: StepInstance,
    defn: PlanDefinition,
    step: Step,
    role: str,
) -> AnswerItem:
    value, draft = stored if stored else (None, False)
    if _is_empty(value):
        return AnswerItem(question, anchor)
    if question.type == "goal_progress":
        sheet = Sheet(partnership=partnership, cycle=cycle, instance=instance, defn=defn, step=step, role=role)
        return AnswerItem(question, anchor, value, draft, _progress(value, shared_goals(sheet)))
    return AnswerItem(question, anchor, value, draft)


def _progress(value: Any, goals: Iterable[dict[str, Any]]) -> tuple[GoalProgressRow, ...]:
    """Step 8's scores, in the order of the step-4 goals (removed goals are left out)."""
    if not isinstance(value, dict):
        return ()
    rows = []
    for goal in goals:
        entry = value.get(goal["id"])
        if not isinstance(entry, dict):
            continue
        rows.append(GoalProgressRow(goal["label"], entry.get("value"), entry.get("remark") or ""))
    return tuple(rows)


def _after_records(step: Step) -> str | None:
    """The key of the first question after the records, where the overview goes."""
    keys = [q.key for q in step.questions]
    for i, q in enumerate(step.questions):
        if q.type in PRIVATE_TYPES:
            return next((k for k in keys[i + 1:] if step.question(k).type not in PRIVATE_TYPES), None)
    return None


def _tally(step: Step, instance_id: int, partnership_id: int, stored: dict[str, tuple[Any, bool]],
           role: str) -> Tally | None:
    """The anonymous theme overview of step 5: counts only, no record (under row-level
    security the records are not even loaded for the library and coordinators), published
    from a snapshot; a coordinator never sees one partnership's themes."""
    question = next((q for q in step.questions if q.type in PRIVATE_TYPES), None)
    if question is None or role == COORDINATOR:
        return None
    value = stored.get(question.key, (None, False))[0] or []
    minimum = current_app.config["THEME_MIN_CONVERSATIONS"]
    shown = record_tally.overview(instance_id, partnership_id, question, value, minimum)
    groups = tuple(
        TallyGroup(question.column(key).label, tuple((option.label, n) for option, n in counts))
        for key, counts in (shown.counts or {}).items()
    )
    return Tally(conversations=shown.count, groups=groups, minimum=minimum, basis=shown.basis)


# --------------------------------------------------------------------------- export


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-") or "organisatie"


def pdf_filename(doc: PlanDocument) -> str:
    """e.g. ``samenwerkingsplan-bibliotheek-a-opvang-a-ronde-1.pdf`` (plain ASCII)."""
    p = doc.partnership
    return f"samenwerkingsplan-{_slug(p.library.name)}-{_slug(p.childcare.name)}-ronde-{doc.cycle.number}.pdf"


def record_export(doc: PlanDocument, user: User) -> None:
    """Exports are audited (who took the plan out of the application, which round)."""
    record(
        "plan_exported",
        actor_id=user.id,
        organisation_id=user.organisation.id if user.organisation else None,
        partnership_id=doc.partnership.id,
        cycle=doc.cycle.number,
        format="pdf",
    )
    db.session.flush()


# --------------------------------------------------------------------------- plan versions


@dataclass(frozen=True)
class UpgradePage:
    """The "new version of the plan" page: what changes between the round's version and
    the next (or, after the move, what changed), and what it does to this partnership's
    answers. Everyone in the partnership reads it; the library's admins act on it."""

    partnership: Partnership
    role: str
    cycle: Cycle
    from_version: int
    to_version: int
    steps: tuple[StepDiff, ...]
    report: UpgradeReport | None
    pending: bool

    @property
    def changed_steps(self) -> tuple[StepDiff, ...]:
        return tuple(s for s in self.steps if not s.empty)

    def report_for(self, step: int) -> StepReport | None:
        return next((r for r in self.report.steps if r.number == step), None) if self.report else None


def upgrade_page(partnership: Partnership, role: str) -> UpgradePage:
    """The version the round runs on and what a newer one changes (or what the last move
    changed); a round that started on the newest version has nothing to list."""
    cycle = current_cycle(partnership)
    available = upgrade_available(cycle)
    if available is not None:
        frm, to = cycle.plan_version, available
        report = plan_upgrade(partnership, to)
    elif cycle.upgraded_from is not None:
        frm, to, report = cycle.upgraded_from, cycle.plan_version, None
    else:
        return UpgradePage(partnership, role, cycle, cycle.plan_version, cycle.plan_version, (), None, False)
    steps = diff(localized(get_definition(frm)), localized(get_definition(to)))
    return UpgradePage(partnership, role, cycle, frm, to, tuple(steps), report, available is not None)
