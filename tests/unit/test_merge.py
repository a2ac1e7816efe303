"""Three-way merge of answers: both changes kept when they touch different words,
a conflict when they touch the same words (property-based)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stappenplan.workflow.plan_loader import get_definition
from stappenplan.worksheets.merge import MergeConflict, merge, merge_text

# Distinct base words (an edit's place is then unambiguous); new words come from other
# alphabets, so neither side can accidentally write the other's text.
BASE_WORDS = st.lists(st.text("abcdefghij", min_size=1, max_size=6), min_size=3, max_size=30, unique=True)


def new_words(alphabet: str) -> st.SearchStrategy[list[str]]:
    return st.lists(st.text(alphabet, min_size=1, max_size=6), max_size=4)


def apply(words: list[str], start: int, end: int, replacement: list[str]) -> list[str]:
    return words[:start] + replacement + words[end:]


@st.composite
def disjoint_edits(draw):
    """A base text and two edits with at least one untouched word between them."""
    words = draw(BASE_WORDS)
    n = len(words)
    a1 = draw(st.integers(0, n - 2))
    b1 = draw(st.integers(a1, n - 2))
    a2 = draw(st.integers(b1 + 1, n))
    b2 = draw(st.integers(a2, n))
    first = draw(new_words("KLMNOP"))
    second = draw(new_words("QRSTUV"))
    if (a1 == b1 and not first) or (a2 == b2 and not second):
        first, second = first or ["KK"], second or ["QQ"]
    expected = apply(apply(words, a2, b2, second), a1, b1, first)
    early_is_mine = draw(st.booleans())
    one = apply(words, a1, b1, first)
    two = apply(words, a2, b2, second)
    mine, theirs = (one, two) if early_is_mine else (two, one)
    return " ".join(words), " ".join(theirs), " ".join(mine), " ".join(expected)


@st.composite
def overlapping_edits(draw):
    """Two edits that both change at least one common word, differently."""
    words = draw(BASE_WORDS)
    n = len(words)
    common = draw(st.integers(0, n - 1))
    a1, b1 = draw(st.integers(0, common)), draw(st.integers(common + 1, n))
    a2, b2 = draw(st.integers(0, common)), draw(st.integers(common + 1, n))
    mine = apply(words, a1, b1, draw(new_words("KLMNOP").filter(bool)))
    theirs = apply(words, a2, b2, draw(new_words("QRSTUV")))
    return " ".join(words), " ".join(theirs), " ".join(mine)


@given(disjoint_edits())
def test_non_overlapping_edits_are_both_kept(case: tuple[str, str, str, str]) -> None:
    base, theirs, mine, expected = case
    assert merge_text(base, theirs, mine) == expected


@given(overlapping_edits())
def test_edits_of_the_same_words_are_refused(case: tuple[str, str, str]) -> None:
    base, theirs, mine = case
    with pytest.raises(MergeConflict):
        merge_text(base, theirs, mine)


def test_multiline_text_merges_per_line_and_word() -> None:
    base = "Wij lezen voor.\nOp dinsdag.\nIn de bibliotheek."
    theirs = "Wij lezen samen voor.\nOp dinsdag.\nIn de bibliotheek."
    mine = "Wij lezen voor.\nOp dinsdag.\nIn de bibliotheek van Tiel."
    assert merge_text(base, theirs, mine) == "Wij lezen samen voor.\nOp dinsdag.\nIn de bibliotheek van Tiel."


QUESTIONS = {q.key: q for s in get_definition(1).steps for q in s.questions}


@given(st.sets(st.sampled_from(QUESTIONS["aims"].option_keys())),
       st.sets(st.sampled_from(QUESTIONS["aims"].option_keys())),
       st.sets(st.sampled_from(QUESTIONS["aims"].option_keys())))
def test_multiple_choice_merges_as_sets(base: set[str], theirs: set[str], mine: set[str]) -> None:
    q = QUESTIONS["aims"]
    merged = set(merge(q, sorted(base), sorted(theirs), sorted(mine)) or [])
    assert mine - base <= merged  # what I ticked stays ticked
    assert not (base - mine) & merged  # what I unticked stays unticked
    assert theirs - (base - mine) <= merged  # their ticks stay unless I unticked them


def test_scale_merges_score_and_remark_separately() -> None:
    q = QUESTIONS["support"]
    base = {"value": 3, "remark": "Het team doet mee"}
    theirs = {"value": 4, "remark": "Het team doet mee"}
    mine = {"value": 3, "remark": "Het hele team doet mee"}
    assert merge(q, base, theirs, mine) == {"value": 4, "remark": "Het hele team doet mee"}
    with pytest.raises(MergeConflict):
        merge(q, base, theirs, {"value": 2, "remark": "Het team doet mee"})


def test_single_choices_merge_only_when_one_side_kept_it() -> None:
    q = QUESTIONS["consultation_frequency"]
    assert merge(q, "monthly", "weekly", "monthly") == "weekly"
    assert merge(q, "monthly", "monthly", "weekly") == "weekly"
    assert merge(q, "monthly", "weekly", "weekly") == "weekly"
    with pytest.raises(MergeConflict):
        merge(q, "monthly", "weekly", "quarterly")
