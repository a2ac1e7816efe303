"""The partnership timeline as plain data for the template (one place, few queries)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, bindparam, select

from ..accounts.models import User
from ..extensions import db
from ..i18n import gettext as _
from ..partnerships.models import Partnership
from . import engine
from .definition import PlanDefinition, Step
from .engine import Action, Actor, CycleState
from .models import Cycle, StepInstance
from .services import answered_keys, instances_of, plan_for, state_from
from .upgrading import upgrade_available

SLOT_LABELS = {"library": "Bibliotheek", "childcare": "Kinderopvang", "joint": "Samen"}
STATUS_LABELS = {"locked": "Nog niet open", "open": "Open", "completed": "Afgerond"}


@dataclass
class SignOffView:
    party: str
    user_name: str
    at: datetime


@dataclass
class SlotView:
    slot: str
    label: str
    status: str
    status_label: str
    signoffs: list[SignOffView]
    visible: bool
    mine: bool
    opened_at: datetime | None
    completed_at: datetime | None


@dataclass
class StepView:
    step: Step
    intro: str | None
    slots: list[SlotView]
    actions: list[Action]
    current: bool
    completed: bool
    waiting: list[str] = field(default_factory=list)


@dataclass
class Timeline:
    partnership: Partnership
    cycle: Cycle
    defn: PlanDefinition
    state: CycleState
    role: str
    steps: list[StepView]
    todo: dict[str, list[str]]
    blockers: list[str]
    can_start_new_cycle: bool
    cycles: list[Cycle]

    @property
    def party(self) -> str | None:
        return self.role if self.role in engine.PARTIES else None

    @property
    def upgrade_to(self) -> int | None:
        """A newer plan version this round can move to (the page offers it; no statement)."""
        return upgrade_available(self.cycle)

    @property
    def next_work(self) -> tuple[StepView, SlotView] | None:
        """The first open worksheet of the viewer's organisation: the page's one main action
        ("Ga verder met stap N"), so nobody has to search the eight steps for it."""
        for view in self.steps:
            for slot in view.slots:
                if slot.mine and slot.visible and slot.status == engine.OPEN:
                    return view, slot
        return None

    def shares_answers(self, action: Action) -> bool:
        """Completing the last private step shows the organisation's own answers to the
        partner, which cannot be taken back: the button asks first."""
        return action.kind == "complete" and action.step == engine.last_private_step(self.defn)

    @property
    def steps_completed(self) -> int:
        """How many of the steps are done in this round (both slots of a step, if it has two)."""
        return sum(1 for view in self.steps if view.completed)


@functools.cache
def _cycles_statement() -> Select:
    """Every round of a partnership, oldest first (the partnership page), built once per
    process with a bind parameter (see ``access.user_by_public_id``)."""
    return select(Cycle).where(Cycle.partnership_id == bindparam("partnership")).order_by(Cycle.number)


def build(partnership: Partnership, role: str, user: User) -> Timeline:
    # Every round, oldest first (for the round links); the newest is the current one.
    cycles = list(db.session.scalars(_cycles_statement(), {"partnership": partnership.id}))
    cycle = cycles[-1]
    defn = plan_for(cycle)
    instances = instances_of(cycle)
    state = state_from(cycle, instances, answered_keys(defn, instances))
    by_key: dict[tuple[int, str], StepInstance] = {(i.step, i.slot): i for i in instances}
    signer_ids = {s.user_id for i in instances for s in i.signoffs if s.user_id}
    names = (
        dict(db.session.execute(select(User.id, User.name).where(User.id.in_(signer_ids))).all()) if signer_ids else {}
    )
    party = role if role in engine.PARTIES else None
    allowed = engine.allowed_actions(defn, state, Actor(party, user.is_admin), partnership.situation) if party else []
    steps = []
    for step in defn.steps:
        slot_views = []
        for slot in engine.slots_for(defn, step.number):
            instance = by_key[(step.number, slot)]
            viewer = party or "coordinator"
            slot_views.append(
                SlotView(
                    slot=slot,
                    label=_(SLOT_LABELS[slot]),
                    status=instance.status,
                    status_label=_(STATUS_LABELS[instance.status]),
                    signoffs=[
                        SignOffView(s.party, names.get(s.user_id or 0, _("verwijderde gebruiker")), s.created_at)
                        for s in sorted(instance.signoffs, key=lambda s: s.created_at)
                    ],
                    visible=_visible(defn, state, viewer, step.number, slot, role),
                    mine=slot == party or (slot == engine.JOINT and party is not None),
                    opened_at=instance.opened_at,
                    completed_at=instance.completed_at,
                )
            )
        actions = [a for a in allowed if a.step == step.number and a.kind != "edit"]
        relevant = [v for v in slot_views if v.mine] or slot_views
        steps.append(
            StepView(
                step=step,
                intro=step.intro_for(partnership.situation),
                slots=slot_views,
                actions=actions,
                current=any(v.status == engine.OPEN for v in relevant),
                completed=all(v.status == engine.COMPLETED for v in slot_views),
            )
        )
    return Timeline(
        partnership=partnership,
        cycle=cycle,
        defn=defn,
        state=state,
        role=role,
        steps=steps,
        todo=engine.next_actor(defn, state, partnership.situation),
        blockers=engine.blockers(defn, state, party) if party else [],
        can_start_new_cycle=any(a.kind == "start_new_cycle" for a in allowed),
        cycles=cycles,
    )


def _visible(defn: PlanDefinition, state: CycleState, viewer: str, step: int, slot: str, role: str) -> bool:
    """Coordinators see only shared steps; parties follow the engine's privacy rule."""
    if role == "coordinator":
        return defn.step(step).mode != "each" and state.get(step, slot).status != engine.LOCKED
    return engine.visible(defn, state, viewer, step, slot)
