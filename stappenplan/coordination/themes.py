"""Region-wide themes from step 5: how often each theme comes up across a region.

What a coordinator sees is decided by workflow/disclosure.py: only the whole region's
figure (a branch's beside it could be subtracted, and a branch with one partnership would
stand alone), only where at least ``THEME_MIN_CONVERSATIONS`` conversations of at least
``THEME_MIN_PARTNERSHIPS`` partnerships lie behind it, and published from a snapshot that
is renewed only after that many conversations changed in that many partnerships. Under
row-level security coordinators cannot read the records, so the live counts come from the
database function ``region_tally`` (migrations 0014, 0015, 0018, 0019); without it they are
made here from the stored records. tests/test_region_themes.py checks both agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select, text

from .. import rls
from ..access import coordinated_library_ids
from ..extensions import db
from ..i18n import gettext as _
from ..partnerships.models import Partnership
from ..workflow import disclosure, engine
from ..workflow.answers import ThemeCounts, theme_overview
from ..workflow.definition import PlanDefinition, Question
from ..workflow.models import Cycle, StepInstance
from ..worksheets import tally
from ..worksheets.models import Answer


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
    #: The conversations behind the counts shown (their snapshot).
    basis: int = 0
    #: Asked for one branch: no themes (they could be subtracted from the region's).
    branch: bool = False

    @property
    def hidden_because(self) -> str | None:
        """Why no counts are shown, in the viewer's language (None when they are)."""
        if self.counts is not None:
            return None
        if self.branch:
            return _("Thema's tonen we alleen voor de hele regio, niet per vestiging: naast het cijfer van de "
                     "regio zou dat van een vestiging af te trekken zijn, en een vestiging met één "
                     "samenwerking zou alleen staan.")
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
    """The themes of the coordinator's region as shown (workflow/disclosure.py): for the
    whole region only, from its snapshot; for one branch the number of conversations only."""
    question = records_question(defn)
    if question is None:
        return None
    threshold, spread = minimum(), min_partnerships()
    live = _live(org_id, question, threshold, spread, branch_id)
    if branch_id is not None:
        return RegionThemes(question, live.conversations, threshold, None, live.partnerships, spread, branch=True)
    shown = tally.publish(f"region:{org_id}", live, disclosure.Rule(threshold, spread), coordination_id=org_id)
    counts = None if shown is None else tally.grouped(question, dict(shown.counts))
    return RegionThemes(question, live.conversations, threshold, counts, live.partnerships, spread,
                        basis=shown.conversations if shown else 0)


def _live(org_id: int, question: Question, threshold: int, spread: int, branch_id: int | None) -> disclosure.Tally:
    """The current counts, per partnership and per theme (themes only where the minimums hold)."""
    if rls.enabled(current_app):
        row = db.session.execute(
            text("SELECT conversations, partnerships, counts, by_partnership "
                 "FROM region_tally(:question, :minimum, :spread, :options, :library)"),
            {"question": question.key, "minimum": threshold, "spread": spread, "options": tally.options_of(question),
             "library": branch_id},
        ).one()
        return disclosure.Tally({int(k): int(v) for k, v in (row.by_partnership or {}).items()},
                                {k: int(v) for k, v in (row.counts or {}).items()})
    libraries = coordinated_library_ids(org_id, branch_id)
    rows = db.session.execute(
        select(Cycle.partnership_id, Answer.value)
        .join(StepInstance, StepInstance.id == Answer.step_instance_id)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .join(Partnership, Partnership.id == Cycle.partnership_id)
        .where(Partnership.library_id.in_(libraries), StepInstance.status != engine.LOCKED,
               Answer.question == question.key)
    ).all()
    by_partnership: dict[int, int] = {}
    records: list[Any] = []
    for pid, value in rows:
        if isinstance(value, list) and value:
            by_partnership[pid] = by_partnership.get(pid, 0) + len(value)
            records.extend(value)
    _count, counts = theme_overview(question, records, threshold)
    if len(by_partnership) < spread:
        counts = None
    return disclosure.Tally(by_partnership, tally.flat(counts))
