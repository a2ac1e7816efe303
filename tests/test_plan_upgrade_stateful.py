"""Stateful property test: moving to plan version 2 from any state a partnership can be in.

The workflow machine's partners fill in, complete, approve, withdraw, reopen and start new
rounds on a partnership that started on version 1; at a random moment the library admin
moves it to version 2. Then, and after every later action: no answer is lost (each
version-1 answer is in version 2 under its own or its new key, or still stored and shown
on the plan as "uit versie 1"), statuses, content versions and approvals are exactly as
before, practice records are untouched, a second move changes nothing, and the engine's
invariants (checked by the inherited machine) keep holding.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis.stateful import precondition, rule
from sqlalchemy import func, select

from stappenplan.audit.models import AuditEvent
from stappenplan.core import uow
from stappenplan.extensions import db
from stappenplan.plan import services as plan_services
from stappenplan.practice.models import PracticeRecord
from stappenplan.workflow import services as workflow
from stappenplan.workflow import upgrading
from stappenplan.workflow.models import Cycle, StepInstance
from stappenplan.worksheets.models import Answer
from tests.conftest import make_app, wipe
from tests.factories import build_world
from tests.test_workflow_stateful import WorkflowMachine, snapshot

RENAMED = {(6, "taalhuis_route"): "taalhuis_handover"}
MERGED = {(7, "recorded_where"): "embedding", (7, "funding"): "embedding"}
RETIRED = {(1, "low_literacy_knowledge")}


def all_answers(partnership_id: int) -> dict[tuple[int, int, str, str], Any]:
    """Every stored answer of every round: (round, step, slot, key) -> value."""
    rows = db.session.execute(
        select(Cycle.number, StepInstance.step, StepInstance.slot, Answer.question, Answer.value)
        .join(StepInstance, StepInstance.id == Answer.step_instance_id)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .where(Cycle.partnership_id == partnership_id))
    return {(n, step, slot, key): value for n, step, slot, key, value in rows}


def practice_state(partnership_id: int) -> list[tuple[Any, ...]]:
    return sorted(db.session.execute(select(
        PracticeRecord.id, PracticeRecord.version, PracticeRecord.status, PracticeRecord.title,
        PracticeRecord.source_row).where(PracticeRecord.partnership_id == partnership_id)).all())


class UpgradeMachine(WorkflowMachine):
    upgrades = 0
    with_records = 0
    upgraded = False  # per machine instance once set

    def _world(self):  # the partnership under test starts on version 1
        return build_world(self.app, plan_version=1)

    @rule()
    def advance_far(self) -> None:
        """Both partners take their next steps a few times: reaches steps 6-8 (and their
        practice records) within a run, so the move meets every kind of state."""
        for _ in range(4):
            self.advance("library")
            self.advance("childcare")

    @precondition(lambda self: hasattr(self, "p") and not self.upgraded)
    @rule()
    def upgrade(self) -> None:
        cycle = workflow.current_cycle(self.p)
        number, on = cycle.number, cycle.plan_version
        before = all_answers(self.p.id)
        state = snapshot(self.p)
        practice = practice_state(self.p.id)
        report = upgrading.upgrade(self.p, self.users[("library", True)])
        uow.checkpoint()
        self.upgraded = True
        if on == 2:  # a new round already started on version 2: nothing to move
            assert report is None
            assert all_answers(self.p.id) == before
            return
        assert report is not None and report.done
        UpgradeMachine.upgrades += 1
        UpgradeMachine.with_records += bool(practice)
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.id > self.last_event)).all()
        assert [e.kind for e in events if e.kind.startswith("workflow.")] == ["workflow.plan_upgraded"]
        self.last_event = db.session.scalar(select(func.max(AuditEvent.id))) or self.last_event
        after = all_answers(self.p.id)

        # Nothing lost: every answer of before is still there, or moved under its new key.
        for (n, step, slot, key), value in before.items():
            if n != number:
                assert after[(n, step, slot, key)] == value, "earlier rounds are left as they were"
            elif (step, key) in RENAMED:
                assert (n, step, slot, key) not in after
                assert after[(n, step, slot, RENAMED[(step, key)])] == value
            elif (step, key) in MERGED:
                assert after[(n, step, slot, key)] == value
                if isinstance(value, str) and value.strip():
                    assert value.strip() in after[(n, step, slot, MERGED[(step, key)])]
            else:
                assert after[(n, step, slot, key)] == value
        assert snapshot(self.p) == state, "statuses, content versions and approvals are kept"
        assert practice_state(self.p.id) == practice, "practice records are untouched"

        # Answers version 2 no longer asks are shown on the plan as "uit versie 1", to
        # whoever may read the step.
        for role in ("library", "childcare"):
            doc = plan_services.build(self.p, role)
            shown = {(sec.step.number, slot.slot, a.question.key)
                     for sec in doc.steps for slot in sec.slots for a in slot.old_answers}
            visible = {(sec.step.number, slot.slot) for sec in doc.steps for slot in sec.slots
                       if slot.hidden is None}
            for (n, step, slot, key), value in before.items():
                if n == number and (step, key) in RETIRED and value and (step, slot) in visible:
                    assert (step, slot, key) in shown, (role, step, slot, key)
            db.session.rollback()

        # Idempotent.
        assert upgrading.upgrade(self.p, None) is None
        uow.checkpoint()
        assert all_answers(self.p.id) == after
        self.before = snapshot(self.p)


@pytest.fixture
def machine_app(_migrated: None):
    app = make_app()
    yield app
    wipe(app)


def test_upgrade_state_machine(machine_app: Flask) -> None:
    UpgradeMachine.app = machine_app
    UpgradeMachine.TestCase.settings = settings(
        max_examples=20, stateful_step_count=40, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    UpgradeMachine.TestCase().runTest()
    assert UpgradeMachine.upgrades >= 10, "most runs should move a version-1 round"
    assert UpgradeMachine.deepest >= 7, "the machine should reach the steps with practice records"
    assert UpgradeMachine.with_records >= 1, "some moves should meet practice records"
