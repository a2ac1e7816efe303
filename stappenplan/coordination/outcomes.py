"""What happened in a region, for how many families, and what it achieved.

The figures a municipality or provincial support organisation asks a coordinator for,
counted from the worksheets of the region's partnerships (only steps that are open or
done in their round, as the coordinator may see them):

- activities held: practice records of activities marked held (stappenplan/practice),
  planned or added during the year, each counted once, in the calendar year of its date
  and in the round whose plan it belongs to, whatever later rounds copy (a held activity
  without a date, which only records from before practice can be, counts in its round
  and in no year);
- parents and children reached: the numbers kept with those activities; where an
  activity has no number the figure says how many are unknown, it never counts them as 0;
- goal scores: step 8's score per shared goal, as a distribution over 1-5; in the year
  the score was last saved;
- rounds completed: rounds closed in that year;
- partnerships per step: from the dashboard (current step of each partnership's round).

Three queries, whatever the number of partnerships.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from ..access import coordinated_library_ids
from ..extensions import db
from ..organisations.models import Organisation
from ..partnerships.models import Partnership
from ..practice import services as practice
from ..practice.models import PracticeRecord
from ..workflow import engine
from ..workflow.definition import N_
from ..workflow.models import Cycle, StepInstance
from ..worksheets.models import Answer

SCORE_STEP, SCORE_QUESTION = 8, "goal_progress"
SCALE = (1, 2, 3, 4, 5)
#: What the ends of the scale mean (the plan's ``scale_labels`` of step 8), for a spreadsheet's headings.
SCALE_ENDS = {1: N_("nog niet begonnen"), 5: N_("helemaal bereikt")}


@dataclass
class Reach:
    """A sum of numbers filled in, and how many activities left it empty."""

    total: int = 0
    known: int = 0
    unknown: int = 0

    def add(self, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            self.total += int(value)
            self.known += 1
        else:
            self.unknown += 1


@dataclass
class Figures:
    """The outcome figures of one branch, one round or the whole region."""

    activities: int = 0
    parents: Reach = field(default_factory=Reach)
    children: Reach = field(default_factory=Reach)
    scores: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SCALE, 0))
    rounds_completed: int = 0
    partnerships: int = 0

    @property
    def scored(self) -> int:
        return sum(self.scores.values())

    def add_activity(self, parents: int | None, children: int | None) -> None:
        self.activities += 1
        self.parents.add(parents)
        self.children.add(children)


@dataclass(frozen=True)
class BranchOutcome:
    name: str
    public_id: str
    figures: Figures


@dataclass(frozen=True)
class Outcomes:
    year: int
    years: tuple[int, ...]
    region: Figures
    branches: tuple[BranchOutcome, ...]
    rounds: tuple[tuple[int, Figures], ...]
    #: Held activities without a date: in the rounds' figures, in no year.
    undated: int


def compute(org_id: int, year: int, today: date, branch_id: int | None = None) -> Outcomes:
    """The figures of the coordinator's region (or one branch) for ``year``, three queries."""
    libraries = coordinated_library_ids(org_id, branch_id)
    # Every branch of the region, also one without partnerships yet (outer joins): the
    # report's and the dashboard's branch counts agree.
    cycles = db.session.execute(
        select(Cycle.id, Cycle.number, Cycle.closed_at, Partnership.id, Organisation.id, Organisation.name,
               Organisation.public_id, Partnership.created_at)
        .select_from(Organisation)
        .outerjoin(Partnership, (Partnership.library_id == Organisation.id) & Partnership.awaiting_org_id.is_(None))
        .outerjoin(Cycle, Cycle.partnership_id == Partnership.id)
        .where(Organisation.id.in_(libraries))
    ).all()
    scores = db.session.execute(
        select(StepInstance.cycle_id, Answer.value, Answer.updated_at)
        .join(Answer, Answer.step_instance_id == StepInstance.id)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .join(Partnership, Partnership.id == Cycle.partnership_id)
        .where(Partnership.library_id.in_(libraries), StepInstance.status != engine.LOCKED,
               StepInstance.step == SCORE_STEP, Answer.question == SCORE_QUESTION)
    ).all()
    held = db.session.execute(
        select(PracticeRecord.cycle_id, PracticeRecord.date, PracticeRecord.parents, PracticeRecord.children)
        .join(Partnership, Partnership.id == PracticeRecord.partnership_id)
        .where(Partnership.library_id.in_(libraries), PracticeRecord.kind == "activity",
               PracticeRecord.status == "held")
    ).all()

    region = Figures()
    by_branch: dict[int, BranchOutcome] = {}
    by_round: dict[int, Figures] = {}
    cycle_info: dict[int, tuple[int, int]] = {}
    partnerships_of: dict[int, set[int]] = {}
    years = {year, today.year}
    for cycle_id, number, closed_at, partnership_id, library_id, name, public_id, created_at in cycles:
        by_branch.setdefault(library_id, BranchOutcome(name, public_id, Figures()))
        if cycle_id is None:
            continue
        cycle_info[cycle_id] = (number, library_id)
        if created_at.year <= year:  # a year counts the partnerships that existed in it
            partnerships_of.setdefault(library_id, set()).add(partnership_id)
        round_figures = by_round.setdefault(number, Figures())
        round_figures.partnerships += 1
        if closed_at is not None:
            round_figures.rounds_completed += 1
            years.add(closed_at.year)
            if closed_at.year == year:
                region.rounds_completed += 1
                by_branch[library_id].figures.rounds_completed += 1
    for library_id, ids in partnerships_of.items():
        by_branch[library_id].figures.partnerships = len(ids)
    region.partnerships = sum(len(ids) for ids in partnerships_of.values())

    undated = 0
    for cycle_id, when, parents, children in held:
        number, library_id = cycle_info[cycle_id]
        by_round[number].add_activity(parents, children)
        if when is None:
            undated += 1
            continue
        years.add(when.year)
        if when.year == year:
            for target in (region, by_branch[library_id].figures):
                target.add_activity(parents, children)
    for cycle_id, value, updated_at in scores:
        number, library_id = cycle_info[cycle_id]
        entries = list(value.values()) if isinstance(value, dict) else []
        picked: list[int] = [e["value"] for e in entries if isinstance(e, dict) and type(e.get("value")) is int
                             and e["value"] in SCALE]
        for s in picked:
            by_round[number].scores[s] += 1
        stamp: datetime | None = updated_at
        if stamp is not None:
            years.add(stamp.year)
        if stamp is not None and stamp.year == year:
            for target in (region, by_branch[library_id].figures):
                for s in picked:
                    target.scores[s] += 1
    branches = tuple(sorted(by_branch.values(), key=lambda b: (b.name, b.public_id)))
    return Outcomes(year=year, years=tuple(sorted(years, reverse=True)), region=region, branches=branches,
                    rounds=tuple(sorted(by_round.items())), undated=undated)


@dataclass(frozen=True)
class PracticeRow:
    """Practice of one branch or one partnership: its newest rounds' actions (done, overdue)
    and the activities held in the year."""

    name: str
    public_id: str
    actions: int = 0
    done: int = 0
    overdue: int = 0
    held: int = 0


def practice_rows(org_id: int, year: int, today: date,
                  branch_id: int | None = None) -> tuple[list[PracticeRow], list[PracticeRow]]:
    """Per branch, and (with ``branch_id``) per partnership of that branch: two statements."""
    libraries = coordinated_library_ids(org_id, branch_id)
    childcare = aliased(Organisation)
    rows = db.session.execute(
        select(Partnership.id, Partnership.public_id, Organisation.id, Organisation.name, Organisation.public_id,
               childcare.name)
        .select_from(Organisation)
        .outerjoin(Partnership, (Partnership.library_id == Organisation.id) & Partnership.awaiting_org_id.is_(None))
        .outerjoin(childcare, childcare.id == Partnership.childcare_id)
        .where(Organisation.id.in_(libraries))
        .order_by(Organisation.name, childcare.name)
    ).all()
    glances = practice.glance([r[0] for r in rows if r[0] is not None], today, year)
    branches: dict[int, PracticeRow] = {}
    partnerships: list[PracticeRow] = []
    for partnership_id, partnership_public_id, library_id, name, library_public_id, childcare_name in rows:
        row = branches.setdefault(library_id, PracticeRow(name, library_public_id))
        if partnership_id is None:
            continue
        g = glances.get(partnership_id, practice.Glance())
        branches[library_id] = PracticeRow(row.name, row.public_id, row.actions + g.actions, row.done + g.actions_done,
                                           row.overdue + g.actions_overdue, row.held + g.activities_held)
        if branch_id is not None:
            partnerships.append(PracticeRow(f"{name} & {childcare_name}", partnership_public_id, g.actions,
                                            g.actions_done, g.actions_overdue, g.activities_held))
    return list(branches.values()), partnerships
