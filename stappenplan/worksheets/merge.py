"""Three-way merge of answers (pure Python): two people changed the same answer, each
from the version they saw (the *base*); non-overlapping changes are combined.

Text is merged per word with ``merge3`` (Breezy's diff3, a small maintained library):
the words and the whitespace between them are the units, so two people writing in
different sentences of one field both keep their text, and two people changing the
same words get the conflict view instead of a guess. ``diff-match-patch`` was the
alternative; its patches apply "fuzzily" at a nearby place, which is what one wants
for documents but not for answers where a misplaced sentence changes the meaning.

Multiple choice is merged as sets (what I ticked or unticked, on top of theirs),
a scale per score and remark, goal progress per goal. Single values (one choice,
yes/no/partly, a date) merge only when one side left them as they were.
"""

from __future__ import annotations

import re
from typing import Any

from merge3 import Merge3

from ..workflow.definition import Question


class MergeConflict(Exception):
    """Both sides changed the same part: a person has to choose."""


_TOKENS = re.compile(r"\s+|[^\s]+")


def tokens(text: str) -> list[str]:
    return _TOKENS.findall(text or "")


def merge_text(base: str | None, theirs: str | None, mine: str | None) -> str:
    """Word-level three-way merge; raises MergeConflict when edits touch the same words."""
    base, theirs, mine = base or "", theirs or "", mine or ""
    if mine == base or mine == theirs:
        return theirs
    if theirs == base:
        return mine
    result: list[str] = []
    for group in Merge3(tokens(base), tokens(mine), tokens(theirs)).merge_groups():
        if group[0] == "conflict":
            raise MergeConflict
        result.extend(group[1])
    return "".join(result)


def _scalar(base: Any, theirs: Any, mine: Any) -> Any:
    if mine == base or mine == theirs:
        return theirs
    if theirs == base:
        return mine
    raise MergeConflict


def _multi(question: Question, base: Any, theirs: Any, mine: Any) -> list[str]:
    base_set, theirs_set, mine_set = set(base or []), set(theirs or []), set(mine or [])
    chosen = (theirs_set - (base_set - mine_set)) | (mine_set - base_set)
    return [k for k in question.option_keys() if k in chosen]


def _scale(base: Any, theirs: Any, mine: Any) -> dict[str, Any] | None:
    b, t, m = base or {}, theirs or {}, mine or {}
    value = _scalar(b.get("value"), t.get("value"), m.get("value"))
    remark = merge_text(b.get("remark"), t.get("remark"), m.get("remark"))
    if value is None and not remark:
        return None
    return {"value": value, "remark": remark}


def _goals(base: Any, theirs: Any, mine: Any) -> dict[str, Any] | None:
    b, t, m = base or {}, theirs or {}, mine or {}
    result = {}
    for goal_id in list(t) + [g for g in m if g not in t]:
        entry = _scale(b.get(goal_id), t.get(goal_id), m.get(goal_id))
        if entry is not None:
            result[goal_id] = entry
    return result or None


def merge(question: Question, base: Any, theirs: Any, mine: Any) -> Any:
    """The answer with both changes, or MergeConflict. Values are normalised answers."""
    qtype = question.type
    if qtype in ("text", "line"):
        return merge_text(base, theirs, mine) or None
    if qtype == "multi":
        return _multi(question, base, theirs, mine) or None
    if qtype == "scale":
        return _scale(base, theirs, mine)
    if qtype == "goal_progress":
        return _goals(base, theirs, mine)
    if qtype in ("choice", "check", "date"):
        return _scalar(base, theirs, mine)
    raise MergeConflict  # tables merge per row and cell (see tables.apply_ops)
