"""Step 8's goal scores of every round side by side, for a partnership in round 2 or later.

A goal is recognised across rounds by its text (the new round starts from the old
round's goals, which the partners may reword a little: case and spaces do not count).
Only steps that are open or done in their round count; a goal without a score in a
round is shown as unknown, never as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..workflow import engine
from ..workflow.definition import PlanDefinition
from ..workflow.models import Cycle, StepInstance
from ..worksheets.models import Answer


@dataclass(frozen=True)
class GoalAcrossRounds:
    label: str
    #: One score per round in ``RoundComparison.rounds`` (None: not scored in that round).
    scores: tuple[int | None, ...]


@dataclass(frozen=True)
class RoundComparison:
    rounds: tuple[int, ...]
    goals: tuple[GoalAcrossRounds, ...]
    scale_max: int


def _key(label: str) -> str:
    return " ".join(label.split()).casefold()


def _goal_labels(value: Any) -> list[tuple[str, str]]:
    """(row id, goal text) of step 4's shared goals table."""
    goals = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        cells = item.get("cells") or {}
        text = next((v for v in cells.values() if isinstance(v, str) and v.strip()), "")
        if text and item.get("id"):
            goals.append((str(item["id"]), text.strip()))
    return goals


def compare(cycles: list[Cycle], defn: PlanDefinition) -> RoundComparison | None:
    """The comparison over ``cycles`` (oldest first), or None with fewer than two rounds: one query."""
    question = next((q for step in defn.steps for q in step.questions if q.type == "goal_progress"), None)
    if len(cycles) < 2 or question is None or question.source is None:
        return None
    score_step = next(step.number for step in defn.steps if question in step.questions)
    source = question.source
    rows = db.session.execute(
        select(StepInstance.cycle_id, StepInstance.step, Answer.value)
        .join(Answer, Answer.step_instance_id == StepInstance.id)
        .where(StepInstance.cycle_id.in_([c.id for c in cycles]), StepInstance.status != engine.LOCKED,
               ((StepInstance.step == score_step) & (Answer.question == question.key))
               | ((StepInstance.step == source.step) & (Answer.question == source.question)))
    ).all()
    goals_of: dict[int, list[tuple[str, str]]] = {}
    scores_of: dict[int, dict[str, Any]] = {}
    for cycle_id, step, value in rows:
        if step == source.step:
            goals_of[cycle_id] = _goal_labels(value)
        elif isinstance(value, dict):
            scores_of[cycle_id] = value
    order: list[str] = []
    labels: dict[str, str] = {}
    per_round: dict[str, dict[int, int]] = {}
    for index, cycle in enumerate(cycles):
        scores = scores_of.get(cycle.id, {})
        for row_id, text in goals_of.get(cycle.id, []):
            key = _key(text)
            if key not in labels:
                order.append(key)
            labels[key] = text  # the newest wording
            entry = scores.get(row_id)
            value = entry.get("value") if isinstance(entry, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                per_round.setdefault(key, {})[index] = value
    if not per_round:
        return None
    goals = tuple(
        GoalAcrossRounds(labels[key], tuple(per_round.get(key, {}).get(i) for i in range(len(cycles))))
        for key in order
    )
    scale_max = max((int(k) for k in (question.scale_labels or {})), default=5)
    return RoundComparison(tuple(c.number for c in cycles), goals, scale_max)
