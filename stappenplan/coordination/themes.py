"""Region-wide themes from step 5: how often each theme comes up across a region.

Counts only where at least ``THEME_MIN_CONVERSATIONS`` conversations lie behind them (the
same threshold as a partnership's own overview), over the whole region or one branch;
never per partnership. Under row-level security coordinators cannot read the records, so
the counts come from the database function ``region_tally`` (migration 0014); without it
they are made here from the stored records. tests/test_region_themes.py checks both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, text

from .. import rls
from ..access import coordinated_library_ids
from ..extensions import db
from ..partnerships.models import Partnership
from ..workflow import engine
from ..workflow.answers import ThemeCounts, theme_overview
from ..workflow.definition import PlanDefinition, Question
from ..workflow.models import Cycle, StepInstance
from ..worksheets.models import Answer
from ..worksheets.tally import CHOICE_TYPES
from ..worksheets.tally import options_of as tally_options


@dataclass(frozen=True)
class RegionThemes:
    question: Question
    conversations: int
    minimum: int
    #: None below ``minimum`` conversations: then nothing is shown but the number of conversations.
    counts: ThemeCounts | None


def minimum() -> int:
    """The threshold, the same as a partnership's own overview."""
    return int(current_app.config["THEME_MIN_CONVERSATIONS"])


def records_question(defn: PlanDefinition) -> Question | None:
    """Step 5's conversation records: the question only the childcare organisation reads."""
    return next((q for step in defn.steps for q in step.questions
                 if q.visible_to == "childcare" and q.type == "records"), None)


def region_themes(org_id: int, defn: PlanDefinition, branch_id: int | None = None) -> RegionThemes | None:
    """The themes of the coordinator's region (or one of its branches): one query."""
    question = records_question(defn)
    if question is None:
        return None
    threshold = minimum()
    if rls.enabled(current_app):
        row = db.session.execute(
            text("SELECT conversations, counts FROM region_tally(:question, :minimum, :options, :library)"),
            {"question": question.key, "minimum": threshold, "options": tally_options(question),
             "library": branch_id},
        ).one()
        conversations, raw = int(row.conversations), row.counts
        counts = None if raw is None else {
            c.key: [(o, int(raw.get(f"{c.key}:{o.key}", 0))) for o in c.options]
            for c in question.columns if c.type in CHOICE_TYPES
        }
        return RegionThemes(question, conversations, threshold, counts)
    libraries = coordinated_library_ids(org_id, branch_id)
    values = db.session.scalars(
        select(Answer.value)
        .join(StepInstance, StepInstance.id == Answer.step_instance_id)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .join(Partnership, Partnership.id == Cycle.partnership_id)
        .where(Partnership.library_id.in_(libraries), StepInstance.status != engine.LOCKED,
               Answer.question == question.key)
    ).all()
    records = [row for value in values if isinstance(value, list) for row in value]
    conversations, counts = theme_overview(question, records, threshold)
    return RegionThemes(question, conversations, threshold, counts)
