"""Where each partnership stands, for overviews: loaded in a fixed number of queries.

The summary needs no answers: who is "aan zet" follows from the step statuses and
sign-offs alone, so an overview of hundreds of partnerships stays cheap.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, func, select

from ..extensions import db, utcnow
from ..i18n import gettext as _
from ..workflow import engine
from ..workflow.models import Cycle, SignOff, StepInstance
from .models import Partnership

PARTY_LABEL = {"library": "bibliotheek", "childcare": "kinderopvang"}


@dataclass
class Segment:
    """One step in the compact 8-step bar."""

    number: int
    slots: dict[str, str]  # slot -> status
    text: str  # for screen readers and tooltips

    @property
    def state(self) -> str:
        """completed when every slot is, locked when none has started, otherwise open."""
        values = set(self.slots.values())
        if values == {"completed"}:
            return "completed"
        if values <= {"locked"}:
            return "locked"
        return "open"


@dataclass
class Summary:
    partnership: Partnership
    cycle_number: int
    closed: bool
    segments: list[Segment]
    current_step: int
    todo: dict[str, list[str]] = field(default_factory=dict)
    last_activity_at: datetime | None = None
    stalled: bool = False
    #: ``todo`` as the other organisation reads it ("jullie keurden al goed").
    todo_for_partner: dict[str, list[str]] = field(default_factory=dict)

    def waits_on(self, party: str) -> list[str]:
        """What ``party`` has to do, in its own words."""
        return self.todo.get(party, [])

    def awaited_from(self, party: str) -> list[str]:
        """What ``party`` has to do, as its partner reads it (the start page's "Wacht op
        de partner"): the partner is the one who already approved, not ``party``."""
        return self.todo_for_partner.get(party, [])

    @property
    def status_text(self) -> str:
        if self.closed:
            return _("Ronde %(n)d afgerond", n=self.cycle_number)
        return _("Stap %(n)d van 8", n=self.current_step)


def _todo(instances: dict[tuple[int, str], tuple[str, frozenset[str]]]
          ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per party the short Dutch to-dos, from statuses and sign-offs only: in the party's
    own words, and as its partner reads them (they differ only for an approval the
    partner already gave)."""
    todo: dict[str, list[str]] = {"library": [], "childcare": []}
    seen: dict[str, list[str]] = {"library": [], "childcare": []}

    def add(party: str, own: str, theirs: str | None = None) -> None:
        todo[party].append(own)
        seen[party].append(theirs or own)

    for (step, slot), (status, signoffs) in sorted(instances.items()):
        if status != "open":
            continue
        if slot in todo:
            add(slot, _("Stap %(n)d invullen en afronden", n=step))
        elif step == 5:
            add("childcare", _("Stap 5 invullen en afronden"))
        else:
            for party in todo:
                if party in signoffs:
                    continue
                if signoffs:
                    add(party, _("Stap %(n)d goedkeuren (je partner keurde al goed)", n=step),
                        _("Stap %(n)d goedkeuren (jullie keurden al goed)", n=step))
                else:
                    add(party, _("Stap %(n)d samen invullen en goedkeuren", n=step))
    return todo, seen


def summaries(partnerships: list[Partnership], stalled_days: int = 30) -> list[Summary]:
    """Summaries for the given partnerships in two queries, whatever their number."""
    if not partnerships:
        return []
    newest_cycles, steps_and_signoffs = _statements()
    cycles = {c.partnership_id: c for c in db.session.execute(newest_cycles, {"ids": [p.id for p in partnerships]})}
    cycle_ids = [c.id for c in cycles.values()]
    rows = db.session.execute(steps_and_signoffs, {"cycle_ids": cycle_ids}).all() if cycle_ids else []
    # A sign-off counts for its step, whichever slot's instance it is on.
    signed: dict[tuple[int, int], set[str]] = {}
    for cycle_id, step, _slot, _status, party in rows:
        if party is not None:
            signed.setdefault((cycle_id, step), set()).add(party)
    by_cycle: dict[int, dict[tuple[int, str], tuple[str, frozenset[str]]]] = {}
    for cycle_id, step, slot, status, _party in rows:
        by_cycle.setdefault(cycle_id, {})[(step, slot)] = (status, frozenset(signed.get((cycle_id, step), ())))
    threshold = utcnow() - timedelta(days=stalled_days)
    # Translated once per call: these lookups ran 8 times per partnership on the start page.
    words = {"completed": _("afgerond"), "open": _("bezig"), "locked": _("nog niet open")}
    result = []
    for p in partnerships:
        cycle = cycles.get(p.id)
        if cycle is None:
            continue
        instances = by_cycle.get(cycle.id, {})
        segments = [_segment(n, instances, words) for n in range(1, 9)]
        open_steps = [s.number for s in segments if s.state == "open"]
        done = [s.number for s in segments if s.state == "completed"]
        current = open_steps[-1] if open_steps else (max(done) if done else 1)
        closed = cycle.closed_at is not None
        todo, seen = _todo(instances if not closed else {})
        result.append(Summary(
            partnership=p, cycle_number=cycle.number, closed=closed, segments=segments, current_step=current,
            todo=todo, todo_for_partner=seen, last_activity_at=cycle.last_activity_at,
            stalled=not closed and cycle.last_activity_at < threshold,
        ))
    return result


@functools.cache
def _statements() -> tuple[Select, Select]:
    """The summaries' two statements, built once per process with bind parameters: building
    them anew (a grouped subquery, a join) and working out their cache keys cost more
    than running them. The newest cycle of each partnership; then the step instances of
    those cycles with their sign-offs (a row per sign-off, one without)."""
    newest = (
        select(Cycle.partnership_id, func.max(Cycle.number).label("number"))
        .where(Cycle.partnership_id.in_(bindparam("ids", expanding=True))).group_by(Cycle.partnership_id).subquery()
    )
    cycles = select(Cycle.id, Cycle.partnership_id, Cycle.number, Cycle.closed_at, Cycle.last_activity_at).join(
        newest, (newest.c.partnership_id == Cycle.partnership_id) & (newest.c.number == Cycle.number))
    steps = (
        select(StepInstance.cycle_id, StepInstance.step, StepInstance.slot, StepInstance.status, SignOff.party)
        .outerjoin(SignOff, SignOff.step_instance_id == StepInstance.id)
        .where(StepInstance.cycle_id.in_(bindparam("cycle_ids", expanding=True)))
    )
    return cycles, steps


def _segment(number: int, instances: dict[tuple[int, str], tuple[str, frozenset[str]]],
             words: dict[str, str]) -> Segment:
    slots = {slot: status for (step, slot), (status, _s) in instances.items() if step == number}
    if set(slots) == {"joint"}:
        text = _("Stap %(n)d: %(status)s", n=number, status=words[slots["joint"]])
    else:
        text = _("Stap %(n)d: bibliotheek %(lib)s, kinderopvang %(cc)s", n=number,
                 lib=words[slots.get("library", "locked")], cc=words[slots.get("childcare", "locked")])
    return Segment(number=number, slots=slots, text=text)


def other(party: str) -> str:
    return "childcare" if party == "library" else "library"


__all__ = ["PARTY_LABEL", "Segment", "Summary", "engine", "other", "summaries"]
