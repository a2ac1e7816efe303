"""Step 5's theme counts for any viewer, also one who may not read the records.

Under row-level security (PostgreSQL with ``DB_APP_ROLE``) only the childcare
organisation can read the conversation records; the library and coordinators get
the counts from the database function ``record_tally`` (migration 0013), which
returns counts only, and only from the minimum number of conversations on. Without
row-level security the same counts are made here from the stored value, by
``workflow.answers.theme_overview``; tests/test_rls.py checks that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from .. import rls
from ..core import uow
from ..extensions import db, utcnow
from ..workflow import disclosure
from ..workflow.answers import ThemeCounts, theme_overview
from ..workflow.definition import Question
from .models import ThemeSnapshot

CHOICE_TYPES = ("choice", "multi")


def options_of(question: Question) -> list[str]:
    """``column:option`` for every option the overview counts."""
    return [f"{c.key}:{o.key}" for c in question.columns if c.type in CHOICE_TYPES for o in c.options]


def current(instance_id: int, question: Question, value: Any, minimum: int) -> tuple[int, ThemeCounts | None]:
    """(number of conversations, counts or None below ``minimum``), as ``theme_overview``:
    the live figures, before disclosure control (``overview`` publishes them).

    ``value``: the stored records as far as this viewer could read them (None when
    row-level security hid them); only used without row-level security.
    """
    if not rls.enabled(current_app):
        return theme_overview(question, value, minimum)
    row = db.session.execute(
        text("SELECT conversations, counts FROM record_tally(:instance, :question, :minimum, :options)"),
        {"instance": instance_id, "question": question.key, "minimum": minimum, "options": options_of(question)},
    ).one()
    conversations, counts = int(row.conversations), row.counts
    if counts is None:
        return conversations, None
    return conversations, {
        c.key: [(o, int(counts.get(f"{c.key}:{o.key}", 0))) for o in c.options]
        for c in question.columns if c.type in CHOICE_TYPES
    }


# --- disclosure control: what is shown comes from a snapshot (workflow/disclosure.py) -----------


def flat(counts: ThemeCounts | None) -> dict[str, int]:
    """``{column: [(option, n)]}`` as ``{"column:option": n}`` (how a snapshot keeps them)."""
    return {f"{column}:{option.key}": n for column, items in (counts or {}).items() for option, n in items}


def grouped(question: Question, counts: dict[str, int]) -> ThemeCounts:
    """A snapshot's counts in the question's order, as the templates show them."""
    return {c.key: [(o, int(counts.get(f"{c.key}:{o.key}", 0))) for o in c.options]
            for c in question.columns if c.type in CHOICE_TYPES}


def publish(scope: str, current_tally: disclosure.Tally, rule: disclosure.Rule, *, partnership_id: int | None = None,
            coordination_id: int | None = None) -> disclosure.Tally | None:
    """What may be shown for ``scope`` now; keeps a new snapshot when one is taken."""
    row = db.session.scalar(select(ThemeSnapshot).where(ThemeSnapshot.scope == scope))
    stored = None if row is None else disclosure.Tally(
        {int(k): int(v) for k, v in (row.by_partnership or {}).items()}, dict(row.counts or {}))
    result = disclosure.publish(stored, current_tally, rule)
    if result.snapshot is not None and result.snapshot is not stored:
        values = {"by_partnership": {str(k): v for k, v in result.snapshot.by_partnership.items()},
                  "counts": dict(result.snapshot.counts), "taken_at": utcnow()}
        try:
            with uow.savepoint():
                if row is None:
                    db.session.add(ThemeSnapshot(scope=scope, partnership_id=partnership_id,
                                                 coordination_id=coordination_id, **values))
                else:
                    for name, value in values.items():
                        setattr(row, name, value)
                db.session.flush()
        except IntegrityError:  # another request took the same snapshot at the same moment
            pass
    return result.shown


@dataclass(frozen=True)
class Overview:
    """A partnership's step-5 overview as shown: the conversations now, and the counts of
    the last snapshot (None while too few) with the number of conversations behind them."""

    count: int
    counts: ThemeCounts | None
    basis: int
    minimum: int


def overview(instance_id: int, partnership_id: int, question: Question, value: Any, minimum: int) -> Overview:
    """The overview of one step 5 (a partnership's library and childcare see it)."""
    count, counts = current(instance_id, question, value, minimum)
    live = disclosure.Tally({partnership_id: count}, flat(counts) if counts is not None else {})
    shown = publish(f"instance:{instance_id}", live, disclosure.Rule(minimum, 1), partnership_id=partnership_id)
    if shown is None:
        return Overview(count, None, 0, minimum)
    return Overview(count, grouped(question, dict(shown.counts)), shown.conversations, minimum)
