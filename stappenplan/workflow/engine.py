"""The workflow engine: state in, decisions out.

Pure functions over small immutable values, so every rule of the 8-step plan can be
tested without Flask or a database, and the web layer has a single place that says
what may happen next. The caller loads a ``CycleState`` from its tables, asks
``allowed_actions`` / ``apply``, stores the returned state and records the returned
``Event``s in its audit log.

Vocabulary
    party   "library" or "childcare": the organisation that acts.
    slot    which instance of a step: "library"/"childcare" for ``each`` steps (one
            worksheet per party), "joint" for ``joint`` and ``lead`` steps.
    status  "locked" -> "open" -> "completed" (reopening goes back to "open").

Events: ``Event.party`` is always the party of the actor that caused the
transition. For "sign_off_withdrawn" the detail says whose sign-off went
(``signoff_party``) and why (``reason``: "edit" or "withdrawn").
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from .definition import N_, PARTIES, PlanDefinition, Question, Step, _t

LIBRARY, CHILDCARE = PARTIES
JOINT = "joint"
LOCKED, OPEN, COMPLETED = "locked", "open", "completed"

#: The party that completes a ``lead`` step (step 5: the childcare organisation
#: leads, the library supports).
LEAD_PARTY = CHILDCARE

ACTION_KINDS = (
    "edit",
    "complete",
    "sign_off",
    "withdraw_sign_off",
    "reopen",
    "start_new_cycle",
)

#: Actions whose outcome depends on which questions are answered (they refuse while
#: required answers are missing). Callers may leave ``StepState.answered`` empty for
#: the other actions: an autosave must not have to read every answer of the cycle.
NEEDS_ANSWERS = frozenset({"complete", "sign_off"})

_NAMES = {LIBRARY: N_("de bibliotheek"), CHILDCARE: N_("de kinderopvang")}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class StepState:
    step: int
    slot: str
    status: str
    signoffs: frozenset[str] = frozenset()
    answered: frozenset[str] = frozenset()
    #: Questions (required or not) whose answer has a table row missing a required
    #: column: they block completion like an unanswered required question.
    incomplete: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CycleState:
    number: int
    steps: dict[tuple[int, str], StepState] = field(hash=False)
    closed: bool = False

    def get(self, step: int, slot: str) -> StepState:
        return self.steps[(step, slot)]


@dataclass(frozen=True)
class Actor:
    party: str
    is_admin: bool = False


@dataclass(frozen=True)
class Action:
    kind: str
    step: int | None = None
    slot: str | None = None


@dataclass(frozen=True)
class Event:
    kind: str
    step: int | None
    slot: str | None
    party: str
    detail: dict[str, Any] = field(default_factory=dict, hash=False)


class ActionRefused(Exception):
    """The action is not allowed now. ``message`` is Dutch and fit to show.

    ``missing`` lists the required questions that still need an answer when that
    is the (only) reason for the refusal.
    """

    def __init__(self, message: str, missing: Iterable[Question] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.missing: list[Question] = list(missing)


# --------------------------------------------------------------------------- basics


def other_party(party: str) -> str:
    return CHILDCARE if party == LIBRARY else LIBRARY


def party_name(party: str) -> str:
    """Dutch name with article, e.g. "de kinderopvang" (translated, see definition._t)."""
    return _t(_NAMES[party]) if party in _NAMES else party


def slots_for(defn: PlanDefinition, step_number: int) -> tuple[str, ...]:
    """``each`` steps have one instance per party; the others one shared instance."""
    return PARTIES if defn.step(step_number).mode == "each" else (JOINT,)


def participants(defn: PlanDefinition, step_number: int, slot: str) -> tuple[str, ...]:
    """Parties that work on this instance: its owner, or both for a shared step."""
    return (slot,) if defn.step(step_number).mode == "each" else PARTIES


def last_private_step(defn: PlanDefinition) -> int:
    """The last step each party fills in on its own (3 in v1). Completing it
    shares the party's answers; the next step opens when both completed it."""
    return max(s.number for s in defn.steps if s.mode == "each")


def initial_state(defn: PlanDefinition, number: int = 1) -> CycleState:
    """A fresh cycle: step 1 open for both parties, everything else locked."""
    steps = {
        (s.number, slot): StepState(s.number, slot, OPEN if s.number == 1 else LOCKED)
        for s in defn.steps
        for slot in slots_for(defn, s.number)
    }
    return CycleState(number=number, steps=steps)


def with_answered(state: CycleState, step: int, slot: str, answered_keys: Iterable[str]) -> CycleState:
    """A copy of ``state`` in which the instance's answered question keys are replaced.

    The caller derives the keys from its stored answers (see definition.is_answered).
    """
    steps = dict(state.steps)
    steps[(step, slot)] = replace(steps[(step, slot)], answered=frozenset(answered_keys))
    return replace(state, steps=steps)


def missing_required(
    defn: PlanDefinition,
    state: CycleState,
    step: int,
    slot: str,
    party: str | None = None,
    situation: int = 1,
) -> list[Question]:
    """Required questions of this instance that have no answer yet, in display order.

    In an ``each`` step the owner (``slot``) decides which party-restricted questions
    count; ``party`` is only used for shared steps (where no question is restricted).
    """
    definition = defn.step(step)
    asked_to = slot if definition.mode == "each" else party
    instance = state.get(step, slot)
    return [
        q for q in definition.questions_for(asked_to, situation)
        if (q.required and q.key not in instance.answered) or q.key in instance.incomplete
    ]


def carry_over_steps(defn: PlanDefinition) -> tuple[int, ...]:
    """Steps whose answers a new cycle starts from (as drafts): all of them.

    Which questions to copy: see ``carry_over_questions``.
    """
    return tuple(s.number for s in defn.steps)


def carry_over_questions(defn: PlanDefinition, step: int) -> tuple[str, ...]:
    """Question keys to prefill in a new cycle.

    Conversation records (about families, per round) and goal progress (an
    evaluation of *this* round) start empty.
    """
    return tuple(q.key for q in defn.step(step).questions if q.type not in ("records", "goal_progress"))


# --------------------------------------------------------------------------- visibility


def visible(defn: PlanDefinition, state: CycleState, viewer_party: str, step: int, slot: str) -> bool:
    """May ``viewer_party`` see this instance and its answers?

    Steps 1-3 are private to their owner until the owner completed step 3, or step
    4 has opened (from then on both parties' starting points are shared). Shared
    steps are visible to both once they are open. Any viewer who is not the owner
    (the other party, or e.g. a coordinator) follows the "other party" rule.
    """
    instance = state.get(step, slot)
    if defn.step(step).mode == "each":
        if viewer_party == slot:
            return True
        handoff = last_private_step(defn)
        return state.get(handoff, slot).status == COMPLETED or state.get(handoff + 1, JOINT).status != LOCKED
    return instance.status != LOCKED


def question_visible(question: Question, viewer_party: str) -> bool:
    """Question-level privacy on top of ``visible``: step 5's individual
    conversation records are for the childcare organisation only (the library sees
    the overview from ``definition.tally_records`` and the summary)."""
    return question.visible_to is None or question.visible_to == viewer_party


# --------------------------------------------------------------------------- apply


def _resolve_slot(step: Step, slot: str | None, actor: Actor) -> str:
    """Default slot: the actor's own worksheet in ``each`` steps, else "joint"."""
    if slot is not None:
        return slot
    return actor.party if step.mode == "each" else JOINT


def _set(state: CycleState, instance: StepState, **changes: Any) -> CycleState:
    steps = dict(state.steps)
    steps[(instance.step, instance.slot)] = replace(instance, **changes)
    return replace(state, steps=steps)


def _open_if_locked(state: CycleState, step: int, slot: str, party: str, events: list[Event]) -> CycleState:
    instance = state.get(step, slot)
    if instance.status != LOCKED:
        return state
    events.append(Event("step_opened", step, slot, party, {}))
    return _set(state, instance, status=OPEN)


def _after_completion(
    defn: PlanDefinition,
    state: CycleState,
    step: int,
    slot: str,
    party: str,
    events: list[Event],
) -> CycleState:
    """Open what the completion unlocks and close the cycle when all is done."""
    handoff = last_private_step(defn)
    if step < handoff:
        state = _open_if_locked(state, step + 1, slot, party, events)
    elif step == handoff:
        if all(state.get(handoff, p).status == COMPLETED for p in PARTIES):
            state = _open_if_locked(state, handoff + 1, JOINT, party, events)
    elif step < len(defn.steps):
        state = _open_if_locked(state, step + 1, JOINT, party, events)

    last = len(defn.steps)
    all_done = all(i.status == COMPLETED for i in state.steps.values())
    if not state.closed and all_done and state.get(last, JOINT).status == COMPLETED:
        events.append(Event("cycle_closed", None, None, party, {"number": state.number}))
        state = replace(state, closed=True)
    return state


def _require_open(step: Step, instance: StepState) -> None:
    if instance.status == LOCKED:
        raise ActionRefused(_t("Stap {n} is nog niet open.").format(n=step.number))
    if instance.status == COMPLETED:
        raise ActionRefused(_t("Stap {n} is afgerond. Een beheerder kan de stap heropenen.").format(n=step.number))


def _require_owner(step: Step, slot: str, actor: Actor) -> None:
    if step.mode == "each" and actor.party != slot:
        name = party_name(slot)
        raise ActionRefused(_t("Dit werkblad is van {party}. Alleen {party} kan het invullen.").format(party=name))


def _require_answers(
    defn: PlanDefinition,
    state: CycleState,
    step: Step,
    slot: str,
    actor: Actor,
    situation: int,
) -> None:
    missing = missing_required(defn, state, step.number, slot, actor.party, situation)
    if missing:
        raise ActionRefused(
            _t("Beantwoord eerst alle verplichte vragen van stap {n}.").format(n=step.number), missing
        )


def _edit(
    defn: PlanDefinition,
    state: CycleState,
    step: Step,
    inst: StepState,
    actor: Actor,
    **_: Any,
) -> tuple[CycleState, list[Event]]:
    """An edit itself changes nothing, except that it voids earlier sign-offs:
    both organisations must approve the text as it is now."""
    _require_owner(step, inst.slot, actor)
    _require_open(step, inst)
    events = [
        Event(
            "sign_off_withdrawn",
            step.number,
            inst.slot,
            actor.party,
            {"reason": "edit", "signoff_party": p},
        )
        for p in PARTIES
        if p in inst.signoffs
    ]
    if not events:
        return state, []
    return _set(state, inst, signoffs=frozenset()), events


def _complete(
    defn: PlanDefinition,
    state: CycleState,
    step: Step,
    inst: StepState,
    actor: Actor,
    *,
    situation: int,
    **_: Any,
) -> tuple[CycleState, list[Event]]:
    if step.mode == "joint":
        raise ActionRefused(
            _t("Stap {n} is een gezamenlijke stap: beide organisaties keuren hem goed.").format(n=step.number)
        )
    if step.mode == "lead" and actor.party != LEAD_PARTY:
        raise ActionRefused(
            _t("Stap {n} wordt afgerond door {party}.").format(n=step.number, party=party_name(LEAD_PARTY))
        )
    _require_owner(step, inst.slot, actor)
    _require_open(step, inst)
    _require_answers(defn, state, step, inst.slot, actor, situation)
    events = [Event("step_completed", step.number, inst.slot, actor.party, {})]
    state = _set(state, inst, status=COMPLETED)
    return _after_completion(defn, state, step.number, inst.slot, actor.party, events), events


def _sign_off(
    defn: PlanDefinition,
    state: CycleState,
    step: Step,
    inst: StepState,
    actor: Actor,
    *,
    situation: int,
    **_: Any,
) -> tuple[CycleState, list[Event]]:
    if step.mode != "joint":
        raise ActionRefused(_t("Stap {n} hoeft niet te worden goedgekeurd.").format(n=step.number))
    _require_open(step, inst)
    if actor.party in inst.signoffs:
        raise ActionRefused(_t("Jullie hebben stap {n} al goedgekeurd.").format(n=step.number))
    _require_answers(defn, state, step, inst.slot, actor, situation)
    signoffs = inst.signoffs | {actor.party}
    events = [Event("signed_off", step.number, inst.slot, actor.party, {})]
    if signoffs != frozenset(PARTIES):
        return _set(state, inst, signoffs=signoffs), events
    events.append(Event("step_completed", step.number, inst.slot, actor.party, {}))
    state = _set(state, inst, signoffs=signoffs, status=COMPLETED)
    return _after_completion(defn, state, step.number, inst.slot, actor.party, events), events


def _withdraw(
    defn: PlanDefinition,
    state: CycleState,
    step: Step,
    inst: StepState,
    actor: Actor,
    **_: Any,
) -> tuple[CycleState, list[Event]]:
    if step.mode != "joint":
        raise ActionRefused(_t("Stap {n} hoeft niet te worden goedgekeurd.").format(n=step.number))
    _require_open(step, inst)
    if actor.party not in inst.signoffs:
        raise ActionRefused(_t("Jullie hebben stap {n} nog niet goedgekeurd.").format(n=step.number))
    event = Event(
        "sign_off_withdrawn",
        step.number,
        inst.slot,
        actor.party,
        {"reason": "withdrawn", "signoff_party": actor.party},
    )
    return _set(state, inst, signoffs=inst.signoffs - {actor.party}), [event]


def _reopen(
    defn: PlanDefinition,
    state: CycleState,
    step: Step,
    inst: StepState,
    actor: Actor,
    *,
    reason: str | None,
    **_: Any,
) -> tuple[CycleState, list[Event]]:
    """Reopening only touches this instance: later steps keep their status, so work
    done there is not thrown away; a closed cycle is open again."""
    if not actor.is_admin:
        raise ActionRefused(_t("Alleen een beheerder kan een stap heropenen."))
    if actor.party not in participants(defn, step.number, inst.slot):
        raise ActionRefused(_t("Je kunt alleen een stap van je eigen organisatie heropenen."))
    if inst.status != COMPLETED:
        raise ActionRefused(_t("Stap {n} is niet afgerond, dus je hoeft hem niet te heropenen.").format(n=step.number))
    if not isinstance(reason, str) or not reason.strip():
        raise ActionRefused(_t("Geef een reden op."))
    detail: dict[str, Any] = {"reason": reason.strip()}
    if state.closed:
        detail["cycle_reopened"] = True
    state = _set(state, inst, status=OPEN, signoffs=frozenset())
    return replace(state, closed=False), [Event("step_reopened", step.number, inst.slot, actor.party, detail)]


def _start_new_cycle(defn: PlanDefinition, state: CycleState, actor: Actor) -> tuple[CycleState, list[Event]]:
    """The caller prefills the new cycle's answers as drafts (carry_over_questions)."""
    if not actor.is_admin:
        raise ActionRefused(_t("Alleen een beheerder kan een nieuwe ronde starten."))
    if not state.closed:
        raise ActionRefused(
            _t("Een nieuwe ronde kan pas beginnen als de hele ronde, tot en met stap 8, is afgerond.")
        )
    number = state.number + 1
    event = Event(
        "cycle_started",
        None,
        None,
        actor.party,
        {"number": number, "previous": state.number},
    )
    return initial_state(defn, number), [event]


Handler = Callable[..., tuple[CycleState, list[Event]]]
_HANDLERS: dict[str, Handler] = {
    "edit": _edit,
    "complete": _complete,
    "sign_off": _sign_off,
    "withdraw_sign_off": _withdraw,
    "reopen": _reopen,
}


def apply(
    defn: PlanDefinition,
    state: CycleState,
    action: Action,
    actor: Actor,
    *,
    reason: str | None = None,
    situation: int = 1,
) -> tuple[CycleState, list[Event]]:
    """Carry out ``action`` for ``actor``: return the new state and one event per
    transition, or raise ``ActionRefused``. ``state`` itself is never changed.

    ``action.slot`` may be None: it then means the actor's own worksheet in steps
    1-3 and the shared worksheet elsewhere.
    """
    if actor.party not in PARTIES:
        raise ActionRefused(_t("Alleen de bibliotheek en de kinderopvang kunnen dit doen."))
    if action.kind == "start_new_cycle":
        return _start_new_cycle(defn, state, actor)
    handler = _HANDLERS.get(action.kind)
    if handler is None:
        raise ActionRefused(_t("Deze actie bestaat niet."))
    try:
        step = defn.step(action.step) if action.step is not None else None
    except KeyError:
        step = None
    if step is None:
        raise ActionRefused(_t("Deze stap bestaat niet."))
    slot = _resolve_slot(step, action.slot, actor)
    instance = state.steps.get((step.number, slot))
    if instance is None:
        raise ActionRefused(_t("Deze stap bestaat niet."))
    return handler(defn, state, step, instance, actor, reason=reason, situation=situation)


# --------------------------------------------------------------------------- questions


def allowed_actions(defn: PlanDefinition, state: CycleState, actor: Actor, situation: int = 1,
                    only: tuple[int, str] | None = None) -> list[Action]:
    """Exactly the actions ``actor`` may take now, in step order.

    "complete" and "sign_off" are listed as soon as the status permits them, even
    if required answers are missing: the button stays visible, and pressing it
    explains what is missing (``ActionRefused.missing`` / ``missing_required``).
    This asks ``apply`` itself, so the list can never disagree with the rules.

    ``only`` (step, slot): just that worksheet's actions (a worksheet page asks about
    its own; the other ~50 candidates would each be tried and refused).
    """
    candidates = [
        Action(kind, s.number, slot)
        for s in defn.steps
        if only is None or s.number == only[0]
        for slot in slots_for(defn, s.number)
        if only is None or slot == only[1]
        for kind in ACTION_KINDS
        if kind != "start_new_cycle"
    ]
    if only is None:
        candidates.append(Action("start_new_cycle"))
    allowed = []
    for action in candidates:
        try:
            apply(defn, state, action, actor, reason="-", situation=situation)
        except ActionRefused as refusal:
            if not refusal.missing:
                continue
        allowed.append(action)
    return allowed


def blockers(defn: PlanDefinition, state: CycleState, party: str) -> list[str]:
    """Dutch reasons why ``party`` cannot go further right now: it waits for the
    other organisation, or a step opens only after an earlier one.

    Per chain only the first locked step is mentioned, so the list stays short.
    """
    if state.closed:
        return []
    other = other_party(party)
    handoff = last_private_step(defn)
    reasons: list[str] = []
    for s in defn.steps:
        n = s.number
        if s.mode == "each":
            own = state.get(n, party)
            if n > 1 and own.status == LOCKED and state.get(n - 1, party).status != LOCKED:
                reasons.append(_t("Stap {n} gaat open als stap {previous} is afgerond").format(n=n, previous=n - 1))
            continue
        instance = state.get(n, JOINT)
        if n == handoff + 1 and instance.status == LOCKED:
            own_status = state.get(handoff, party).status
            if own_status == COMPLETED and state.get(handoff, other).status != COMPLETED:
                reasons.append(
                    _t("Wacht op {party}: stap {n} is nog niet afgerond").format(party=party_name(other), n=handoff)
                )
            elif own_status == OPEN:
                reasons.append(
                    _t("Stap {n} gaat open als jullie allebei stap {previous} hebben afgerond").format(
                        n=n, previous=handoff
                    )
                )
        elif instance.status == LOCKED and state.get(n - 1, JOINT).status == OPEN:
            reasons.append(_t("Stap {n} gaat open als stap {previous} is afgerond").format(n=n, previous=n - 1))
        elif instance.status == OPEN and s.mode == "lead" and party != LEAD_PARTY:
            reasons.append(
                _t("Wacht op {party}: die moet stap {n} nog afronden").format(party=party_name(LEAD_PARTY), n=n)
            )
        elif instance.status == OPEN and party in instance.signoffs and other not in instance.signoffs:
            reasons.append(
                _t("Wacht op {party}: die moet stap {n} nog goedkeuren").format(party=party_name(other), n=n)
            )
    return reasons


def opens_when(defn: PlanDefinition, state: CycleState, step: int, slot: str) -> str | None:
    """Why this step's worksheet is not open yet, in one sentence for the partnership's own
    members (which step opens it), or None when it is open. Whether the viewer may see the
    worksheet at all is ``visible``'s question, asked first."""
    instance = state.get(step, slot)
    handoff = last_private_step(defn)
    if instance.status != LOCKED:
        return None
    if defn.step(step).mode == "each":
        return _t("Stap {n} gaat open als jullie stap {previous} hebben afgerond.").format(n=step, previous=step - 1)
    if step == handoff + 1:
        return _t("Stap {n} gaat open als jullie allebei stap {previous} hebben afgerond.").format(
            n=step, previous=handoff)
    return _t("Stap {n} gaat open als stap {previous} is afgerond.").format(n=step, previous=step - 1)


def next_actor(defn: PlanDefinition, state: CycleState, situation: int = 1) -> dict[str, list[str]]:
    """Per party, short Dutch to-dos ("Vul stap 2 in", "Keur stap 4 goed")."""
    todo: dict[str, list[str]] = {p: [] for p in PARTIES}
    for s in defn.steps:
        for slot in slots_for(defn, s.number):
            instance = state.get(s.number, slot)
            if instance.status != OPEN:
                continue
            for party in participants(defn, s.number, slot):
                missing = missing_required(defn, state, s.number, slot, party, situation)
                n = s.number
                if s.mode == "each":
                    todo[party].append((_t("Vul stap {n} in") if missing else _t("Rond stap {n} af")).format(n=n))
                elif s.mode == "lead":
                    if party == LEAD_PARTY:
                        todo[party].append((_t("Vul stap {n} in") if missing else _t("Rond stap {n} af")).format(n=n))
                    else:
                        todo[party].append(_t("Help {party} met stap {n}").format(party=party_name(LEAD_PARTY), n=n))
                elif party not in instance.signoffs:
                    todo_text = _t("Vul stap {n} samen in") if missing else _t("Keur stap {n} goed")
                    todo[party].append(todo_text.format(n=n))
    if state.closed:
        for party in PARTIES:
            todo[party].append(_t("Start een nieuwe ronde"))
    return todo


def progress(defn: PlanDefinition, state: CycleState) -> list[dict[str, Any]]:
    """Per step: number, title, mode, and status and sign-offs per slot.

    Handy for timelines and overviews."""
    rows = []
    for s in defn.steps:
        slots = {slot: state.get(s.number, slot) for slot in slots_for(defn, s.number)}
        rows.append(
            {
                "number": s.number,
                "title": s.title,
                "mode": s.mode,
                "slots": {slot: i.status for slot, i in slots.items()},
                "signoffs": {slot: sorted(i.signoffs) for slot, i in slots.items()},
                "completed": all(i.status == COMPLETED for i in slots.values()),
            }
        )
    return rows
