"""Practice records: made from the agreed plan, then kept up by both organisations.

A record is made for each row of a plan table marked ``practice:`` (step 6's activities,
step 7's actions) when its step is agreed, in the same transaction as the agreement.
Agreeing the step again (after a reopening) brings the records in line with the plan:
new rows get a record, a row's name follows the plan, a row that left the plan keeps its
record (what happened stays) marked as no longer planned. From then on either
organisation updates a record at any time: no step is reopened and no approval touched.

Every update names the version it started from. When someone else saved in between, the
two are merged per field (a field only one of them changed takes that change); when both
changed the same field differently it is a conflict, and the form shows the other's
value next to the user's own, which is kept. Each accepted change is a revision, an
audit event, and news for the partner's open page (the partnership's practice sequence).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult, Select, bindparam, case, func, select

from ..accounts.models import User
from ..audit.services import record as audit
from ..core import uow
from ..extensions import db, local_today, utcnow
from ..i18n import gettext as _
from ..partnerships.models import Partnership
from ..workflow import services as workflow
from ..workflow.answers import field_value, filled_rows
from ..workflow.definition import PlanDefinition, Question
from ..workflow.engine import Event
from ..workflow.models import Cycle, StepInstance
from .models import ACTION_STATUSES, ACTIVITY_STATUSES, FIELDS, PracticeRecord, PracticeRevision

#: The round's note on all activities together is one record without a plan row.
NOTE_ROW = "what_worked"
#: Sanity limit for the numbers of parents and children at one activity.
MAX_REACH = 100_000
#: Fields with one line of text, and their kind's statuses.
STATUSES = {"activity": ACTIVITY_STATUSES, "action": ACTION_STATUSES, "note": ()}


# --------------------------------------------------------------------------- from the plan


def plan_tables(defn: PlanDefinition) -> list[tuple[int, Question]]:
    """(step, question) of every table whose agreed rows become practice records."""
    return [(step.number, q) for step in defn.steps for q in step.questions if q.practice is not None]


def on_workflow_events(partnership: Partnership, *, events: list[Event], actor: User, party: str) -> None:
    """Receiver of ``core.signals.workflow_events`` (connected by the app factory): a step
    with a practice table that was just agreed makes or updates its records."""
    agreed = {(e.step, (e.detail or {}).get("cycle")) for e in events if e.kind == "step_completed"}
    if not agreed:
        return
    cycles = {c.number: c for c in db.session.scalars(
        select(Cycle).where(Cycle.partnership_id == partnership.id,
                            Cycle.number.in_([n for _s, n in agreed if n is not None])))}
    for step, number in sorted(agreed, key=lambda a: (a[1] or 0, a[0] or 0)):
        cycle = cycles.get(number) if isinstance(number, int) else None
        if cycle is not None and step is not None:
            sync_from_plan(partnership, cycle, step, actor)


def sync_from_plan(partnership: Partnership, cycle: Cycle, step: int, actor: User | None) -> list[PracticeRecord]:
    """Bring the records of ``step``'s practice tables in ``cycle`` in line with the agreed
    rows; returns the records that were made or changed."""
    defn = workflow.plan_for(cycle)
    tables = [q for number, q in plan_tables(defn) if number == step]
    if not tables:
        return []
    instance = db.session.scalar(select(StepInstance).where(
        StepInstance.cycle_id == cycle.id, StepInstance.step == step, StepInstance.slot == "joint"))
    if instance is None:
        return []
    answers = workflow.step_answers(instance)
    changed: list[PracticeRecord] = []
    for question in tables:
        source = question.practice
        assert source is not None
        existing = {r.source_row: r for r in db.session.scalars(select(PracticeRecord).where(
            PracticeRecord.cycle_id == cycle.id, PracticeRecord.kind == source.kind,
            PracticeRecord.source_row.is_not(None)))}
        rows = filled_rows(answers.get(question.key))
        seen: set[str] = set()
        for row in rows:
            cells = row.get("cells") or {}
            row_id = str(row["id"])
            seen.add(row_id)
            planned: dict[str, Any] = {"title": str(cells.get(source.title) or "")[:500],
                       "date": _as_date(cells.get(source.date)) if source.date else None,
                       "who": (str(cells.get(source.who) or "")[:500] or None) if source.who else None}
            record = existing.get(row_id)
            if record is None:
                record = PracticeRecord(partnership_id=partnership.id, cycle_id=cycle.id, kind=source.kind,
                                        source_row=row_id, title=planned["title"], date=planned["date"],
                                        who=planned["who"], status="planned", version=1,
                                        updated_by_id=actor.id if actor else None)
                db.session.add(record)
                changed.append(record)
                continue
            updates: dict[str, Any] = {"title": planned["title"]}
            if record.version == 1:  # nobody kept it up yet: the plan's date and who still hold
                updates.update(date=planned["date"], who=planned["who"])
            if not record.in_plan:
                record.in_plan = True
                changed.append(record)
            if any(getattr(record, k) != v for k, v in updates.items()):
                for k, v in updates.items():
                    setattr(record, k, v)
                record.version += 1
                changed.append(record)
        for gone in (r for key, r in existing.items() if key not in seen and r.in_plan):
            gone.in_plan = False
            changed.append(gone)
    if changed:
        db.session.flush()
        seq = _next_seq(partnership.id)
        now = utcnow()
        for record in dict.fromkeys(changed):
            record.seq = seq
            record.first_seq = record.first_seq or seq
            record.updated_at = now
            db.session.add(PracticeRevision(record_id=record.id, version=record.version, values=record.values(),
                                            user_id=actor.id if actor else None, party=None, kind="plan",
                                            created_at=now))
        db.session.flush()
    return changed


def _as_date(raw: Any) -> date | None:
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


@functools.cache
def _seq_statement() -> Any:
    return (sa.update(Partnership).where(Partnership.id == bindparam("b_partnership"))
            .values(practice_seq=Partnership.practice_seq + 1).returning(Partnership.practice_seq))


def _next_seq(partnership_id: int) -> int:
    """Raise the partnership's practice sequence (the live feed's) and return it."""
    return int(uow.run(_seq_statement(), {"b_partnership": partnership_id}).scalar_one())


# --------------------------------------------------------------------------- updates


@dataclass
class Outcome:
    """What became of a save: saved, unchanged, conflict or invalid."""

    status: str
    record: PracticeRecord | None = None
    #: Field -> message, for a value that cannot be taken.
    errors: dict[str, str] = field(default_factory=dict)
    #: What the user sent (normalised where it could be), shown again after a refusal.
    mine: dict[str, Any] = field(default_factory=dict)
    #: Conflict: the fields someone else changed to something else, with their values.
    theirs: dict[str, Any] = field(default_factory=dict)
    theirs_by: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("saved", "unchanged")


def editable_fields(record: PracticeRecord) -> tuple[str, ...]:
    """A planned record's name is the plan's; an activity added during the year names itself."""
    return tuple(f for f in FIELDS[record.kind] if f != "title" or not record.planned)


def parse(kind: str, form: Mapping[str, Any], names: Iterable[str],
          today: date) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields ``names`` of a submitted form as typed values, and a Dutch message per
    field that cannot be taken. An empty number stays None: unknown, never 0."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in names:
        raw = form.get(name, "")
        if name in ("title", "who"):
            value, error = field_value("line", raw)
            if error is None and name == "title" and not value:
                error = _("Geef de activiteit een naam.")
        elif name == "note":
            value, error = field_value("text", raw)
        elif name == "date":
            value, error = field_value("date", raw)
            value = _as_date(value)
        elif name in ("parents", "children"):
            value, error = field_value("number", raw)
            if error is None and value is not None and (not isinstance(value, int) or not 0 <= value <= MAX_REACH):
                error = _("Vul een heel getal in van 0 tot en met %(max)s.", max=f"{MAX_REACH:,}".replace(",", "."))
        else:  # status
            value, error = field_value("choice", raw or None, STATUSES[kind])
            if error is None and value is None:
                error = _("Kies hoe het ervoor staat.")
        values[name] = value
        if error:
            errors[name] = error
    if kind == "activity" and values.get("status") == "held" and "status" in values and not errors.get("status"):
        when = values.get("date")
        if when is None and "date" not in errors:
            errors["date"] = _("Vul de datum in waarop de activiteit was.")
        elif when is not None and when > today:
            errors["date"] = _("Deze datum ligt nog in de toekomst. Een activiteit die is geweest, heeft een "
                               "datum van vandaag of eerder.")
    return values, errors


def update(record: PracticeRecord, user: User, party: str, form: Mapping[str, Any], base_version: int,
           base: Mapping[str, Any] | None = None) -> Outcome:
    """Save the fields of ``form`` on ``record``, based on ``base_version`` (and, for a
    merge, the values ``base`` the form started from)."""
    names = editable_fields(record)
    today = local_today()
    mine, errors = parse(record.kind, form, names, today)
    if errors:
        return Outcome("invalid", record, errors=errors, mine=mine,
                       message=_("Niet opgeslagen: kijk bij de velden wat er niet klopt."))
    locked = db.session.scalar(select(PracticeRecord).where(PracticeRecord.id == record.id)
                               .with_for_update(of=PracticeRecord).execution_options(populate_existing=True))
    if locked is None:  # pragma: no cover - removed with its partnership in between
        return Outcome("invalid", message=_("Dit onderdeel bestaat niet meer."))
    record = locked
    current = {name: getattr(record, name) for name in names}
    if base_version == record.version:
        target = dict(mine)
    else:
        started, _problems = parse(record.kind, base or {}, names, today) if base is not None else ({}, {})
        target, clashes = _merge(names, started if base is not None else None, current, mine)
        if clashes:
            return Outcome("conflict", record, mine=mine, theirs={n: current[n] for n in clashes},
                           theirs_by=record.updated_by.name if record.updated_by else None,
                           message=_("Iemand anders heeft dit intussen gewijzigd. Kies wat er moet staan en sla "
                                     "opnieuw op."))
    if target == current:
        return Outcome("unchanged", record)
    _write(record, target, user, party, kind="edit")
    audit("practice.updated", actor_id=user.id, organisation_id=user.organisation.id,
          partnership_id=record.partnership_id, record=record.public_id, record_kind=record.kind,
          title=record.title[:120], fields=sorted(n for n in names if target[n] != current[n]),
          status=record.status)
    workflow.note_activity(record.partnership_id)
    return Outcome("saved", record)


def _merge(names: Iterable[str], base: dict[str, Any] | None, theirs: dict[str, Any],
           mine: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Three-way merge per field; without a base every field the other changed clashes."""
    result: dict[str, Any] = {}
    clashes: list[str] = []
    for name in names:
        if base is not None and mine[name] == base.get(name):
            result[name] = theirs[name]  # I did not change it: theirs stands
        elif base is not None and theirs[name] == base.get(name):
            result[name] = mine[name]  # they did not change it: mine goes in
        elif mine[name] == theirs[name]:
            result[name] = mine[name]
        else:
            result[name] = mine[name]
            clashes.append(name)
    return result, clashes


@functools.cache
def _swap_statement() -> Any:
    """Compare-and-swap of a record's version (the row is locked too; SQLite has no row locks)."""
    return (sa.update(PracticeRecord)
            .where(PracticeRecord.id == bindparam("b_id"), PracticeRecord.version == bindparam("b_version"))
            .values(version=PracticeRecord.version + 1))


def _write(record: PracticeRecord, values: dict[str, Any], user: User, party: str | None, kind: str) -> None:
    swapped = cast(CursorResult, uow.run(_swap_statement(), {"b_id": record.id, "b_version": record.version}))
    if swapped.rowcount != 1:  # pragma: no cover - the row lock makes this unreachable on PostgreSQL
        raise RuntimeError("practice record changed under its lock")
    now = utcnow()
    for name, value in values.items():
        setattr(record, name, value)
    record.version += 1
    record.updated_at = now
    record.updated_by_id = user.id
    record.seq = _next_seq(record.partnership_id)
    record.first_seq = record.first_seq or record.seq
    db.session.flush()
    db.session.add(PracticeRevision(record_id=record.id, version=record.version, values=record.values(),
                                    user_id=user.id, party=party, kind=kind, created_at=now))
    db.session.flush()


def add_activity(partnership: Partnership, user: User, party: str, form: Mapping[str, Any]) -> Outcome:
    """An activity that was not in the plan, added to the current round's practice."""
    names = FIELDS["activity"]
    mine, errors = parse("activity", form, names, local_today())
    if errors:
        return Outcome("invalid", errors=errors, mine=mine,
                       message=_("Niet toegevoegd: kijk bij de velden wat er niet klopt."))
    cycle = workflow.current_cycle(partnership)
    record = PracticeRecord(partnership_id=partnership.id, cycle_id=cycle.id, kind="activity", source_row=None,
                            version=0, title=mine["title"], status=mine["status"])
    db.session.add(record)
    db.session.flush()
    _write(record, mine, user, party, kind="edit")
    audit("practice.added", actor_id=user.id, organisation_id=user.organisation.id, partnership_id=partnership.id,
          record=record.public_id, record_kind="activity", title=record.title[:120], status=record.status)
    workflow.note_activity(partnership.id)
    return Outcome("saved", record)


def round_note(partnership: Partnership, cycle: Cycle) -> PracticeRecord:
    """The round's note on all activities together, made on first use."""
    note = db.session.scalar(select(PracticeRecord).where(
        PracticeRecord.cycle_id == cycle.id, PracticeRecord.kind == "note", PracticeRecord.source_row == NOTE_ROW))
    if note is None:
        note = PracticeRecord(partnership_id=partnership.id, cycle_id=cycle.id, kind="note", source_row=NOTE_ROW,
                              version=1, status="planned")
        db.session.add(note)
        db.session.flush()
    return note


# --------------------------------------------------------------------------- reading


def records_of(partnership: Partnership) -> list[PracticeRecord]:
    """Every record of the partnership, newest round first, in the order of the plan."""
    return list(db.session.scalars(_records_statement(), {"partnership": partnership.id}))


@functools.cache
def _records_statement() -> Select:
    return (select(PracticeRecord).join(Cycle, Cycle.id == PracticeRecord.cycle_id)
            .where(PracticeRecord.partnership_id == bindparam("partnership"))
            .order_by(Cycle.number.desc(), PracticeRecord.kind,
                      case((PracticeRecord.source_row.is_(None), 1), else_=0),
                      PracticeRecord.date.is_(None), PracticeRecord.date, PracticeRecord.id))


def changed_since(partnership_id: int, seq: int) -> tuple[int, list[PracticeRecord]]:
    """The partnership's practice sequence and the records changed after ``seq``."""
    current = db.session.scalar(select(Partnership.practice_seq).where(Partnership.id == partnership_id)) or 0
    if current <= seq:
        return current, []
    return current, list(db.session.scalars(select(PracticeRecord).where(
        PracticeRecord.partnership_id == partnership_id, PracticeRecord.seq > seq).order_by(PracticeRecord.id)))


@dataclass(frozen=True)
class Change:
    """One revision for the history: who, when, and the fields it changed (typed values)."""

    revision: PracticeRevision
    fields: list[tuple[str, Any]]


def history(record: PracticeRecord) -> list[Change]:
    """The record's revisions, newest first, each with what it changed against the one before."""
    revisions = list(db.session.scalars(select(PracticeRevision).where(PracticeRevision.record_id == record.id)
                                        .order_by(PracticeRevision.version, PracticeRevision.id)))
    changes: list[Change] = []
    before: dict[str, Any] = {}
    for revision in revisions:
        values = revision.values if isinstance(revision.values, dict) else {}
        fields = [(name, _as_date(values[name]) if name == "date" else values[name])
                  for name in FIELDS[record.kind] if name in values and values[name] != before.get(name)]
        changes.append(Change(revision, fields))
        before = values
    return changes[::-1]


@dataclass(frozen=True)
class Glance:
    """Practice at a glance for the partnership page and overviews ("5 van 9 acties klaar")."""

    actions: int = 0
    actions_done: int = 0
    actions_overdue: int = 0
    activities_held: int = 0
    next_activity: date | None = None

    @property
    def started(self) -> bool:
        return bool(self.actions or self.activities_held or self.next_activity)


def glance(partnership_ids: list[int], today: date, year: int | None = None) -> dict[int, Glance]:
    """Per partnership, its newest round's actions (done, overdue) and next planned activity,
    and the activities held in ``year`` (default: this year): one statement for any number."""
    if not partnership_ids:
        return {}
    year = year or today.year
    rows = db.session.execute(_glance_statement(), {
        "partnerships": list(partnership_ids), "today": today, "first": date(year, 1, 1), "last": date(year, 12, 31)})
    return {pid: Glance(actions, done, overdue, held, next_date)
            for pid, actions, done, overdue, held, next_date in rows}


@functools.cache
def _glance_statement() -> Select:
    """``glance``'s statement, built once per process (the partnership page and overviews)."""
    ids: Any = bindparam("partnerships", expanding=True)
    today = bindparam("today", type_=sa.Date)
    newest = (select(Cycle.partnership_id, func.max(Cycle.number).label("number"))
              .where(Cycle.partnership_id.in_(ids)).group_by(Cycle.partnership_id).subquery())
    current = Cycle.number == newest.c.number
    live = (PracticeRecord.kind == "action") & PracticeRecord.status.not_in(("dropped",)) & current
    held = ((PracticeRecord.kind == "activity") & (PracticeRecord.status == "held")
            & (PracticeRecord.date >= bindparam("first", type_=sa.Date))
            & (PracticeRecord.date <= bindparam("last", type_=sa.Date)))
    upcoming = ((PracticeRecord.kind == "activity") & (PracticeRecord.status == "planned")
                & (PracticeRecord.date >= today) & current)
    return (select(PracticeRecord.partnership_id,
                   func.count().filter(live),
                   func.count().filter(live & (PracticeRecord.status == "done")),
                   func.count().filter(live & (PracticeRecord.status != "done") & (PracticeRecord.date < today)),
                   func.count().filter(held),
                   func.min(PracticeRecord.date).filter(upcoming))
            .join(Cycle, Cycle.id == PracticeRecord.cycle_id)
            .join(newest, newest.c.partnership_id == PracticeRecord.partnership_id)
            .where(PracticeRecord.partnership_id.in_(ids))
            .group_by(PracticeRecord.partnership_id))


@dataclass
class Summary:
    """A round's practice for step 8's evaluation: what was held, whom it reached, what
    worked, and how far the actions got."""

    held: list[PracticeRecord] = field(default_factory=list)
    not_held: list[PracticeRecord] = field(default_factory=list)
    actions: list[PracticeRecord] = field(default_factory=list)
    note: str | None = None

    @property
    def parents(self) -> int:
        return sum(r.parents or 0 for r in self.held)

    @property
    def children(self) -> int:
        return sum(r.children or 0 for r in self.held)

    @property
    def unknown_reach(self) -> int:
        """Held activities without a number of parents or children."""
        return sum(1 for r in self.held if r.parents is None or r.children is None)

    @property
    def actions_done(self) -> list[PracticeRecord]:
        return [r for r in self.actions if r.status == "done"]

    @property
    def empty(self) -> bool:
        return not (self.held or self.not_held or self.actions or self.note)


def summary(cycle_id: int) -> Summary:
    """One statement: the round's records, sorted into what step 8 looks back on."""
    result = Summary()
    for record in db.session.scalars(select(PracticeRecord).where(PracticeRecord.cycle_id == cycle_id)
                                     .order_by(PracticeRecord.date.is_(None), PracticeRecord.date, PracticeRecord.id)):
        if record.kind == "note":
            result.note = record.note
        elif record.kind == "action":
            result.actions.append(record)
        elif record.status == "held":
            result.held.append(record)
        elif record.status == "planned":
            result.not_held.append(record)
    return result
