"""Workflow persistence: load a cycle's state, let the engine decide, store the result.

Every transition is written together with its audit event in one transaction. On
PostgreSQL the cycle row is locked (SELECT ... FOR UPDATE) for the duration, so two
partners acting at the same moment are serialised: both sign-offs count and a step
completes exactly once. Unique constraints back this up on every database.

A step's content is changed through one entry, ``edit``: it locks, asks the engine,
lets the caller write, and only then voids sign-offs and audits. What the workflow
needs to know of the answers themselves (which are filled in, which carry over to
a new round) it asks an ``AnswerStore`` that the worksheets provide and the app
factory installs (``install_answer_store``): this module imports nothing of them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import joinedload

from ..accounts.models import User
from ..audit.services import record
from ..core import signals
from ..extensions import db, utcnow
from ..partnerships.models import Partnership
from . import engine
from .answers import incomplete_rows, is_answered
from .definition import WORKING_TOGETHER, PlanDefinition
from .engine import Action, ActionRefused, Actor, CycleState, Event, StepState
from .localize import localized
from .models import Cycle, SignOff, StepInstance
from .plan_loader import get_definition, latest_version, upgrade_sources
from .upgrade import carried_values, path

__all__ = ["ActionRefused", "Action", "perform", "edit", "current_cycle", "load_state", "start_first_cycle",
           "AnswerStore", "install_answer_store"]

#: An edit moves the cycle's last activity on only when it is older than this. Someone
#: typing saves every few seconds, and each save would otherwise write the cycle row
#: again; what reads it counts in days (stalled after 30, a reminder answered by any
#: later activity of a partnership that was stalled) or shows the date.
ACTIVITY_GRANULARITY = timedelta(minutes=5)


class AnswerStore(Protocol):
    """What the workflow asks of a step's answers; the worksheets own them."""

    def values(self, instance_ids: Sequence[int]) -> Iterable[tuple[int, str, Any]]:
        """(step instance id, question key, value) of every answer of the given instances."""
        ...

    def carry_over(self, copies: Sequence[CarryOver], user_id: int) -> None:
        """Copy the named answers of one instance into another as drafts (a new round)."""
        ...

    def move(self, moves: Sequence[AnswerMove], user_id: int | None) -> None:
        """Put answers under the keys of a newer plan version (``workflow.upgrading``)."""
        ...


@dataclass(frozen=True)
class CarryOver:
    """One step instance's answers to copy into the next round's: ``questions`` only.
    ``values``: the answers already put under a newer plan's keys (a round that starts on
    a newer version than the one before it); written instead of copying by key."""

    source: int
    target: int
    questions: frozenset[str]
    values: Any = None


@dataclass(frozen=True)
class AnswerMove:
    """One move of a plan upgrade in one step instance: a rename re-keys the answer (its
    history and comments go with it); a merge or split writes ``value`` under each target
    and keeps the old answers as they are (nothing is deleted)."""

    instance: int
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    value: Any = None

    @property
    def rename(self) -> bool:
        return len(self.sources) == 1 and len(self.targets) == 1


_answer_store: AnswerStore | None = None


def install_answer_store(store: AnswerStore | None) -> None:
    """Called by the app factory (as the plan's translator is installed)."""
    global _answer_store
    _answer_store = store


def _answers() -> AnswerStore:
    if _answer_store is None:  # pragma: no cover - the app factory installs it
        raise RuntimeError("no answer store installed (stappenplan.create_app installs the worksheets')")
    return _answer_store


def answers_of(instance_ids: Sequence[int]) -> Iterable[tuple[int, str, Any]]:
    """(instance id, question, value) of the answers of these step instances, for packages
    below the worksheets (practice: its tables and the evaluation moments)."""
    return _answers().values(instance_ids)


def step_answers(instance: StepInstance) -> dict[str, Any]:
    """The answers of one step instance, by question key (the practice tables' source)."""
    return {key: value for _id, key, value in _answers().values([instance.id])}


def _activity_is_stale(last: datetime | None, now: datetime) -> bool:
    return last is None or now - last >= ACTIVITY_GRANULARITY


def plan_for(cycle: Cycle) -> PlanDefinition:
    """The cycle's plan, its texts in the request's language (keys are the same in every language)."""
    return localized(get_definition(cycle.plan_version))


def current_cycle(partnership: Partnership, *, lock: bool = False) -> Cycle:
    """The partnership's newest cycle (optionally locked for an update)."""
    stmt = select(Cycle).where(Cycle.partnership_id == partnership.id).order_by(Cycle.number.desc()).limit(1)
    if lock:
        # populate_existing: the locked row's current values replace what the session held.
        stmt = stmt.with_for_update(of=Cycle).execution_options(populate_existing=True)
    cycle = db.session.scalar(stmt)
    if cycle is None:  # pragma: no cover - every partnership starts with a cycle
        raise LookupError("partnership without cycle")
    return cycle


def instances_of(cycle: Cycle) -> list[StepInstance]:
    """The cycle's step instances with their sign-offs, in one statement (a dozen rows;
    every worksheet request and save reads them)."""
    return list(db.session.scalars(_instances_statement(), {"cycle": cycle.id}).unique())


@functools.cache
def _instances_statement() -> Select:
    """``instances_of``'s statement, built once per process (a bind parameter for the cycle)."""
    return (
        select(StepInstance)
        .where(StepInstance.cycle_id == bindparam("cycle"))
        .options(joinedload(StepInstance.signoffs))
        .order_by(StepInstance.step, StepInstance.slot)
        .execution_options(populate_existing=True)
    )


@dataclass
class Filled:
    """Per step instance: the questions that count as answered, and those with an
    incomplete table row (see definition.incomplete_rows)."""

    answered: set[str] = field(default_factory=set)
    incomplete: set[str] = field(default_factory=set)


def answered_keys(defn: PlanDefinition, instances: list[StepInstance]) -> dict[int, Filled]:
    """Per instance id, which questions are answered and which are incomplete."""
    by_id = {i.id: i for i in instances}
    result: dict[int, Filled] = {i.id: Filled() for i in instances}
    if not by_id:
        return result
    for instance_id, key, value in _answers().values(list(by_id)):
        step = defn.step(by_id[instance_id].step)
        try:
            question = step.question(key)
        except KeyError:
            continue
        if is_answered(question, value):
            result[instance_id].answered.add(key)
        if incomplete_rows(question, value):
            result[instance_id].incomplete.add(key)
    return result


def state_from(cycle: Cycle, instances: list[StepInstance], filled: dict[int, Filled]) -> CycleState:
    empty = Filled()
    steps = {
        (i.step, i.slot): StepState(
            step=i.step,
            slot=i.slot,
            status=i.status,
            signoffs=frozenset(s.party for s in i.signoffs),
            answered=frozenset(filled.get(i.id, empty).answered),
            incomplete=frozenset(filled.get(i.id, empty).incomplete),
        )
        for i in instances
    }
    return CycleState(number=cycle.number, steps=steps, closed=cycle.closed_at is not None)


def load_state(cycle: Cycle) -> CycleState:
    instances = instances_of(cycle)
    return state_from(cycle, instances, answered_keys(plan_for(cycle), instances))


def _create_cycle(partnership: Partnership, number: int, plan_version: int) -> tuple[Cycle, list[StepInstance]]:
    defn = get_definition(plan_version)
    cycle = Cycle(partnership_id=partnership.id, number=number, plan_version=plan_version)
    db.session.add(cycle)
    db.session.flush()
    now = utcnow()
    instances = []
    for (step, slot), state in sorted(engine.initial_state(defn, number).steps.items()):
        instance = StepInstance(
            cycle_id=cycle.id,
            step=step,
            slot=slot,
            status=state.status,
            opened_at=now if state.status == engine.OPEN else None,
        )
        db.session.add(instance)
        instances.append(instance)
    db.session.flush()
    return cycle, instances


def _audit(event: Event, partnership: Partnership, user: User | None, cycle_number: int) -> None:
    record(
        f"workflow.{event.kind}",
        actor_id=user.id if user else None,
        organisation_id=user.organisation.id if user and user.organisation else None,
        partnership_id=partnership.id,
        step=event.step,
        slot=event.slot,
        party=event.party,
        cycle=cycle_number,
        **event.detail,
    )


def start_first_cycle(partnership: Partnership, actor: User, plan_version: int | None = None) -> Cycle:
    """Cycle 1 on the newest plan version (an older one only for demo data and tests of
    partnerships that started before it): step 1 opens for both parties."""
    version = latest_version() if plan_version is None else plan_version
    partnership.plan_version = version
    cycle, _instances = _create_cycle(partnership, 1, version)
    for party in ("library", "childcare"):
        record(
            "workflow.step_opened",
            actor_id=actor.id,
            organisation_id=actor.organisation.id,
            partnership_id=partnership.id,
            step=1,
            slot=party,
            party=party,
            cycle=1,
        )
    return cycle


@dataclass
class Outcome:
    events: list[Event]
    cycle: Cycle


def locked_cycle(partnership: Partnership) -> tuple[Cycle, list[StepInstance]]:
    """The current cycle, its row locked for this transaction, and its step instances:
    what ``perform`` and ``check`` take as ``locked``."""
    cycle = current_cycle(partnership, lock=True)
    return cycle, instances_of(cycle)


def _apply(partnership: Partnership, user: User, party: str, action: Action, cycle: Cycle,
           instances: list[StepInstance], reason: str | None = None
           ) -> tuple[CycleState, CycleState, list[Event]]:
    """Ask the engine: the state before, the state after and the events; raises
    ``ActionRefused``. Shared by ``check`` and ``perform``, so both apply the same rules."""
    defn = plan_for(cycle)
    answered = answered_keys(defn, instances) if action.kind in engine.NEEDS_ANSWERS else {}
    before = state_from(cycle, instances, answered)
    after, events = engine.apply(defn, before, action, Actor(party, user.is_admin), reason=reason,
                                 situation=partnership.situation)
    return before, after, events


def perform(
    partnership: Partnership,
    user: User,
    party: str,
    action: Action,
    *,
    reason: str | None = None,
    locked: tuple[Cycle, list[StepInstance]] | None = None,
) -> Outcome:
    """Carry out one workflow action for ``user`` acting for ``party``.

    Raises ``ActionRefused`` (with a Dutch message, and the missing questions when
    answers are missing) before it changes anything. It adds to the unit of work and
    does not commit.

    ``locked``: the current cycle and its instances, read by the caller in this
    transaction after locking the cycle row (``current_cycle(lock=True)``); they are
    then not read again.
    """
    if action.kind == "edit":  # pragma: no cover - a programming error
        raise ValueError("a step's content changes through workflow.edit")
    cycle, instances = locked if locked is not None else locked_cycle(partnership)
    before, after, events = _apply(partnership, user, party, action, cycle, instances, reason)
    if action.kind == "start_new_cycle":
        new_cycle = _start_next_cycle(partnership, cycle, user)
        for event in events:
            _audit(event, partnership, user, new_cycle.number)
        for (step, slot), state in sorted(after.steps.items()):
            if state.status == engine.OPEN:  # step 1 opens for both, as in the first cycle
                _audit(Event("step_opened", step, slot, party), partnership, user, new_cycle.number)
        db.session.flush()
        return Outcome(events, new_cycle)
    _settle(partnership, user, party, cycle, instances, before, after, events, edited=False)
    return Outcome(events, cycle)


R = TypeVar("R")


@dataclass
class Written(Generic[R]):
    """What ``edit``'s writer reports: its own result, and whether the step now says
    something else (an empty table row added or removed does not)."""

    result: R
    changed: bool


def edit(partnership: Partnership, user: User, party: str, step: int, slot: str,
         write: Callable[[], Written[R]], *, locked: tuple[Cycle, list[StepInstance]] | None = None) -> R:
    """The one way to change a step's content, in one trip down and back.

    Locks the cycle row (serialising the change with sign-offs and other edits of the
    partnership), asks the engine whether ``party`` may edit the step now (raises
    ``ActionRefused`` before anything is written), runs ``write``, and only when it
    changed the content voids the sign-offs, audits and tells the listeners. ``write``
    runs inside the caller's transaction; undoing its own work is the caller's affair.
    """
    cycle, instances = locked if locked is not None else locked_cycle(partnership)
    action = Action("edit", step, slot)
    before, after, events = _apply(partnership, user, party, action, cycle, instances)
    written = write()
    if written.changed:
        _settle(partnership, user, party, cycle, instances, before, after, events, edited=True)
    return written.result


def _settle(partnership: Partnership, user: User, party: str, cycle: Cycle, instances: list[StepInstance],
            before: CycleState, after: CycleState, events: list[Event], *, edited: bool) -> None:
    """Store an allowed transition with its audit events and tell the listeners."""
    _store(cycle, instances, before, after, user)
    for event in events:
        _audit(event, partnership, user, cycle.number)
    now = utcnow()
    if events or (edited and _activity_is_stale(cycle.last_activity_at, now)):
        cycle.last_activity_at = now
    # Who hears about it is not the workflow's business: notifications listens.
    signals.workflow_events.send(partnership, events=[_with_cycle(e, cycle.number) for e in events], actor=user,
                                 party=party)
    db.session.flush()


def note_activity(partnership_id: int) -> None:
    """Work beside the plan (practice) counts as activity for the stalled list: the newest
    round's last activity moves on, at most once per ``ACTIVITY_GRANULARITY``."""
    newest = select(func.max(Cycle.number)).where(Cycle.partnership_id == partnership_id).scalar_subquery()
    now = utcnow()
    db.session.execute(sa.update(Cycle).where(Cycle.partnership_id == partnership_id, Cycle.number == newest,
                                              Cycle.last_activity_at < now - ACTIVITY_GRANULARITY)
                       .values(last_activity_at=now).execution_options(synchronize_session=False))


def _with_cycle(event: Event, number: int) -> Event:
    return Event(event.kind, event.step, event.slot, event.party, {**event.detail, "cycle": number})


def _store(cycle: Cycle, instances: list[StepInstance], before: CycleState, after: CycleState, user: User) -> None:
    now = utcnow()
    by_key = {(i.step, i.slot): i for i in instances}
    for key, new in after.steps.items():
        old = before.steps[key]
        instance = by_key[key]
        if new.status != old.status:
            instance.status = new.status
            if new.status == engine.OPEN:
                instance.opened_at = instance.opened_at or now
                instance.completed_at = None
            elif new.status == engine.COMPLETED:
                instance.completed_at = now
        for party in new.signoffs - old.signoffs:
            db.session.add(
                SignOff(
                    step_instance_id=instance.id, party=party, user_id=user.id, content_version=instance.content_version
                )
            )
        gone = old.signoffs - new.signoffs
        if gone:
            for signoff in list(instance.signoffs):
                if signoff.party in gone:
                    instance.signoffs.remove(signoff)
                    db.session.delete(signoff)
    if after.closed and not before.closed:
        cycle.closed_at = now
    elif before.closed and not after.closed:
        cycle.closed_at = None
    db.session.flush()


def _start_next_cycle(partnership: Partnership, previous: Cycle, user: User) -> Cycle:
    """A new round on the newest plan, prefilled with the previous answers as drafts."""
    version = latest_version()
    cycle, instances = _create_cycle(partnership, previous.number + 1, version)
    defn = get_definition(version)
    new_by_key = {(i.step, i.slot): i for i in instances}
    olds = instances_of(previous)
    # A round on a newer plan than the round before: the answers go through the new plan's
    # upgrade rules (renamed, merged), read first so the store gets them under the new keys.
    newer = previous.plan_version != version
    values: dict[int, dict[str, Any]] = {}
    if newer:
        for instance_id, key, value in _answers().values([o.id for o in olds]):
            values.setdefault(instance_id, {})[key] = value
    copies = []
    for old in olds:
        target = new_by_key.get((old.step, old.slot))
        questions = frozenset(engine.carry_over_questions(defn, old.step))
        if target is None or not questions:
            continue
        if newer:
            mapped = carried_across(previous.plan_version, version, old.step, values.get(old.id, {}), questions)
            if mapped:
                copies.append(CarryOver(old.id, target.id, frozenset(mapped), values=mapped))
        else:
            copies.append(CarryOver(old.id, target.id, questions))
    if copies:
        _answers().carry_over(copies, user.id)
    partnership.plan_version = version
    # After a round together, the partnership starts the next one as "already working together".
    partnership.situation = WORKING_TOGETHER
    db.session.flush()
    return cycle


def carried_across(frm: int, to: int, step: int, values: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Answers of ``step`` on version ``frm`` as answers on version ``to``, hop by hop
    through each plan file's upgrade section (empty when there is no way)."""
    current = frm
    sources = upgrade_sources()
    for hop in path(sources, frm, to, sources):
        values = carried_values(get_definition(current), get_definition(hop), step, values,
                                keys if hop == to else (q.key for q in get_definition(hop).step(step).questions))
        current = hop
    return values if current == to else {}


def previous_cycle(cycle: Cycle) -> Cycle | None:
    """The round before ``cycle`` (None in the first round)."""
    if cycle.number <= 1:
        return None
    return db.session.scalar(
        select(Cycle).where(Cycle.partnership_id == cycle.partnership_id, Cycle.number == cycle.number - 1)
    )
