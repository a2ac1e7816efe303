"""The practice page as one viewer sees it: the rounds, their records and what is due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from ..extensions import db, local_today
from ..partnerships.models import Partnership
from ..workflow import engine
from ..workflow.models import Cycle, StepInstance
from . import services
from .models import PracticeRecord
from .services import Glance, Outcome

#: The steps whose agreement starts practice: activities (6) and actions (7).
ACTIVITY_STEP, ACTION_STEP = 6, 7


@dataclass
class Round:
    cycle: Cycle
    activities: list[PracticeRecord] = field(default_factory=list)
    actions: list[PracticeRecord] = field(default_factory=list)
    note: PracticeRecord | None = None

    @property
    def empty(self) -> bool:
        return not (self.activities or self.actions or (self.note and self.note.note))


@dataclass
class PracticePage:
    partnership: Partnership
    role: str
    rounds: list[Round]
    glance: Glance
    seq: int
    today: date
    #: Step 6 / step 7 of the newest round are agreed (their records exist).
    activities_agreed: bool
    actions_agreed: bool
    #: record id -> the outcome of a save that is shown again (plain form posts).
    outcomes: dict[int, Outcome] = field(default_factory=dict)

    @property
    def current(self) -> Round:
        return self.rounds[0]

    @property
    def earlier(self) -> list[Round]:
        return [r for r in self.rounds[1:] if not r.empty]

    @property
    def editable(self) -> bool:
        return self.role in engine.PARTIES


def build(partnership: Partnership, role: str, outcomes: dict[int, Outcome] | None = None) -> PracticePage:
    """Five statements, however many records and rounds."""
    today = local_today()
    cycles = list(db.session.scalars(select(Cycle).where(Cycle.partnership_id == partnership.id)
                                     .order_by(Cycle.number.desc())))
    rounds = {c.id: Round(c) for c in cycles}
    for record in services.records_of(partnership):
        target = rounds[record.cycle_id]
        if record.kind == "activity":
            target.activities.append(record)
        elif record.kind == "action":
            target.actions.append(record)
        else:
            target.note = record
    current = rounds[cycles[0].id]
    if current.note is None:  # the form is there from the start; the record is made on its first save
        current.note = PracticeRecord(public_id="notitie", partnership_id=partnership.id, cycle_id=cycles[0].id,
                                      kind="note", source_row=services.NOTE_ROW, version=1, status="planned")
    agreed = set(db.session.scalars(select(StepInstance.step).where(
        StepInstance.cycle_id == cycles[0].id, StepInstance.slot == "joint",
        StepInstance.step.in_((ACTIVITY_STEP, ACTION_STEP)), StepInstance.status == engine.COMPLETED)))
    return PracticePage(
        partnership=partnership, role=role, rounds=list(rounds.values()),
        glance=services.glance([partnership.id], today).get(partnership.id, Glance()),
        seq=partnership.practice_seq, today=today, activities_agreed=ACTIVITY_STEP in agreed,
        actions_agreed=ACTION_STEP in agreed, outcomes=outcomes or {})
