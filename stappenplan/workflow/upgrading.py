"""Moving a running partnership to a newer plan version, without losing an answer.

The library admin chooses it (the preview in ``plan_upgrade``, then ``upgrade``), or an
operator does it in bulk (``flask plan upgrade``). One partnership is one transaction: the
current round is locked, its answers are put under the new version's keys through the
answer store (``workflow.upgrade`` decides how), the round and the partnership name the
new version, and an audit event and a signal say so. Nothing else changes: steps keep
their status, joint steps their approvals and their content version (the answers are the
same, under new names), so the engine's state is the same before and after. Earlier
rounds keep the version they ran on. A second run finds the round on the new version and
does nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..accounts.models import User
from ..audit.services import record
from ..core import signals
from ..extensions import db, utcnow
from ..partnerships.models import Partnership
from .definition import PlanDefinition
from .models import Cycle, StepInstance
from .plan_loader import available_versions, get_definition, latest_version, upgrade_sources
from .services import AnswerMove, _answers, current_cycle, instances_of
from .upgrade import StepDiff, combine, diff, path, readable_old, step_moves


class NoUpgradePath(ValueError):
    """The plan files give no way from the round's version to the one asked for."""


@dataclass
class StepReport:
    """What an upgrade does (or would do) to one step of one partnership."""

    number: int
    title: str
    kept: int = 0                                   # answers that stay under their key
    moved: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    retired: list[tuple[str, str, str]] = field(default_factory=list)  # (slot, key, old label): "uit versie N"
    added: list[str] = field(default_factory=list)  # new questions' keys
    new_required_in_completed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.moved or self.retired or self.added)

    @property
    def moved_answers(self) -> int:
        """Answers that go to a question with another key (a merge counts each answer)."""
        return sum(len(sources) for _slot, sources, _targets in self.moved)


@dataclass
class UpgradeReport:
    partnership_id: int
    public_id: str
    from_version: int
    to_version: int
    steps: list[StepReport]
    done: bool = False

    @property
    def answers_moved(self) -> int:
        return sum(s.moved_answers for s in self.steps)

    @property
    def answers_retired(self) -> int:
        return sum(len(s.retired) for s in self.steps)

    @property
    def answers_kept(self) -> int:
        return sum(s.kept for s in self.steps)


def versions_between(frm: int, to: int) -> list[int]:
    """The versions a round passes from ``frm`` to ``to``; NoUpgradePath when there is none."""
    hops = path(available_versions(), frm, to, upgrade_sources())
    if not hops:
        raise NoUpgradePath(f"geen weg van versie {frm} naar versie {to}")
    return hops


def changes(frm: int, to: int) -> list[StepDiff]:
    """What the plan itself changes between two versions (one hop: the preview's list)."""
    return diff(get_definition(frm), get_definition(to))


@functools.lru_cache(maxsize=64)
def added_keys(frm: int, to: int, step: int) -> frozenset[str]:
    """Questions of ``step`` that version ``to`` asks and ``frm`` did not (renamed and merged
    questions are not new: they hold the old answers)."""
    for found in changes(frm, to):
        if found.number == step:
            return frozenset(q.key for q in found.added)
    return frozenset()


def upgrade_available(cycle: Cycle) -> int | None:
    """The newest version this round can move to, or None when it is on it already."""
    latest = latest_version()
    if cycle.plan_version >= latest:
        return None
    try:
        versions_between(cycle.plan_version, latest)
    except NoUpgradePath:
        return None
    return latest


def _values(instances: list[StepInstance]) -> dict[int, dict[str, object]]:
    found: dict[int, dict[str, object]] = {}
    for instance_id, key, value in _answers().values([i.id for i in instances]):
        found.setdefault(instance_id, {})[key] = value
    return found


def _hop(old: PlanDefinition, new: PlanDefinition, instances: list[StepInstance],
         values: dict[int, dict[str, object]], reports: dict[int, StepReport]) -> list[AnswerMove]:
    """The answer moves of one version hop, and what they do, per step."""
    moves: list[AnswerMove] = []
    for instance in instances:
        answers = values.get(instance.id, {})
        report = reports[instance.step]
        old_step = old.step(instance.step)
        present = [k for k, v in answers.items() if v is not None]
        moved_keys: set[str] = set()
        for move in step_moves(new, instance.step):
            held = [k for k in move.sources if answers.get(k) is not None]
            if not held:
                continue
            moved_keys.update(move.sources)
            value = None if len(move.sources) == 1 and len(move.targets) == 1 else (
                combine([(old_step.question(k), answers.get(k)) for k in move.sources])
                if len(move.sources) > 1 else answers.get(move.sources[0]))
            moves.append(AnswerMove(instance.id, move.sources, move.targets, value))
            report.moved.append((instance.slot, tuple(held), move.targets))
        report.retired.extend((instance.slot, q.key, q.label) for q in readable_old(old, new, instance.step, present))
        new_keys = {q.key for q in new.step(instance.step).questions}
        report.kept += sum(1 for k in present if k in new_keys and k not in moved_keys)
        if instance.status == "completed":
            old_keys = {q.key for q in old_step.questions}
            report.new_required_in_completed.extend(
                q.key for q in new.step(instance.step).questions if q.required and q.key not in old_keys
                and not any(q.key in m.targets for m in step_moves(new, instance.step)))
    return moves


def plan_upgrade(partnership: Partnership, to: int | None = None, *, lock: bool = False,
                 apply: bool = False, actor: User | None = None) -> UpgradeReport | None:
    """What moving ``partnership``'s current round to version ``to`` (default: the newest)
    does, per step; with ``apply`` it is done. None when the round is on it already."""
    cycle = current_cycle(partnership, lock=lock or apply)
    to = latest_version() if to is None else to
    if cycle.plan_version >= to:
        return None
    frm = cycle.plan_version
    hops = versions_between(frm, to)
    instances = instances_of(cycle)
    target = get_definition(to)
    reports = {s.number: StepReport(s.number, s.title, added=[]) for s in target.steps}
    for step_diff in diff(get_definition(hops[-2] if len(hops) > 1 else frm), target):
        reports[step_diff.number].added = [q.key for q in step_diff.added]
    current = frm
    values = _values(instances)
    for hop in hops:
        moves = _hop(get_definition(current), get_definition(hop), instances, values, reports)
        if apply:
            _answers().move(moves, actor.id if actor else None)
            values = _values(instances)
        current = hop
    report = UpgradeReport(partnership.id, partnership.public_id, frm, to,
                           [reports[s.number] for s in target.steps])
    if apply:
        cycle.plan_version = to
        cycle.upgraded_from = frm
        cycle.upgraded_at = utcnow()
        partnership.plan_version = to
        record("workflow.plan_upgraded", actor_id=actor.id if actor else None,
               organisation_id=actor.organisation.id if actor and actor.organisation else partnership.library_id,
               partnership_id=partnership.id, cycle=cycle.number, **{"from": frm, "to": to},
               moved=report.answers_moved, retired=report.answers_retired)
        db.session.flush()
        signals.plan_upgraded.send(partnership, actor=actor, from_version=frm, to_version=to)
        report.done = True
    return report


def upgrade(partnership: Partnership, actor: User | None, to: int | None = None) -> UpgradeReport | None:
    """Move the partnership's current round to version ``to`` in the caller's transaction."""
    return plan_upgrade(partnership, to, apply=True, actor=actor)
