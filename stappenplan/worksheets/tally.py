"""Step 5's theme counts for any viewer, also one who may not read the records.

Under row-level security (PostgreSQL with ``DB_APP_ROLE``) only the childcare
organisation can read the conversation records; the library and coordinators get
the counts from the database function ``record_tally`` (migration 0013), which
returns counts only, and only from the minimum number of conversations on. Without
row-level security the same counts are made here from the stored value, by
``workflow.answers.theme_overview``; tests/test_rls.py checks that both agree.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import text

from .. import rls
from ..extensions import db
from ..workflow.answers import ThemeCounts, theme_overview
from ..workflow.definition import Question

CHOICE_TYPES = ("choice", "multi")


def options_of(question: Question) -> list[str]:
    """``column:option`` for every option the overview counts."""
    return [f"{c.key}:{o.key}" for c in question.columns if c.type in CHOICE_TYPES for o in c.options]


def overview(instance_id: int, question: Question, value: Any, minimum: int) -> tuple[int, ThemeCounts | None]:
    """(number of conversations, counts or None below ``minimum``), as ``theme_overview``.

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
