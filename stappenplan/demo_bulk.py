"""Bulk demo data: hundreds of partnerships for overviews, load tests and screenshots.

The normal demo (``demo.seed``) drives each partnership through the real services,
which is right for five partnerships but far too slow for a thousand. Here the
workflow *state* is still decided by the pure engine (``initial_state`` + ``apply``
with fake answered sets), so every row is consistent with the plan's rules, but the
resulting cycles, step instances, sign-offs and audit events are written directly
in batches. Worksheets stay empty: only progress is simulated.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, insert, select

from . import demo
from .accounts.models import User
from .audit.models import AuditEvent
from .core import uow
from .extensions import db, new_public_id, utcnow
from .organisations.models import Membership, Organisation, Region, RegionMembership
from .partnerships.models import Partnership
from .workflow import engine
from .workflow.definition import PlanDefinition
from .workflow.engine import Action, Actor, CycleState, Event
from .workflow.models import Cycle, SignOff, StepInstance
from .workflow.plan_loader import get_definition, latest_version

REGION_NAME = "Regio Rivierenland"
PARTNERSHIPS_PER_BRANCH = 25
BATCH = 250
EMAIL_PREFIX = "bulk-"

# fmt: off
TOWNS = (
    "Geldermalsen", "Zaltbommel", "Buren", "Leerdam", "Beesd", "Kesteren", "Waardenburg", "Haaften",
    "Asperen", "Heukelum", "Rossum", "Kerkdriel", "Ammerzoden", "Hedel", "Brakel", "Zuilichem", "Echteld",
    "Maurik", "Lienden", "Zoelen", "Ophemert", "Varik", "Meteren", "Deil", "Erichem", "Wadenoijen",
    "Ingen", "Ommeren", "Ravenswaaij", "Est", "Opijnen", "Herwijnen", "Vuren", "Gameren", "Nieuwaal",
    "Aalst", "Poederoijen", "Well", "Velddriel", "Hurwenen",
)
CHILDCARE_KINDS = ("Kinderopvang", "Kindcentrum", "Peuteropvang", "Kinderdagverblijf", "KDV", "Peuterspeelzaal")
CHILDCARE_NAMES = (
    "De Vlindertuin", "Het Zonnetje", "De Boomhut", "Kleine Beer", "De Speelwei", "Het Kikkerhuis",
    "De Notenkraker", "Pinkeltje", "De Wilgenhoek", "Het Klaverblad", "De Zeepbel", "Dikkie Dik",
    "De Rupsjes", "Het Uilennest", "De Regenboog", "Kwetternest", "De Appelboom", "Het Vossenhol",
)
FIRST_NAMES = (
    "Anouk", "Bram", "Charlotte", "Daan", "Esra", "Femke", "Gijs", "Hanna", "Ilse", "Jesse", "Kim", "Lars",
    "Mila", "Nadia", "Olaf", "Priya", "Roos", "Sem", "Tessa", "Yasmin", "Zeynep", "Wouter", "Eva", "Mohamed",
)
LAST_NAMES = (
    "de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "Mulder",
    "de Boer", "Bos", "Vos", "Peters", "Hendriks", "Dekker", "Kaya", "Yilmaz", "El Idrissi", "van Dijk",
)

#: Weighted end points: (library steps done, childcare steps done, joint steps done).
#: Joint steps done counts steps 4-8; 5 means the cycle is closed.
_PROGRESS = (
    ((0, 0, 0), 6), ((1, 0, 0), 5), ((1, 1, 0), 7), ((2, 1, 0), 6), ((2, 2, 0), 6), ((3, 2, 0), 6),
    ((3, 1, 0), 3), ((3, 3, 0), 9), ((3, 3, 1), 9), ((3, 3, 2), 8), ((3, 3, 3), 7), ((3, 3, 4), 6),
    ((3, 3, 5), 8),
)
# fmt: on


@dataclass
class _Party:
    """An organisation and its (only) admin, who acts for it in the simulation."""

    org_id: int
    user_id: int


@dataclass
class _Plan:
    """One partnership to create: its two organisations and where it ends up."""

    library_id: int
    childcare_id: int
    point: tuple[int, int, int]


@dataclass
class _Walk:
    """What the engine decided for one cycle, with a time for every transition."""

    state: CycleState
    timed_events: list[tuple[datetime, Event]] = field(default_factory=list)


def _required_keys(defn: PlanDefinition, step: int) -> frozenset[str]:
    """All question keys of a step: a superset of the required ones is enough."""
    return frozenset(q.key for q in defn.step(step).questions)


def _actions(
    defn: PlanDefinition, lib_done: int, cc_done: int, joint_done: int, half_signed: str | None = None
) -> list[tuple[str, Action]]:
    """The sequence of (party, action) that brings a fresh cycle to the end point.

    ``half_signed`` names a party that already approved the next joint step (it
    then waits for the other organisation).
    """
    plan: list[tuple[str, Action]] = []
    handoff = engine.last_private_step(defn)
    # Interleave the two parties' own steps, as real partners work in parallel.
    for step in range(1, handoff + 1):
        if step <= lib_done:
            plan.append(("library", Action("complete", step, "library")))
        if step <= cc_done:
            plan.append(("childcare", Action("complete", step, "childcare")))
    for step in range(handoff + 1, handoff + 1 + joint_done):
        if defn.step(step).mode == "lead":
            plan.append((engine.LEAD_PARTY, Action("complete", step, engine.JOINT)))
        else:
            plan.append(("library", Action("sign_off", step, engine.JOINT)))
            plan.append(("childcare", Action("sign_off", step, engine.JOINT)))
    following = handoff + 1 + joint_done
    if half_signed and lib_done == cc_done == handoff and following <= len(defn.steps):
        if defn.step(following).mode == "joint":
            plan.append((half_signed, Action("sign_off", following, engine.JOINT)))
    return plan


def _walk(
    defn: PlanDefinition,
    number: int,
    actions: list[tuple[str, Action]],
    times: list[datetime],
    situation: int,
) -> _Walk:
    """Apply the actions with the real engine; every action gets its own moment."""
    walk = _Walk(engine.initial_state(defn, number))
    for (party, action), at in zip(actions, times, strict=True):
        assert action.step is not None and action.slot is not None
        state = engine.with_answered(walk.state, action.step, action.slot, _required_keys(defn, action.step))
        walk.state, events = engine.apply(defn, state, action, Actor(party, is_admin=True), situation=situation)
        walk.timed_events.extend((at, event) for event in events)
    return walk


def _spread(rng: random.Random, start: datetime, end: datetime, count: int) -> list[datetime]:
    """``count`` sorted moments between start and end; the last one is ``end`` itself,
    so "last activity" is exactly the moment chosen for it."""
    span = max((end - start).total_seconds(), 0.0)
    moments = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    if moments:
        moments[-1] = max(end, start)
    return moments


class _Builder:
    """Turns engine walks into plain row dicts, written with bulk INSERTs per batch."""

    def __init__(self, defn: PlanDefinition, parties: dict[int, _Party]) -> None:
        self.defn = defn
        self.parties = parties  # organisation id -> its admin

    def cycle_rows(
        self, partnership: Partnership, number: int, created: datetime, walk: _Walk
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """Cycle, its instances (with times) and its sign-offs (keyed by "step:slot")."""
        opened: dict[tuple[int, str], datetime] = {}
        completed: dict[tuple[int, str], datetime] = {}
        signed: dict[tuple[int, str], dict[str, datetime]] = {}
        closed_at = None
        last = created
        for at, event in walk.timed_events:
            last = max(last, at)
            key = (event.step or 0, event.slot or "")
            if event.kind == "step_opened":
                opened[key] = at
            elif event.kind == "step_completed":
                completed[key] = at
            elif event.kind == "signed_off":
                signed.setdefault(key, {})[event.party] = at
            elif event.kind == "cycle_closed":
                closed_at = at
        cycle = {
            "public_id": new_public_id(),
            "partnership_id": partnership.id,
            "number": number,
            "plan_version": self.defn.version,
            "created_at": created,
            "closed_at": closed_at,
            "last_activity_at": last,
        }
        instances = []
        signoffs = []
        for (step, slot), st in sorted(walk.state.steps.items()):
            instances.append(
                {
                    "public_id": new_public_id(),
                    "step": step,
                    "slot": slot,
                    "status": st.status,
                    "opened_at": created if step == 1 else opened.get((step, slot)),
                    "completed_at": completed.get((step, slot)) if st.status == engine.COMPLETED else None,
                    "content_version": 0,
                }
            )
            for party in sorted(st.signoffs):
                signoffs.append(
                    {
                        "key": f"{step}:{slot}",
                        "party": party,
                        "user_id": self._party(partnership, party).user_id,
                        "content_version": 0,
                        "created_at": signed.get((step, slot), {}).get(party, last),
                    }
                )
        return cycle, instances, signoffs

    def _party(self, partnership: Partnership, party: str) -> _Party:
        org_id = partnership.library_id if party == "library" else partnership.childcare_id
        return self.parties[org_id]

    def audit_rows(self, partnership: Partnership, number: int, walk: _Walk) -> list[dict[str, Any]]:
        """One audit event per engine event, shaped like workflow.services._audit."""
        rows = []
        for at, event in walk.timed_events:
            actor = self._party(partnership, event.party)
            rows.append(
                {
                    "created_at": at,
                    "kind": f"workflow.{event.kind}",
                    "actor_id": actor.user_id,
                    "organisation_id": actor.org_id,
                    "partnership_id": partnership.id,
                    "detail": {
                        "step": event.step,
                        "slot": event.slot,
                        "party": event.party,
                        "cycle": number,
                        **event.detail,
                    },
                }
            )
        return rows


def _region() -> Region:
    """The demo region, seeding the normal demo first when it is missing."""
    region = db.session.scalar(select(Region).where(Region.name == REGION_NAME))
    if region is None:
        demo.seed()
        uow.checkpoint()
        region = db.session.scalar(select(Region).where(Region.name == REGION_NAME))
    if region is None:  # pragma: no cover - demo.seed always creates it
        raise LookupError(REGION_NAME)
    return region


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _organisations(
    rng: random.Random, kind: str, names: list[str], offset: int, password_hash: str
) -> list[tuple[Organisation, User]]:
    """Organisations with one admin each (emails numbered from ``offset``)."""
    slug = "bieb" if kind == "library" else "opvang"
    pairs = []
    for i, name in enumerate(names):
        org = Organisation(name=name, kind=kind)
        user = User(
            email=f"{EMAIL_PREFIX}{slug}-{offset + i}@{demo.DOMAIN}", name=_person(rng), password_hash=password_hash,
            email_confirmed_at=utcnow(),
        )
        pairs.append((org, user))
    db.session.add_all([x for pair in pairs for x in pair])
    db.session.flush()
    db.session.add_all(
        [
            Membership(
                user_id=user.id, organisation_id=org.id, role="admin", team="jeugd" if kind == "library" else None
            )
            for org, user in pairs
        ]
    )
    return pairs


def generate(n: int, seed: int = 1) -> int:
    """Create ``n`` partnerships in the demo region, spread over branches, steps and time.

    Returns the number of partnerships created. Can be called again: new branches,
    organisations and users get fresh names and e-mail addresses.
    """
    if n <= 0:
        return 0
    region = _region()
    defn = get_definition(latest_version())
    offset = db.session.scalar(select(func.count(User.id)).where(User.email.like(f"{EMAIL_PREFIX}%"))) or 0
    rng = random.Random(seed * 7919 + offset)
    password_hash = (
        db.session.scalar(select(User.password_hash).where(User.email == demo.LOGINS[0].email)) or demo._hash()
    )

    existing_branches = (
        db.session.scalar(select(func.count(RegionMembership.id)).where(RegionMembership.region_id == region.id)) or 0
    )
    branch_count = max(1, math.ceil(n / PARTNERSHIPS_PER_BRANCH))
    branch_names = []
    for k in range(branch_count):
        index = existing_branches + k
        town = TOWNS[index % len(TOWNS)]
        suffix = f" {index // len(TOWNS) + 1}" if index >= len(TOWNS) else ""
        branch_names.append(f"Bibliotheek Rivierenland – vestiging {town}{suffix}")
    branches = _organisations(rng, "library", branch_names, offset, password_hash)
    db.session.add_all([RegionMembership(region_id=region.id, library_id=org.id) for org, _user in branches])

    # One childcare location per partnership, except that every eighth partnership
    # is a location that already works with another branch.
    reuse = [i % 8 == 7 and branch_count > 1 for i in range(n)]
    cc_names = [
        f"{rng.choice(CHILDCARE_KINDS)} {rng.choice(CHILDCARE_NAMES)} {rng.choice(TOWNS)}"
        for i in range(n)
        if not reuse[i]
    ]
    childcare = _organisations(rng, "childcare", cc_names, offset + branch_count, password_hash)
    db.session.flush()
    parties = {org.id: _Party(org.id, user.id) for org, user in branches + childcare}
    branch_ids = [org.id for org, _user in branches]
    childcare_ids = iter([org.id for org, _user in childcare])
    uow.checkpoint()

    now = utcnow()
    builder = _Builder(defn, parties)
    points, weights = zip(*_PROGRESS, strict=True)
    previous_cc = 0
    plans: list[_Plan] = []
    for i in range(n):
        cc_id = previous_cc if reuse[i] else next(childcare_ids)
        previous_cc = cc_id
        plans.append(_Plan(branch_ids[i % branch_count], cc_id, rng.choices(points, weights)[0]))

    for start in range(0, n, BATCH):
        _write_batch(rng, builder, defn, plans[start : start + BATCH], now)
        uow.checkpoint()
    return n


def _write_batch(
    rng: random.Random,
    builder: _Builder,
    defn: PlanDefinition,
    plans: list[_Plan],
    now: datetime,
) -> None:
    """Partnerships, then cycles, then instances, then sign-offs and audit events."""
    partnerships = []
    for plan in plans:
        # Partnerships that did nothing yet are mostly new ones.
        age = rng.uniform(0, 60) if plan.point == (0, 0, 0) else rng.uniform(14, 365)
        created = now - timedelta(days=age, hours=rng.uniform(0, 23))
        partnerships.append(
            Partnership(
                library_id=plan.library_id,
                childcare_id=plan.childcare_id,
                situation=rng.choice((1, 2, 2, 3)),
                plan_version=defn.version,
                created_at=created,
            )
        )
    db.session.add_all(partnerships)
    db.session.flush()

    cycles: list[dict[str, Any]] = []
    instance_groups: list[list[dict[str, Any]]] = []
    signoff_groups: list[list[dict[str, Any]]] = []
    audits: list[dict[str, Any]] = []
    for partnership, plan in zip(partnerships, plans, strict=True):
        lib_done, cc_done, joint_done = plan.point
        half = rng.choice(engine.PARTIES) if rng.random() < 0.3 else None
        actions = _actions(defn, lib_done, cc_done, joint_done, half)
        # A quarter of the partnerships went quiet more than a month ago.
        quiet_days = rng.uniform(32, 120) if rng.random() < 0.25 else rng.uniform(0, 25)
        created = partnership.created_at
        end = min(now, max(now - timedelta(days=quiet_days), created + timedelta(hours=2)))
        second_round = joint_done == 5 and rng.random() < 0.6
        close_at = end - (end - created) * rng.uniform(0.15, 0.4) if second_round else end
        walk = _walk(
            defn, 1, actions, _spread(rng, created + timedelta(hours=1), close_at, len(actions)), partnership.situation
        )
        rounds = [(1, created, walk)]
        if second_round:
            started_at = min(close_at + timedelta(days=rng.uniform(1, 10)), end)
            point = rng.choice(((0, 0, 0), (1, 1, 0), (2, 1, 0), (3, 3, 0), (3, 3, 1), (3, 3, 2)))
            actions2 = _actions(defn, *point)
            walk2 = _walk(defn, 2, actions2, _spread(rng, started_at, end, len(actions2)), partnership.situation)
            walk2.timed_events.insert(
                0, (started_at, Event("cycle_started", None, None, "library", {"number": 2, "previous": 1}))
            )
            rounds.append((2, started_at, walk2))
        audits.append(
            {
                "created_at": created,
                "kind": "partnership_started",
                "actor_id": builder.parties[partnership.library_id].user_id,
                "organisation_id": partnership.library_id,
                "partnership_id": partnership.id,
                "detail": {"situation": partnership.situation},
            }
        )
        for number, started, round_walk in rounds:
            # Step 1 opens for both parties when the cycle starts (as start_first_cycle records).
            opened = [(started, Event("step_opened", 1, p, p, {})) for p in engine.PARTIES]
            at = 1 if number > 1 else 0  # after "cycle_started"
            round_walk.timed_events[at:at] = opened
            cycle, instances, signoffs = builder.cycle_rows(partnership, number, started, round_walk)
            cycles.append(cycle)
            instance_groups.append(instances)
            signoff_groups.append(signoffs)
            audits.extend(builder.audit_rows(partnership, number, round_walk))

    cycle_ids = _insert_returning_ids(Cycle, cycles)
    flat = []
    for cycle_id, instances in zip(cycle_ids, instance_groups, strict=True):
        for instance in instances:
            instance["cycle_id"] = cycle_id
            flat.append(instance)
    instance_ids = iter(_insert_returning_ids(StepInstance, flat))
    signoff_rows = []
    for instances, signoffs in zip(instance_groups, signoff_groups, strict=True):
        by_key = {f"{i['step']}:{i['slot']}": next(instance_ids) for i in instances}
        for row in signoffs:
            row["step_instance_id"] = by_key[row.pop("key")]
            signoff_rows.append(row)
    if signoff_rows:
        db.session.execute(insert(cast(Table, SignOff.__table__)), signoff_rows)
    db.session.execute(insert(cast(Table, AuditEvent.__table__)), audits)


def _insert_returning_ids(model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk INSERT that hands back the new ids in row order.

    Core (not ORM) INSERTs: the ORM splits a batch wherever a row leaves a nullable
    column out, which made thousands of small statements. RETURNING without
    ``sort_by_parameter_order`` keeps PostgreSQL's big batched statements (asking
    for the order falls back to one row at a time there), so rows are matched to
    their ids through the public_id generated here.
    """
    if not rows:
        return []
    table = model.__table__
    stmt = insert(table).returning(table.c.public_id, table.c.id)
    ids = {public_id: id_ for public_id, id_ in db.session.execute(stmt, rows)}
    return [ids[row["public_id"]] for row in rows]
