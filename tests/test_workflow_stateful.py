"""Both parties take random actions against the real services and database.

After every action: nothing opens before its predecessors completed, a joint step
is completed only with both sign-offs on its current content, own answers stay
private until step 3 is done, every transition wrote exactly one audit event,
and the cycle number only grows, after step 8.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from stappenplan import demo_content as content
from stappenplan.accounts.models import User
from stappenplan.audit.models import AuditEvent
from stappenplan.core import uow
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow import services as workflow
from stappenplan.workflow.engine import Action, ActionRefused
from stappenplan.worksheets import services as worksheets
from tests.conftest import make_app, wipe
from tests.factories import PASSWORD, build_world

PARTIES = ("library", "childcare")
SLUG = {"library": "bibliotheek", "childcare": "kinderopvang"}


def snapshot(p: Partnership) -> dict[str, Any]:
    cycle = workflow.current_cycle(p)
    instances = workflow.instances_of(cycle)
    return {
        "cycle": cycle.number,
        "closed": cycle.closed_at is not None,
        "steps": {(i.step, i.slot): (i.status, frozenset(s.party for s in i.signoffs), i.content_version,
                                     frozenset(s.content_version for s in i.signoffs)) for i in instances},
    }


class WorkflowMachine(RuleBasedStateMachine):
    app: Flask
    deepest = 0

    @initialize()
    def setup(self) -> None:
        wipe(self.app)
        self.world = self._world()
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.p = db.session.scalar(select(Partnership).where(Partnership.public_id == self.world.ids["partnership_a"]))
        self.users = {
            ("library", True): self._user("lib_a"), ("library", False): self._user("lib_a_member"),
            ("childcare", True): self._user("cc_a"), ("childcare", False): self._user("cc_a_member"),
        }
        self.clients = {}
        # A second app object for HTTP: its requests get their own app context (and g),
        # separate from the one this machine keeps pushed for direct service calls.
        http_app = make_app()
        for party, key in (("library", "lib_a"), ("childcare", "cc_a")):
            client = http_app.test_client()
            client.post("/inloggen", data={"email": self.world.emails[key], "password": PASSWORD})
            self.clients[party] = client
        self.last_event = db.session.scalar(select(func.max(AuditEvent.id))) or 0
        self.before = snapshot(self.p)
        self.completed_in_cycle: set[tuple[int, str]] = set()
        self.cycle_number = 1

    def _world(self):
        return build_world(self.app)

    def _user(self, key: str) -> User:
        return db.session.scalar(select(User).where(User.email == self.world.emails[key]))

    def teardown(self) -> None:
        if hasattr(self, "ctx"):
            db.session.remove()
            self.ctx.pop()

    # --- actions -------------------------------------------------------------------------

    def _act(self, party: str, admin: bool, action: Action, reason: str | None = None) -> None:
        try:
            workflow.perform(self.p, self.users[(party, admin)], party, action, reason=reason)
        except ActionRefused:
            pass
        self._check_transition()

    @rule(party=st.sampled_from(PARTIES), step=st.integers(1, 8))
    def fill(self, party: str, step: int) -> None:
        slot = party if step <= 3 else "joint"
        answers = content.OWN[party][step] if step <= 3 else content.JOINT[step]
        sheet = worksheets.load_sheet(self.p, party, step, slot)
        for key, value in answers.items():
            if sheet.question(key) is None:
                continue
            current = worksheets.answers_for(sheet.instance).get(key)
            worksheets.save(sheet, self.users[(party, False)], key, value, current.version if current else 0)
        self._check_transition()

    @rule(party=st.sampled_from(PARTIES), step=st.integers(1, 8))
    def edit_one(self, party: str, step: int) -> None:
        slot = party if step <= 3 else "joint"
        sheet = worksheets.load_sheet(self.p, party, step, slot)
        question = next((q for q in sheet.questions() if q.type == "text"), None)
        if question is None:
            return
        current = worksheets.answers_for(sheet.instance).get(question.key)
        worksheets.save(sheet, self.users[(party, False)], question.key, f"Aanpassing {self.last_event}",
                        current.version if current else 0)
        self._check_transition()

    @rule(party=st.sampled_from(PARTIES))
    def advance(self, party: str) -> None:
        """Fill and finish this party's first open step: lets the machine reach later steps."""
        steps = self.before["steps"]
        open_steps = sorted(step for (step, slot), (status, *_r) in steps.items()
                            if status == "open" and slot in (party, "joint"))
        if not open_steps:
            return
        step = open_steps[0]
        self.fill(party, step)
        if step <= 3 or step == 5:
            self._act(party, False, Action("complete", step, party if step <= 3 else "joint"))
        else:
            self._act(party, False, Action("sign_off", step, "joint"))
        WorkflowMachine.deepest = max(WorkflowMachine.deepest, step)

    @rule(party=st.sampled_from(PARTIES), step=st.integers(1, 8), admin=st.booleans())
    def complete(self, party: str, step: int, admin: bool) -> None:
        self._act(party, admin, Action("complete", step, party if step <= 3 else "joint"))

    @rule(party=st.sampled_from(PARTIES), step=st.integers(4, 8), admin=st.booleans())
    def sign_off(self, party: str, step: int, admin: bool) -> None:
        self._act(party, admin, Action("sign_off", step, "joint"))

    @rule(party=st.sampled_from(PARTIES), step=st.integers(4, 8))
    def withdraw(self, party: str, step: int) -> None:
        self._act(party, False, Action("withdraw_sign_off", step, "joint"))

    @rule(party=st.sampled_from(PARTIES), step=st.integers(1, 8), admin=st.booleans(),
          reason=st.sampled_from(["", "Er moet nog iets bij"]))
    def reopen(self, party: str, step: int, admin: bool, reason: str) -> None:
        self._act(party, admin, Action("reopen", step, party if step <= 3 else "joint"), reason)

    @rule(party=st.sampled_from(PARTIES), admin=st.booleans())
    def new_cycle(self, party: str, admin: bool) -> None:
        self._act(party, admin, Action("start_new_cycle"))

    # --- checks --------------------------------------------------------------------------

    def _check_transition(self) -> None:
        uow.checkpoint()  # each step of the machine is one unit of work, like a request
        after = snapshot(self.p)
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > self.last_event, AuditEvent.kind.like("workflow.%"))
            .order_by(AuditEvent.id)
        ).all()
        self.last_event = db.session.scalar(select(func.max(AuditEvent.id))) or self.last_event
        before = self.before
        expected = 0
        if after["cycle"] != before["cycle"]:
            assert after["cycle"] == before["cycle"] + 1, "the cycle number only grows by one"
            assert before["closed"], "a new cycle only after step 8 closed the previous one"
            expected = 1 + sum(1 for (status, *_rest) in after["steps"].values() if status == "open")
            self.completed_in_cycle = set()
        else:
            for key, (status, signoffs, *_rest) in after["steps"].items():
                old_status, old_signoffs, *_old = before["steps"][key]
                if status != old_status:
                    expected += 1
                    if status == "completed":
                        self.completed_in_cycle.add(key)
                if old_status == "completed" and status == "open":
                    continue  # reopening clears sign-offs as part of one transition
                expected += len(signoffs - old_signoffs) + len(old_signoffs - signoffs)
            expected += int(after["closed"] != before["closed"] and after["closed"])
        assert len(events) == expected, (
            f"{len(events)} events for {expected} transitions: {[e.kind for e in events]}"
        )
        self.before = after

    @invariant()
    def nothing_opens_early(self) -> None:
        if not hasattr(self, "before"):
            return
        steps = self.before["steps"]
        for (step, slot), (status, *_rest) in steps.items():
            if status == "locked":
                continue
            if step in (2, 3):
                assert (step - 1, slot) in self.completed_in_cycle
            elif step == 4:
                assert (3, "library") in self.completed_in_cycle and (3, "childcare") in self.completed_in_cycle
            elif step > 4:
                assert (step - 1, "joint") in self.completed_in_cycle

    @invariant()
    def joint_completed_only_with_both_signoffs_on_current_content(self) -> None:
        if not hasattr(self, "before"):
            return
        for (step, slot), (status, signoffs, version, signed_versions) in self.before["steps"].items():
            if slot == "joint" and step != 5 and status == "completed":
                assert signoffs == frozenset(PARTIES)
                assert signed_versions == frozenset({version})

    @invariant()
    def own_answers_stay_private(self) -> None:
        if not hasattr(self, "before"):
            return
        steps = self.before["steps"]
        for owner in PARTIES:
            other = "childcare" if owner == "library" else "library"
            shared = steps[(3, owner)][0] == "completed" or steps[(4, "joint")][0] != "locked"
            url = f"/samenwerkingen/{self.p.public_id}/stap/1/{SLUG[owner]}"
            status = self.clients[other].get(url).status_code
            assert status == (200 if shared else 404), (owner, shared, status)


@pytest.fixture
def machine_app(_migrated: None):
    app = make_app()
    yield app
    wipe(app)


def test_workflow_state_machine(machine_app: Flask) -> None:
    WorkflowMachine.app = machine_app
    WorkflowMachine.TestCase.settings = settings(
        max_examples=12, stateful_step_count=50, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    WorkflowMachine.TestCase().runTest()
    assert WorkflowMachine.deepest >= 4, "the machine should reach the joint steps"
