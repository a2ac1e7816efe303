"""Disclosure control for step 5's theme counts: what may be shown (pure Python).

Counts of the conversations with parents are shown to people who may not read the records
(a library, of its own partnership; a coordinator, of its region). A count must never be
one family's or one partnership's answers, also not by subtraction. The rules, one place:

1. A figure is shown only when at least ``minimum`` conversations lie behind it, and - for
   a coordinator - the conversations of at least ``min_partnerships`` partnerships.
2. A shown figure changes only in steps: it is published from a *snapshot*, which is
   renewed only when, since the last one, at least ``minimum`` conversations changed, in at
   least ``min_partnerships`` partnerships. One new conversation never changes what is
   shown, so the difference of two figures is never one family's (nor one partnership's).
3. A coordinator sees one figure: the whole region's. A branch's themes beside the
   region's could be subtracted from it, and a branch with one partnership would stand
   alone; so the branch filter shows none, and a single partnership's step 5 shows none to
   a coordinator.

docs/privacy.md explains it; tests/test_disclosure.py plays the attacker over generated
regions and additions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tally:
    """Counts over some conversations: how many per partnership, and per theme."""

    by_partnership: Mapping[int, int] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def conversations(self) -> int:
        return sum(self.by_partnership.values())

    @property
    def partnerships(self) -> int:
        return sum(1 for n in self.by_partnership.values() if n)


@dataclass(frozen=True)
class Rule:
    minimum: int
    #: 1 for a partnership's own overview (its library reads its own partnership).
    min_partnerships: int = 1

    def enough(self, conversations: int, partnerships: int) -> bool:
        return conversations >= max(self.minimum, 1) and partnerships >= max(self.min_partnerships, 1)


def changed(before: Tally, after: Tally) -> tuple[int, int]:
    """How many conversations came or went between two tallies, and in how many partnerships."""
    moved, where = 0, 0
    for partnership in set(before.by_partnership) | set(after.by_partnership):
        difference = abs(after.by_partnership.get(partnership, 0) - before.by_partnership.get(partnership, 0))
        moved += difference
        where += 1 if difference else 0
    return moved, where


@dataclass(frozen=True)
class Published:
    """What to keep (the snapshot) and what to show now (the snapshot, or nothing)."""

    snapshot: Tally | None
    shown: Tally | None


def publish(snapshot: Tally | None, current: Tally, rule: Rule) -> Published:
    """The figure to show now, given the last snapshot and the current tally.

    A new snapshot is taken when the current tally may be shown and it differs from the
    last snapshot by at least ``rule.minimum`` conversations in at least
    ``rule.min_partnerships`` partnerships (or when there is none yet). Otherwise the last
    snapshot stays, and is shown while the current tally may be shown at all."""
    allowed = rule.enough(current.conversations, current.partnerships)
    if allowed:
        if snapshot is None:
            snapshot = current
        else:
            moved, where = changed(snapshot, current)
            if rule.enough(moved, where):
                snapshot = current
    shown = snapshot if allowed and snapshot is not None and rule.enough(snapshot.conversations,
                                                                         snapshot.partnerships) else None
    return Published(snapshot, shown)
