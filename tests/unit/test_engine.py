"""The pure workflow engine: one test per rule of the 8-step plan."""

import ast
import copy
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from stappenplan.workflow.definition import PlanDefinition
from stappenplan.workflow.engine import (
    COMPLETED,
    JOINT,
    LOCKED,
    OPEN,
    Action,
    ActionRefused,
    Actor,
    CycleState,
    Event,
    allowed_actions,
    apply,
    blockers,
    carry_over_questions,
    carry_over_steps,
    initial_state,
    missing_required,
    next_actor,
    opens_when,
    progress,
    question_visible,
    slots_for,
    visible,
    with_answered,
)
from stappenplan.workflow.plan_loader import get_definition

DEFN = get_definition(1)
LIB = Actor("library", is_admin=False)
LIB_ADMIN = Actor("library", is_admin=True)
CC = Actor("childcare", is_admin=False)
CC_ADMIN = Actor("childcare", is_admin=True)
ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / "stappenplan" / "workflow"


# --------------------------------------------------------------------------- helpers


def fill(state: CycleState, step: int, slot: str, defn: PlanDefinition = DEFN) -> CycleState:
    """Mark every question of the instance as answered."""
    return with_answered(state, step, slot, [q.key for q in defn.step(step).questions])


def do(state: CycleState, kind: str, step: int | None, slot: str | None, actor: Actor, **kw):
    return apply(DEFN, state, Action(kind, step, slot), actor, **kw)


def complete_each(state: CycleState, step: int, party: str) -> CycleState:
    state = fill(state, step, party)
    state, _ = do(state, "complete", step, party, Actor(party))
    return state


def finish_joint(state: CycleState, step: int) -> CycleState:
    state = fill(state, step, JOINT)
    if DEFN.step(step).mode == "lead":
        state, _ = do(state, "complete", step, JOINT, CC)
        return state
    state, _ = do(state, "sign_off", step, JOINT, LIB)
    state, _ = do(state, "sign_off", step, JOINT, CC)
    return state


def state_at(step: int) -> CycleState:
    """All steps before ``step`` completed (both parties), ``step`` open."""
    state = initial_state(DEFN)
    for n in range(1, min(step, 4)):
        for party in ("library", "childcare"):
            state = complete_each(state, n, party)
    for n in range(4, step):
        state = finish_joint(state, n)
    return state


def closed_cycle() -> CycleState:
    state = finish_joint(state_at(8), 8)
    assert state.closed
    return state


def statuses(state: CycleState) -> dict[tuple[int, str], str]:
    return {k: v.status for k, v in state.steps.items()}


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


# --------------------------------------------------------------------------- basics


def test_initial_state_opens_step_1_for_both_parties_only() -> None:
    state = initial_state(DEFN)
    assert state.number == 1 and not state.closed
    assert len(state.steps) == 3 * 2 + 5
    for (step, slot), instance in state.steps.items():
        assert instance.status == (OPEN if step == 1 else LOCKED), (step, slot)
        assert not instance.signoffs and not instance.answered
    assert initial_state(DEFN, number=3).number == 3


def test_slots_for() -> None:
    assert slots_for(DEFN, 1) == ("library", "childcare")
    assert slots_for(DEFN, 3) == ("library", "childcare")
    assert slots_for(DEFN, 4) == (JOINT,)
    assert slots_for(DEFN, 5) == (JOINT,)


def test_with_answered_returns_a_new_state() -> None:
    state = initial_state(DEFN)
    new = with_answered(state, 1, "library", ["why"])
    assert new.get(1, "library").answered == {"why"}
    assert state.get(1, "library").answered == frozenset()


# --------------------------------------------------------------------------- steps 1-3


def test_each_party_goes_through_steps_1_to_3_at_its_own_pace() -> None:
    state = fill(initial_state(DEFN), 1, "library")
    state, events = do(state, "complete", 1, "library", LIB)
    assert kinds(events) == ["step_completed", "step_opened"]
    assert (events[1].step, events[1].slot) == (2, "library")
    assert state.get(2, "library").status == OPEN
    assert state.get(1, "childcare").status == OPEN
    assert state.get(2, "childcare").status == LOCKED

    state = complete_each(state, 2, "library")
    assert state.get(3, "library").status == OPEN
    assert state.get(3, "childcare").status == LOCKED


def test_the_other_party_may_never_edit_or_complete_an_own_worksheet() -> None:
    state = fill(initial_state(DEFN), 1, "library")
    for kind in ("edit", "complete"):
        with pytest.raises(ActionRefused, match="Dit werkblad is van de bibliotheek"):
            do(state, kind, 1, "library", CC_ADMIN)


def test_step_4_opens_only_when_both_parties_completed_step_3() -> None:
    state = initial_state(DEFN)
    for n in (1, 2, 3):
        state = complete_each(state, n, "library")
    assert state.get(4, JOINT).status == LOCKED
    for n in (1, 2):
        state = complete_each(state, n, "childcare")
    state = fill(state, 3, "childcare")
    state, events = do(state, "complete", 3, "childcare", CC)
    assert kinds(events) == ["step_completed", "step_opened"]
    assert (events[1].step, events[1].slot, events[1].party) == (4, JOINT, "childcare")
    assert state.get(4, JOINT).status == OPEN


def test_locked_steps_cannot_be_edited() -> None:
    state = initial_state(DEFN)
    with pytest.raises(ActionRefused, match="Stap 2 is nog niet open"):
        do(state, "edit", 2, "library", LIB)
    with pytest.raises(ActionRefused, match="Stap 4 is nog niet open"):
        do(state, "edit", 4, JOINT, LIB)


# --------------------------------------------------------------------------- steps 4-8


def test_steps_5_to_8_open_in_order() -> None:
    state = state_at(4)
    assert [state.get(n, JOINT).status for n in range(4, 9)] == [OPEN, LOCKED, LOCKED, LOCKED, LOCKED]
    with pytest.raises(ActionRefused, match="Stap 6 is nog niet open"):
        do(state, "edit", 6, JOINT, LIB)
    state = finish_joint(state, 4)
    assert [state.get(n, JOINT).status for n in range(4, 9)] == [COMPLETED, OPEN, LOCKED, LOCKED, LOCKED]
    state = finish_joint(state, 5)
    assert state.get(6, JOINT).status == OPEN and state.get(7, JOINT).status == LOCKED
    state = finish_joint(state, 6)
    state = finish_joint(state, 7)
    assert state.get(8, JOINT).status == OPEN


def test_completion_requires_the_required_answers_and_lists_what_is_missing() -> None:
    state = initial_state(DEFN)
    with pytest.raises(ActionRefused) as info:
        do(state, "complete", 1, "library", LIB)
    assert [q.key for q in info.value.missing] == ["why", "aims"]
    assert "verplichte vragen" in info.value.message

    state = with_answered(state, 1, "library", ["why"])
    with pytest.raises(ActionRefused) as info:
        do(state, "complete", 1, "library", LIB)
    assert [q.key for q in info.value.missing] == ["aims"]
    assert [q.key for q in missing_required(DEFN, state, 1, "library", "library")] == ["aims"]

    state = with_answered(state, 1, "library", ["why", "aims"])
    state, _ = do(state, "complete", 1, "library", LIB)
    assert state.get(1, "library").status == COMPLETED


def test_party_restricted_required_questions_count_only_for_that_party() -> None:
    step1 = DEFN.step(1)
    questions = tuple(replace(q, required=True) if q.key == "youth_view" else q for q in step1.questions)
    defn = replace(DEFN, steps=(replace(step1, questions=questions), *DEFN.steps[1:]))
    state = initial_state(defn)
    state = with_answered(state, 1, "library", ["why", "aims"])
    state = with_answered(state, 1, "childcare", ["why", "aims"])
    assert [q.key for q in missing_required(defn, state, 1, "library", "library")] == ["youth_view"]
    assert missing_required(defn, state, 1, "childcare", "childcare") == []
    with pytest.raises(ActionRefused):
        apply(defn, state, Action("complete", 1, "library"), LIB)
    state, _ = apply(defn, state, Action("complete", 1, "childcare"), CC)
    assert state.get(1, "childcare").status == COMPLETED


def test_missing_required_depends_on_the_situation() -> None:
    step4 = DEFN.step(4)
    questions = tuple(
        replace(q, required=True, situations=(3,)) if q.key == "target_parents" else q for q in step4.questions
    )
    defn = replace(DEFN, steps=(*DEFN.steps[:3], replace(step4, questions=questions), *DEFN.steps[4:]))
    state = with_answered(state_at(4), 4, JOINT, ["shared_goals", "responsibilities"])
    assert missing_required(defn, state, 4, JOINT, situation=1) == []
    assert [q.key for q in missing_required(defn, state, 4, JOINT, situation=3)] == ["target_parents"]


def test_joint_step_completes_only_when_both_signed_off() -> None:
    state = fill(state_at(4), 4, JOINT)
    state, events = do(state, "sign_off", 4, JOINT, LIB)
    assert kinds(events) == ["signed_off"]
    assert state.get(4, JOINT).status == OPEN
    assert state.get(4, JOINT).signoffs == {"library"}
    with pytest.raises(ActionRefused, match="al goedgekeurd"):
        do(state, "sign_off", 4, JOINT, LIB_ADMIN)

    state, events = do(state, "sign_off", 4, JOINT, CC)
    assert kinds(events) == ["signed_off", "step_completed", "step_opened"]
    assert [(e.step, e.party) for e in events] == [(4, "childcare"), (4, "childcare"), (5, "childcare")]
    assert state.get(4, JOINT).status == COMPLETED
    assert state.get(5, JOINT).status == OPEN


def test_sign_off_requires_the_required_answers() -> None:
    state = with_answered(state_at(4), 4, JOINT, ["shared_goals"])
    with pytest.raises(ActionRefused) as info:
        do(state, "sign_off", 4, JOINT, LIB)
    assert [q.key for q in info.value.missing] == ["responsibilities"]


def test_a_joint_step_is_not_completed_with_complete() -> None:
    state = fill(state_at(4), 4, JOINT)
    with pytest.raises(ActionRefused, match="gezamenlijke stap"):
        do(state, "complete", 4, JOINT, LIB_ADMIN)
    with pytest.raises(ActionRefused, match="hoeft niet te worden goedgekeurd"):
        do(fill(initial_state(DEFN), 1, "library"), "sign_off", 1, "library", LIB)


def test_an_edit_after_sign_off_withdraws_all_sign_offs() -> None:
    state = fill(state_at(6), 6, JOINT)
    state, _ = do(state, "sign_off", 6, JOINT, LIB)
    before = state
    state, events = do(state, "edit", 6, JOINT, CC)
    assert kinds(events) == ["sign_off_withdrawn"]
    assert events[0].detail == {"reason": "edit", "signoff_party": "library"}
    assert events[0].party == "childcare"
    assert state.get(6, JOINT).signoffs == frozenset()
    assert before.get(6, JOINT).signoffs == {"library"}

    # Without sign-offs an edit changes nothing and records nothing.
    again, events = do(state, "edit", 6, JOINT, LIB)
    assert again == state and events == []


def test_withdraw_sign_off() -> None:
    state = fill(state_at(4), 4, JOINT)
    with pytest.raises(ActionRefused, match="nog niet goedgekeurd"):
        do(state, "withdraw_sign_off", 4, JOINT, LIB)
    state, _ = do(state, "sign_off", 4, JOINT, LIB)
    state, events = do(state, "withdraw_sign_off", 4, JOINT, LIB)
    assert kinds(events) == ["sign_off_withdrawn"]
    assert events[0].detail == {"reason": "withdrawn", "signoff_party": "library"}
    assert state.get(4, JOINT).signoffs == frozenset()


def test_completed_steps_cannot_be_edited_or_signed() -> None:
    state = finish_joint(state_at(4), 4)
    with pytest.raises(ActionRefused, match="Stap 4 is afgerond"):
        do(state, "edit", 4, JOINT, LIB)
    with pytest.raises(ActionRefused, match="Stap 4 is afgerond"):
        do(state, "withdraw_sign_off", 4, JOINT, LIB)
    with pytest.raises(ActionRefused, match="Stap 1 is afgerond"):
        do(state, "complete", 1, "library", LIB)


def test_step_5_is_edited_by_both_but_completed_by_childcare_only() -> None:
    state = fill(state_at(5), 5, JOINT)
    for actor in (LIB, CC):
        same, events = do(state, "edit", 5, JOINT, actor)
        assert same == state and events == []
    with pytest.raises(ActionRefused) as info:
        do(state, "complete", 5, JOINT, LIB_ADMIN)
    assert info.value.message.startswith("Stap 5 wordt afgerond door de kinderopvang")
    with pytest.raises(ActionRefused):
        do(state, "sign_off", 5, JOINT, CC)
    state, events = do(state, "complete", 5, JOINT, CC)
    assert kinds(events) == ["step_completed", "step_opened"]
    assert state.get(6, JOINT).status == OPEN


# --------------------------------------------------------------------------- reopen


def test_reopen_needs_an_admin_and_a_reason() -> None:
    state = complete_each(initial_state(DEFN), 1, "library")
    with pytest.raises(ActionRefused, match="Alleen een beheerder"):
        do(state, "reopen", 1, "library", LIB, reason="Fout")
    for reason in (None, "", "   "):
        with pytest.raises(ActionRefused, match="Geef een reden op"):
            do(state, "reopen", 1, "library", LIB_ADMIN, reason=reason)
    with pytest.raises(ActionRefused, match="eigen organisatie"):
        do(state, "reopen", 1, "library", CC_ADMIN, reason="Fout")
    with pytest.raises(ActionRefused, match="niet afgerond"):
        do(state, "reopen", 1, "childcare", CC_ADMIN, reason="Fout")

    state, events = do(state, "reopen", 1, "library", LIB_ADMIN, reason=" Vraag 1 klopte niet ")
    assert kinds(events) == ["step_reopened"]
    assert events[0].detail == {"reason": "Vraag 1 klopte niet"}
    assert state.get(1, "library").status == OPEN


def test_reopen_leaves_later_steps_as_they_are() -> None:
    state = state_at(6)
    before = statuses(state)
    state, _ = do(state, "reopen", 4, JOINT, CC_ADMIN, reason="Doelen aanscherpen")
    after = statuses(state)
    assert after[(4, JOINT)] == OPEN
    assert state.get(4, JOINT).signoffs == frozenset()
    assert {k: v for k, v in after.items() if k != (4, JOINT)} == {k: v for k, v in before.items() if k != (4, JOINT)}
    assert after[(5, JOINT)] == COMPLETED and after[(6, JOINT)] == OPEN
    assert after[(7, JOINT)] == LOCKED

    # Completing it again does not re-open or re-lock anything.
    state = fill(state, 4, JOINT)
    state, _ = do(state, "sign_off", 4, JOINT, LIB)
    state, events = do(state, "sign_off", 4, JOINT, CC)
    assert kinds(events) == ["signed_off", "step_completed"]
    assert statuses(state) == before


def test_reopen_an_own_step_while_the_next_one_is_open() -> None:
    state = complete_each(complete_each(initial_state(DEFN), 1, "library"), 2, "library")
    state, _ = do(state, "reopen", 1, "library", LIB_ADMIN, reason="Aanvulling")
    assert state.get(1, "library").status == OPEN
    assert state.get(2, "library").status == COMPLETED
    assert state.get(3, "library").status == OPEN


# --------------------------------------------------------------------------- cycles


def test_completing_step_8_closes_the_cycle() -> None:
    state = fill(state_at(8), 8, JOINT)
    state, _ = do(state, "sign_off", 8, JOINT, CC)
    state, events = do(state, "sign_off", 8, JOINT, LIB)
    assert kinds(events) == ["signed_off", "step_completed", "cycle_closed"]
    assert events[-1].detail == {"number": 1}
    assert state.closed


def test_reopening_step_8_reopens_the_cycle() -> None:
    state, events = do(closed_cycle(), "reopen", 8, JOINT, LIB_ADMIN, reason="Nog een evaluatie")
    assert not state.closed
    assert events[0].detail == {"reason": "Nog een evaluatie", "cycle_reopened": True}
    with pytest.raises(ActionRefused):
        do(state, "start_new_cycle", None, None, LIB_ADMIN)
    state = finish_joint(state, 8)
    assert state.closed


def test_reopening_an_earlier_step_reopens_the_cycle_until_it_is_completed_again() -> None:
    state, _ = do(closed_cycle(), "reopen", 2, "childcare", CC_ADMIN, reason="Aanvulling")
    assert not state.closed and state.get(8, JOINT).status == COMPLETED
    state, events = do(fill(state, 2, "childcare"), "complete", 2, "childcare", CC)
    assert kinds(events) == ["step_completed", "cycle_closed"]
    assert state.closed


def test_a_new_cycle_needs_a_closed_cycle_and_an_admin_of_either_party() -> None:
    with pytest.raises(ActionRefused, match="stap 8"):
        do(state_at(8), "start_new_cycle", None, None, LIB_ADMIN)
    closed = closed_cycle()
    for member in (LIB, CC):
        with pytest.raises(ActionRefused, match="Alleen een beheerder"):
            do(closed, "start_new_cycle", None, None, member)
    for admin in (LIB_ADMIN, CC_ADMIN):
        state, events = do(closed, "start_new_cycle", None, None, admin)
        assert state == initial_state(DEFN, number=2)
        assert kinds(events) == ["cycle_started"]
        assert events[0].party == admin.party
        assert events[0].detail == {"number": 2, "previous": 1}


def test_carry_over() -> None:
    assert carry_over_steps(DEFN) == (1, 2, 3, 4, 5, 6, 7, 8)
    assert "conversations" not in carry_over_questions(DEFN, 5)
    assert "learned" in carry_over_questions(DEFN, 5)
    assert "goal_progress" not in carry_over_questions(DEFN, 8)
    assert carry_over_questions(DEFN, 1) == tuple(q.key for q in DEFN.step(1).questions)


# --------------------------------------------------------------------------- privacy


def test_own_answers_are_private_until_step_3_is_completed() -> None:
    state = initial_state(DEFN)
    for n in (1, 2, 3):
        assert visible(DEFN, state, "library", n, "library")
        assert not visible(DEFN, state, "childcare", n, "library")
        assert not visible(DEFN, state, "coordination", n, "library")
    for n in (1, 2, 3):
        state = complete_each(state, n, "library")
    for n in (1, 2, 3):
        assert visible(DEFN, state, "childcare", n, "library")
        assert not visible(DEFN, state, "library", n, "childcare")


def test_once_step_4_is_open_steps_1_to_3_stay_shared() -> None:
    state, _ = do(state_at(5), "reopen", 3, "library", LIB_ADMIN, reason="Aanvulling")
    assert visible(DEFN, state, "childcare", 3, "library")


def test_a_reopened_step_3_is_private_again_before_step_4() -> None:
    state = initial_state(DEFN)
    for n in (1, 2, 3):
        state = complete_each(state, n, "library")
    state, _ = do(state, "reopen", 3, "library", LIB_ADMIN, reason="Aanvulling")
    assert not visible(DEFN, state, "childcare", 1, "library")


def test_shared_steps_are_visible_to_both_once_open() -> None:
    state = initial_state(DEFN)
    assert not visible(DEFN, state, "library", 4, JOINT)
    state = state_at(4)
    assert visible(DEFN, state, "library", 4, JOINT)
    assert visible(DEFN, state, "childcare", 4, JOINT)
    assert not visible(DEFN, state, "childcare", 5, JOINT)


def test_conversation_records_are_for_childcare_only() -> None:
    records = DEFN.step(5).question("conversations")
    assert question_visible(records, "childcare")
    assert not question_visible(records, "library")
    assert question_visible(DEFN.step(5).question("learned"), "library")


# --------------------------------------------------------------------------- guidance


def test_blockers() -> None:
    state = initial_state(DEFN)
    assert blockers(DEFN, state, "library") == ["Stap 2 gaat open als stap 1 is afgerond"]

    for n in (1, 2):
        state = complete_each(state, n, "library")
    assert blockers(DEFN, state, "library") == ["Stap 4 gaat open als jullie allebei stap 3 hebben afgerond"]
    state = complete_each(state, 3, "library")
    assert blockers(DEFN, state, "library") == ["Wacht op de kinderopvang: stap 3 is nog niet afgerond"]
    assert blockers(DEFN, state, "childcare") == ["Stap 2 gaat open als stap 1 is afgerond"]

    state = fill(state_at(4), 4, JOINT)
    state, _ = do(state, "sign_off", 4, JOINT, CC)
    assert blockers(DEFN, state, "childcare") == [
        "Wacht op de bibliotheek: die moet stap 4 nog goedkeuren",
        "Stap 5 gaat open als stap 4 is afgerond",
    ]
    assert blockers(DEFN, state, "library") == ["Stap 5 gaat open als stap 4 is afgerond"]

    state = state_at(5)
    assert blockers(DEFN, state, "library") == [
        "Wacht op de kinderopvang: die moet stap 5 nog afronden",
        "Stap 6 gaat open als stap 5 is afgerond",
    ]
    assert blockers(DEFN, closed_cycle(), "library") == []


def test_next_actor() -> None:
    state = initial_state(DEFN)
    assert next_actor(DEFN, state) == {"library": ["Vul stap 1 in"], "childcare": ["Vul stap 1 in"]}
    state = fill(state, 1, "childcare")
    assert next_actor(DEFN, state)["childcare"] == ["Rond stap 1 af"]

    state = fill(state_at(4), 4, JOINT)
    state, _ = do(state, "sign_off", 4, JOINT, LIB)
    assert next_actor(DEFN, state) == {"library": [], "childcare": ["Keur stap 4 goed"]}
    assert next_actor(DEFN, state_at(6)) == {
        "library": ["Vul stap 6 samen in"],
        "childcare": ["Vul stap 6 samen in"],
    }
    assert next_actor(DEFN, state_at(5)) == {
        "library": ["Help de kinderopvang met stap 5"],
        "childcare": ["Vul stap 5 in"],
    }
    assert next_actor(DEFN, closed_cycle()) == {
        "library": ["Start een nieuwe ronde"],
        "childcare": ["Start een nieuwe ronde"],
    }


def test_progress() -> None:
    rows = progress(DEFN, state_at(4))
    assert [r["number"] for r in rows] == list(range(1, 9))
    assert rows[0]["slots"] == {"library": COMPLETED, "childcare": COMPLETED}
    assert rows[0]["completed"] is True
    assert rows[3] | {"title": None} == {
        "number": 4,
        "title": None,
        "mode": "joint",
        "slots": {JOINT: OPEN},
        "signoffs": {JOINT: []},
        "completed": False,
    }
    assert rows[3]["title"] == "Bepaal samen waar je aan gaat werken"


# --------------------------------------------------------------------------- allowed_actions


def test_allowed_actions_at_the_start() -> None:
    state = initial_state(DEFN)
    assert allowed_actions(DEFN, state, LIB) == [
        Action("edit", 1, "library"),
        Action("complete", 1, "library"),
    ]
    assert allowed_actions(DEFN, state, CC_ADMIN) == [
        Action("edit", 1, "childcare"),
        Action("complete", 1, "childcare"),
    ]


def test_allowed_actions_in_a_joint_step() -> None:
    state = fill(state_at(4), 4, JOINT)
    state, _ = do(state, "sign_off", 4, JOINT, LIB)
    assert allowed_actions(DEFN, state, LIB) == [
        Action("edit", 4, JOINT),
        Action("withdraw_sign_off", 4, JOINT),
    ]
    assert allowed_actions(DEFN, state, CC) == [Action("edit", 4, JOINT), Action("sign_off", 4, JOINT)]
    assert allowed_actions(DEFN, state, LIB_ADMIN) == [
        Action("reopen", 1, "library"),
        Action("reopen", 2, "library"),
        Action("reopen", 3, "library"),
        Action("edit", 4, JOINT),
        Action("withdraw_sign_off", 4, JOINT),
    ]


def test_allowed_actions_in_step_5() -> None:
    state = state_at(5)
    assert allowed_actions(DEFN, state, LIB) == [Action("edit", 5, JOINT)]
    assert allowed_actions(DEFN, state, CC) == [Action("edit", 5, JOINT), Action("complete", 5, JOINT)]


def test_allowed_actions_after_closing() -> None:
    state = closed_cycle()
    assert allowed_actions(DEFN, state, LIB) == []
    assert allowed_actions(DEFN, state, CC_ADMIN) == [
        Action("reopen", 1, "childcare"),
        Action("reopen", 2, "childcare"),
        Action("reopen", 3, "childcare"),
        *(Action("reopen", n, JOINT) for n in range(4, 9)),
        Action("start_new_cycle"),
    ]


def test_allowed_actions_lists_complete_even_when_answers_are_missing() -> None:
    state = initial_state(DEFN)
    assert Action("complete", 1, "library") in allowed_actions(DEFN, state, LIB)
    assert missing_required(DEFN, state, 1, "library", "library")


@pytest.mark.parametrize("stage", ["start", 2, 4, "4 signed", 5, 8, "closed"])
def test_allowed_actions_for_one_worksheet_are_the_full_list_filtered(stage) -> None:
    """A worksheet page asks only about its own step and slot (``only``): exactly the
    actions the full list holds for it, in every stage, for every kind of actor."""
    if stage == "start":
        state = initial_state(DEFN)
    elif stage == "4 signed":
        state, _ = do(fill(state_at(4), 4, JOINT), "sign_off", 4, JOINT, LIB)
    elif stage == "closed":
        state = closed_cycle()
    else:
        state = state_at(stage)
    for actor in (LIB, LIB_ADMIN, CC, CC_ADMIN):
        everything = allowed_actions(DEFN, state, actor)
        for step in DEFN.steps:
            for slot in slots_for(DEFN, step.number):
                expected = [a for a in everything if (a.step, a.slot) == (step.number, slot)]
                assert allowed_actions(DEFN, state, actor, only=(step.number, slot)) == expected


# --------------------------------------------------------------------------- apply details


def test_slot_defaults_to_own_worksheet_or_joint() -> None:
    state = fill(initial_state(DEFN), 1, "childcare")
    state, events = do(state, "complete", 1, None, CC)
    assert (events[0].step, events[0].slot) == (1, "childcare")
    state = fill(state_at(4), 4, JOINT)
    _, events = do(state, "sign_off", 4, None, LIB)
    assert events[0].slot == JOINT


@pytest.mark.parametrize(
    ("action", "actor", "message"),
    [
        (Action("fly", 1, "library"), LIB, "bestaat niet"),
        (Action("edit", 9, JOINT), LIB, "bestaat niet"),
        (Action("edit", None, None), LIB, "bestaat niet"),
        (Action("edit", 4, "library"), LIB, "bestaat niet"),
        (Action("edit", 1, "library"), Actor("coordination", True), "bibliotheek en de kinderopvang"),
    ],
)
def test_unknown_actions_steps_slots_and_parties_are_refused(action: Action, actor: Actor, message: str) -> None:
    with pytest.raises(ActionRefused, match=message):
        apply(DEFN, initial_state(DEFN), action, actor)


def test_apply_never_mutates_its_input() -> None:
    state = fill(state_at(4), 4, JOINT)
    state, _ = do(state, "sign_off", 4, JOINT, LIB)
    candidates = [
        (Action(kind, n, slot), actor)
        for n in range(1, 9)
        for slot in slots_for(DEFN, n)
        for kind in ("edit", "complete", "sign_off", "withdraw_sign_off", "reopen")
        for actor in (LIB, LIB_ADMIN, CC, CC_ADMIN)
    ] + [(Action("start_new_cycle"), CC_ADMIN)]
    for start in (state, closed_cycle()):
        snapshot = copy.deepcopy(start)
        for action, actor in candidates:
            try:
                apply(DEFN, start, action, actor, reason="Reden")
            except ActionRefused:
                pass
            assert start == snapshot, action


# --------------------------------------------------------------------------- independence


def test_workflow_package_imports_neither_flask_nor_sqlalchemy() -> None:
    """Import the engine in a fresh interpreter.

    ``stappenplan/__init__.py`` builds the Flask app, so the parent package is
    replaced by a bare namespace first: what is checked is that nothing *in the
    workflow package* pulls in Flask or SQLAlchemy.
    """
    code = (
        "import sys, types\n"
        "pkg = types.ModuleType('stappenplan')\n"
        f"pkg.__path__ = [{str(ROOT / 'stappenplan')!r}]\n"
        "sys.modules['stappenplan'] = pkg\n"
        "import stappenplan.workflow.engine, stappenplan.workflow.answers, stappenplan.workflow.plan_loader\n"
        "stappenplan.workflow.plan_loader.load_all()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'sqlalchemy', 'werkzeug', 'flask_sqlalchemy'))\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


PURE_MODULES = ("__init__.py", "definition.py", "plan_loader.py", "plan_model.py", "answers.py", "engine.py",
                "upgrade.py")


@pytest.mark.parametrize("filename", PURE_MODULES)
def test_pure_modules_import_only_stdlib_yaml_pydantic_and_each_other(filename: str) -> None:
    """The workflow package also holds Flask/SQLAlchemy code (services, views);
    the definition and the engine must not depend on it. The plan files are read with
    PyYAML and checked with pydantic."""
    allowed = set(sys.stdlib_module_names) | {"yaml", "pydantic", "pydantic_core"}
    path = WORKFLOW_DIR / filename
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in allowed, f"{filename} imports {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level == 1, f"{filename}: {ast.unparse(node)}"
                assert f"{node.module}.py" in PURE_MODULES, f"{filename}: {ast.unparse(node)}"
            else:
                assert (node.module or "").split(".")[0] in allowed, f"{filename} imports {node.module}"


def test_opens_when_names_the_step_that_opens_a_locked_one() -> None:
    state = initial_state(DEFN)
    assert opens_when(DEFN, state, 1, "library") is None
    assert opens_when(DEFN, state, 2, "library") == "Stap 2 gaat open als jullie stap 1 hebben afgerond."
    assert opens_when(DEFN, state, 4, JOINT) == "Stap 4 gaat open als jullie allebei stap 3 hebben afgerond."
    assert opens_when(DEFN, state, 6, JOINT) == "Stap 6 gaat open als stap 5 is afgerond."
    for step in (1, 2, 3):
        state = complete_each(state, step, "library")
        state = complete_each(state, step, "childcare")
    assert state.get(4, JOINT).status == OPEN and opens_when(DEFN, state, 4, JOINT) is None
    assert opens_when(DEFN, state, 5, JOINT) == "Stap 5 gaat open als stap 4 is afgerond."
