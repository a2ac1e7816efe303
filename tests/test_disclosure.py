"""Disclosure control of step 5's theme counts, played by an attacker (workflow/disclosure.py).

Generated regions (branches, partnerships) get conversations one at a time, each with its
themes. After every addition we publish what a library (its own partnerships' overviews)
and the coordinator (the region) may see, and the attacker takes everything each of them
ever saw and tries every subtraction: no published figure, and no difference of two, may
rest on fewer conversations than the minimum, nor - for the coordinator - on fewer
partnerships than the minimum.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from stappenplan.workflow import disclosure
from stappenplan.workflow.disclosure import Rule, Tally

THEMES = ("voorlezen", "zingen", "praten", "spelen", "anders")


@dataclass(frozen=True)
class Record:
    id: int
    partnership: int
    themes: frozenset[str]


@dataclass(frozen=True)
class Seen:
    """A published figure, with the conversations it rests on (the attacker's reconstruction)."""

    records: frozenset[Record]
    counts: dict[str, int] = field(hash=False, compare=False)


def tally_of(records: Iterable[Record]) -> Tally:
    records = list(records)
    return Tally(dict(Counter(r.partnership for r in records)),
                 dict(Counter(f"themes:{t}" for r in records for t in r.themes)))


Publisher = Callable[[Tally | None, Tally, Rule], disclosure.Published]


class Viewer:
    """One scope's publications over time, as its viewer saw them."""

    def __init__(self, rule: Rule, publisher: Publisher) -> None:
        self.rule = rule
        self.publisher = publisher
        self.snapshot: Tally | None = None
        self.snapshot_records: frozenset[Record] = frozenset()
        self.seen: list[Seen] = []

    def look(self, records: frozenset[Record]) -> None:
        current = tally_of(records)
        result = self.publisher(self.snapshot, current, self.rule)
        if result.snapshot is current:  # a new snapshot: it rests on these records
            self.snapshot_records = records
        self.snapshot = result.snapshot
        if result.shown is not None:
            assert result.shown is self.snapshot
            self.seen.append(Seen(self.snapshot_records, dict(result.shown.counts)))


def isolated(viewer: Viewer, minimum: int, min_partnerships: int) -> list[str]:
    """Every figure and every difference of two the viewer saw that isolates too little."""
    problems = []

    def check(records: frozenset[Record], what: str) -> None:
        partnerships = len({r.partnership for r in records})
        if records and (len(records) < minimum or partnerships < min_partnerships):
            problems.append(f"{what}: {len(records)} conversations of {partnerships} partnerships")

    figures = list({s.records: s for s in viewer.seen}.values())
    for figure in figures:
        assert figure.counts == dict(tally_of(figure.records).counts)  # what was shown is what it rests on
        check(figure.records, "a figure")
    for a in figures:
        for b in figures:
            if b.records < a.records:
                check(a.records - b.records, "a difference")
            elif not (a.records <= b.records or b.records <= a.records) and a.records & b.records:
                check(a.records - b.records, "a difference of overlapping figures")
    return problems


@st.composite
def histories(draw):
    branches = draw(st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=4))
    partnerships = [(b, p) for b, count in enumerate(branches) for p in range(count)]
    additions = draw(st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(partnerships) - 1),
                  st.frozensets(st.sampled_from(THEMES), min_size=1, max_size=3)),
        max_size=45))
    minimum = draw(st.sampled_from([2, 3, 5]))
    min_partnerships = draw(st.sampled_from([1, 2, 3]))
    return partnerships, additions, minimum, min_partnerships


def play(history, publisher: Publisher = disclosure.publish) -> list[str]:
    """Replay one history; every problem the attacker finds, for every viewer."""
    partnerships, additions, minimum, min_partnerships = history
    region = Viewer(Rule(minimum, min_partnerships), publisher)
    own = {p: Viewer(Rule(minimum, 1), publisher) for p in range(len(partnerships))}
    records: list[Record] = []
    for number, (index, themes) in enumerate(additions):
        records.append(Record(number, index, themes))
        everything = frozenset(records)
        region.look(everything)
        for p, viewer in own.items():
            viewer.look(frozenset(r for r in everything if r.partnership == p))
    problems = [f"coordinator, {p}" for p in isolated(region, minimum, min_partnerships)]
    for p, viewer in own.items():
        problems += [f"library of partnership {p}, {q}" for q in isolated(viewer, minimum, 1)]
    return problems


@settings(max_examples=300, deadline=None)
@given(histories())
def test_no_subtraction_ever_isolates_fewer_conversations_or_partnerships_than_the_minimums(history) -> None:
    assert play(history) == []


@settings(max_examples=200, deadline=None)
@given(histories())
def test_one_new_conversation_never_changes_a_shown_figure(history) -> None:
    partnerships, additions, minimum, min_partnerships = history
    rule = Rule(minimum, min_partnerships)
    snapshot, shown_before = None, None
    records: list[Record] = []
    for number, (index, themes) in enumerate(additions):
        records.append(Record(number, index, themes))
        result = disclosure.publish(snapshot, tally_of(records), rule)
        if shown_before is not None and result.shown is not None and result.shown != shown_before:
            moved, where = disclosure.changed(shown_before, result.shown)
            assert moved >= minimum and where >= min_partnerships
        snapshot, shown_before = result.snapshot, result.shown if result.shown is not None else shown_before


def _naive(snapshot: Tally | None, current: Tally, rule: Rule) -> disclosure.Published:
    """How counts were published before: the current tally whenever it passes the minimums."""
    shown = current if rule.enough(current.conversations, current.partnerships) else None
    return disclosure.Published(shown, shown)


def test_the_attacker_finds_what_the_old_publishing_gave_away() -> None:
    """The attacker is real: the old way (live counts above the minimums) is caught at once,
    the region's figure moving by one conversation and a partnership's by one family."""
    history = ([(0, 0), (1, 0)],
               [(i % 2, frozenset({"voorlezen"})) for i in range(10)] + [(0, frozenset({"anders"}))], 5, 2)
    problems = play(history, _naive)
    assert any(p.startswith("coordinator") and "1 conversations" in p for p in problems)
    assert any(p.startswith("library") and "1 conversations" in p for p in problems)
    assert play(history) == []
