"""Region-wide themes from step 5: how often each theme comes up across a region.

Counts only where at least ``THEME_MIN_CONVERSATIONS`` conversations lie behind them (the
same threshold as a partnership's own overview), from at least ``THEME_MIN_PARTNERSHIPS``
partnerships, over the whole region or one branch: never the themes of one partnership,
also not through a branch that has one partnership past step 5. Under row-level security
coordinators cannot read the records, so the counts come from the database function
``region_tally`` (migrations 0014, 0015); without it they are made here from the stored
records. tests/test_region_themes.py checks both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, text

from .. import rls
from ..access import coordinated_library_ids
from ..extensions import db
from ..i18n import gettext as _
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
    #: None below ``minimum`` conversations or ``min_partnerships`` partnerships: then
    #: nothing is shown but the number of conversations.
    counts: ThemeCounts | None
    #: Partnerships with at least one conversation behind ``conversations``.
    partnerships: int = 0
    min_partnerships: int = 1

    @property
    def hidden_because(self) -> str | None:
        """Why no counts are shown, in the viewer's language (None when they are)."""
        if self.counts is not None:
            return None
        if self.conversations >= self.minimum:
            return _("Te weinig samenwerkingen om te tonen: de thema's verschijnen pas als de gesprekken van "
                     "ten minste %(n)d samenwerkingen meetellen, zodat een aantal nooit over één samenwerking gaat.",
                     n=self.min_partnerships)
        return _("Te weinig gesprekken om te tonen: de thema's verschijnen vanaf %(n)d gesprekken, zodat een "
                 "aantal nooit over één gezin gaat.", n=self.minimum)


def minimum() -> int:
    """The threshold, the same as a partnership's own overview."""
    return int(current_app.config["THEME_MIN_CONVERSATIONS"])


def min_partnerships() -> int:
    """How many partnerships must lie behind a region's (or branch's) counts."""
    return max(int(current_app.config["THEME_MIN_PARTNERSHIPS"]), 1)


def records_question(defn: PlanDefinition) -> Question | None:
    """Step 5's conversation records: the question only the childcare organisation reads."""
    return next((q for step in defn.steps for q in step.questions
                 if q.visible_to == "childcare" and q.type == "records"), None)


def region_themes(org_id: int, defn: PlanDefinition, branch_id: int | None = None) -> RegionThemes | None:
    """The themes of the coordinator's region (or one of its branches): one query."""
    question = records_question(defn)
    if question is None:
        return None
    threshold, spread = minimum(), min_partnerships()
    if rls.enabled(current_app):
        row = db.session.execute(
            text("SELECT conversations, partnerships, counts "
                 "FROM region_tally(:question, :minimum, :spread, :options, :library)"),
            {"question": question.key, "minimum": threshold, "spread": spread, "options": tally_options(question),
             "library": branch_id},
        ).one()
        conversations, raw = int(row.conversations), row.counts
        counts = None if raw is None else {
            c.key: [(o, int(raw.get(f"{c.key}:{o.key}", 0))) for o in c.options]
            for c in question.columns if c.type in CHOICE_TYPES
        }
        return RegionThemes(question, conversations, threshold, counts, int(row.partnerships), spread)
    libraries = coordinated_library_ids(org_id, branch_id)
    rows = db.session.execute(
        select(Cycle.partnership_id, Answer.value)
        .join(StepInstance, StepInstance.id == Answer.step_instance_id)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .join(Partnership, Partnership.id == Cycle.partnership_id)
        .where(Partnership.library_id.in_(libraries), StepInstance.status != engine.LOCKED,
               Answer.question == question.key)
    ).all()
    records = [record for _pid, value in rows if isinstance(value, list) for record in value]
    behind = len({pid for pid, value in rows if isinstance(value, list) and value})
    conversations, counts = theme_overview(question, records, threshold)
    if behind < spread:
        counts = None
    return RegionThemes(question, conversations, threshold, counts, behind, spread)
