"""Random walks through the workflow: both parties, as admin or member, take random
actions; after every step the engine's state must respect the plan's rules.

The machine keeps its own small model of what happened (which instances were ever
completed in this cycle, which sign-offs were given since the last edit) and checks
the engine against it.
"""

import copy
from dataclasses import replace

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from stappenplan.workflow.definition import PARTIES
from stappenplan.workflow.engine import (
    COMPLETED,
    JOINT,
    LOCKED,
    NEEDS_ANSWERS,
    OPEN,
    Action,
    ActionRefused,
    Actor,
    CycleState,
    allowed_actions,
    apply,
    initial_state,
    missing_required,
    other_party,
    slots_for,
    visible,
    with_answered,
)
from stappenplan.workflow.plan_loader import get_definition

DEFN = get_definition(1)
INSTANCES = [(n, slot) for n in range(1, 9) for slot in slots_for(DEFN, n)]
JOINT_STEPS = [s.number for s in DEFN.steps if s.mode == "joint"]
JOINT_INSTANCES = [(n, JOINT) for n in JOINT_STEPS]
LAST = len(DEFN.steps)

actors = st.builds(Actor, party=st.sampled_from(PARTIES), is_admin=st.booleans())
reasons = st.sampled_from([None, "", "   ", "Correctie nodig"])


class WorkflowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state: CycleState = initial_state(DEFN)
        self._reset_model()

    def _reset_model(self) -> None:
        self.ever_completed: set[tuple[int, str]] = set()
        # Sign-offs given since the last edit / reopen of each joint step.
        self.fresh_signoffs: dict[int, set[str]] = {n: set() for n in JOINT_STEPS}

    # ------------------------------------------------------------------ driver

    def _apply(self, action: Action, actor: Actor, reason: str | None = None) -> bool:
        """Run one action through the engine and check what it did."""
        before = self.state
        snapshot = copy.deepcopy(before)
        if action.kind not in NEEDS_ANSWERS:
            self._answers_do_not_matter(action, actor, reason)
        try:
            after, events = apply(DEFN, before, action, actor, reason=reason)
        except ActionRefused:
            assert before == snapshot, "a refused action changed its input"
            return False
        assert before == snapshot, "apply mutated its input"
        assert (after != before) == bool(events), (action, events)

        if action.kind == "start_new_cycle":
            assert before.closed and (LAST, JOINT) in self.ever_completed
            assert after.number == before.number + 1
            assert after == initial_state(DEFN, after.number)
            event("started a new cycle")
            self.state = after
            self._reset_model()
            return True
        assert after.number == before.number, "the cycle number changed without a new cycle"

        n = action.step
        assert n is not None
        if n in self.fresh_signoffs:
            if action.kind in ("edit", "reopen"):
                self.fresh_signoffs[n].clear()
            elif action.kind == "sign_off":
                self.fresh_signoffs[n].add(actor.party)
            elif action.kind == "withdraw_sign_off":
                self.fresh_signoffs[n].discard(actor.party)

        mode = DEFN.step(n).mode
        if action.kind == "edit" and mode == "each":
            assert actor.party == action.slot, "a party edited the other party's worksheet"
        for key, instance in after.steps.items():
            if instance.status == COMPLETED and before.steps[key].status != COMPLETED:
                assert key == (n, action.slot), "an action completed another instance"
                if mode == "each":
                    assert actor.party == action.slot, "completed by the other party"
                elif mode == "lead":
                    assert actor.party == "childcare", "step 5 completed by the library"
                else:
                    assert self.fresh_signoffs[n] == set(PARTIES), "completed without both sign-offs"
                self.ever_completed.add(key)
                event(f"completed step {key[0]}")
        if after.closed and not before.closed:
            event("closed a cycle")
        self.state = after
        self.plan_rules_hold()
        return True

    def _answers_do_not_matter(self, action: Action, actor: Actor, reason: str | None) -> None:
        """Callers skip reading the answers for these actions (an autosave is one):
        the engine must then decide exactly as with the answers known."""
        bare = replace(self.state, steps={k: replace(v, answered=frozenset()) for k, v in self.state.steps.items()})

        def outcome(state: CycleState) -> object:
            try:
                after, events = apply(DEFN, state, action, actor, reason=reason)
            except ActionRefused as exc:
                return "refused", exc.message
            steps = {k: (v.status, v.signoffs) for k, v in after.steps.items()}
            return steps, after.closed, after.number, events

        assert outcome(self.state) == outcome(bare), action

    # ------------------------------------------------------------------ rules

    def _pick(self, data: st.DataObject, status: str, among: list[tuple[int, str]] = INSTANCES) -> tuple[int, str]:
        """An instance: half of the time one with ``status`` (where the action
        can matter), otherwise any, so that refusals are exercised too."""
        fitting = [key for key in among if self.state.steps[key].status == status]
        anywhere = st.sampled_from(among)
        return data.draw(st.one_of(st.sampled_from(fitting), anywhere) if fitting else anywhere, label="where")

    @rule(actor=actors, data=st.data())
    def edit(self, actor: Actor, data: st.DataObject) -> None:
        step, slot = self._pick(data, OPEN)
        keys = [q.key for q in DEFN.step(step).questions]
        answered = data.draw(st.sets(st.sampled_from(keys)), label="answered")
        if self._apply(Action("edit", step, slot), actor):
            self.state = with_answered(self.state, step, slot, answered)

    @rule(actor=actors, data=st.data())
    def complete(self, actor: Actor, data: st.DataObject) -> None:
        self._apply(Action("complete", *self._pick(data, OPEN)), actor)

    @rule(actor=actors, data=st.data())
    def sign_off(self, actor: Actor, data: st.DataObject) -> None:
        self._apply(Action("sign_off", *self._pick(data, OPEN, JOINT_INSTANCES)), actor)

    @rule(actor=actors, data=st.data())
    def withdraw_sign_off(self, actor: Actor, data: st.DataObject) -> None:
        self._apply(Action("withdraw_sign_off", *self._pick(data, OPEN, JOINT_INSTANCES)), actor)

    @rule(actor=actors, reason=reasons, data=st.data())
    def reopen(self, actor: Actor, reason: str | None, data: st.DataObject) -> None:
        self._apply(Action("reopen", *self._pick(data, COMPLETED)), actor, reason)

    @rule(actor=actors)
    def start_new_cycle(self, actor: Actor) -> None:
        self._apply(Action("start_new_cycle"), actor)

    @rule(count=st.integers(1, 12), data=st.data())
    def advance(self, count: int, data: st.DataObject) -> None:
        """Take allowed progress actions (answering what is required first), so
        the walk regularly gets through step 8 and into a new cycle."""
        for _ in range(count):
            party = data.draw(st.sampled_from(PARTIES), label="party")
            actor = Actor(party, is_admin=True)
            options = [
                a
                for a in allowed_actions(DEFN, self.state, actor)
                if a.kind in ("complete", "sign_off", "start_new_cycle")
            ]
            if not options:
                continue
            action = data.draw(st.sampled_from(options), label="action")
            if action.step is not None and action.slot is not None:
                missing = missing_required(DEFN, self.state, action.step, action.slot, party)
                if missing:
                    assert self._apply(Action("edit", action.step, action.slot), actor)
                    instance = self.state.get(action.step, action.slot)
                    keys = instance.answered | {q.key for q in missing}
                    self.state = with_answered(self.state, action.step, action.slot, keys)
            assert self._apply(action, actor), action

    @rule(actor=actors)
    def allowed_actions_are_allowed(self, actor: Actor) -> None:
        """Everything listed is accepted, or refused only for missing answers."""
        for action in allowed_actions(DEFN, self.state, actor):
            try:
                apply(DEFN, self.state, action, actor, reason="Reden")
            except ActionRefused as refusal:
                assert action.kind in ("complete", "sign_off") and refusal.missing, action

    # ------------------------------------------------------------------ invariants

    @invariant()
    def plan_rules_hold(self) -> None:
        state, done = self.state, self.ever_completed
        assert state.get(1, "library").status != LOCKED
        assert state.get(1, "childcare").status != LOCKED
        for (n, slot), instance in state.steps.items():
            if instance.status == LOCKED:
                assert not instance.signoffs
                continue
            if n in (2, 3):
                assert (n - 1, slot) in done, f"step {n} {slot} open before step {n - 1}"
            elif n == 4:
                assert {(3, p) for p in PARTIES} <= done, "step 4 open before both completed step 3"
            elif n > 4:
                assert (n - 1, JOINT) in done, f"step {n} open before step {n - 1}"
            if instance.status == COMPLETED:
                assert (n, slot) in done
            if n not in self.fresh_signoffs:
                assert not instance.signoffs, "sign-offs on a step that is not joint"
            elif instance.status == COMPLETED:
                assert self.fresh_signoffs[n] == set(PARTIES), "completed without both sign-offs"
            else:
                assert instance.signoffs == self.fresh_signoffs[n], "sign-offs survived an edit"
                assert instance.signoffs != set(PARTIES), "both signed off but still open"

        for owner in PARTIES:
            for n in (1, 2, 3):
                if visible(DEFN, state, other_party(owner), n, owner):
                    assert (3, owner) in done, f"{owner}'s step {n} shown before step 3 was completed"

        if state.closed:
            assert (LAST, JOINT) in done
            assert all(i.status == COMPLETED for i in state.steps.values())
        else:
            assert any(i.status == OPEN for i in state.steps.values()), "dead end: nothing open"


WorkflowMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWorkflow = WorkflowMachine.TestCase
