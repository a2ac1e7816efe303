"""Human-readable answers (read-only views, history, the plan document)."""

from __future__ import annotations

import difflib
import re
from datetime import date
from typing import Any

from babel.numbers import format_decimal

from ..i18n import current_locale, format_day
from ..i18n import gettext as _
from ..workflow.answers import filled_rows as filled_rows  # the templates' too
from ..workflow.definition import N_, Column, Question
from .identifying import MESSAGES, identifying_kinds

CHECK_LABELS = {"ja": N_("Ja"), "nee": N_("Nee"), "deels": N_("Deels")}


def check_label(value: str) -> str:
    """Ja / nee / deels in the reader's language."""
    return _(CHECK_LABELS[value]) if value in CHECK_LABELS else value


def option_label(options: Any, key: str) -> str:
    for option in options:
        if option.key == key:
            return option.label
    return key


def format_date(value: str | None) -> str:
    """An answer's date (stored as ISO text) the way a table shows it: 07-12-2026."""
    if not value:
        return ""
    try:
        return format_day(date.fromisoformat(value), "dd-MM-yyyy")
    except ValueError:
        return value


def privacy_warning(column: Column, value: Any) -> str | None:
    """The warning next to a cell that seems to name a family (the save went through)."""
    if not column.privacy_check or not isinstance(value, str):
        return None
    kinds = identifying_kinds(value)
    if not kinds:
        return None
    return _("%(what)s Gebruik een label zoals ‘Gezin A’. Wat je typte is opgeslagen; pas het nog aan.",
             what=_(MESSAGES[kinds[0]]))


def cell_text(column: Column, value: Any) -> str:
    if value in (None, "", []):
        return ""
    if column.type == "choice":
        return option_label(column.options, value)
    if column.type == "multi":
        return ", ".join(option_label(column.options, v) for v in value)
    if column.type == "date":
        return format_date(value)
    if column.type == "number":
        return format_decimal(value, locale=current_locale()) if isinstance(value, int | float) else str(value)
    return str(value)


def row_heading(question: Question, cells: Any) -> str:
    """What a table row is called after its row number: its main text - the first text or
    line column of the question, in the question's order (stored cells have no order one
    can rely on; PostgreSQL's jsonb sorts the keys). A table without a text column uses its
    first column as shown (an option's label, never its key)."""
    columns = list(question.columns or [])
    main = next((c for c in columns if c.type in ("text", "line")), columns[0] if columns else None)
    if main is None:
        return ""
    value = (cells or {}).get(main.key)
    if main.type in ("text", "line"):
        return value.strip() if isinstance(value, str) else ""
    return cell_text(main, value)


def answer_text(question: Question, value: Any, goals: dict[str, str] | None = None) -> str:
    """One answer as plain text (tables: one line per row)."""
    if value in (None, "", [], {}):
        return ""
    qtype = question.type
    if qtype in ("text", "line"):
        return str(value)
    if qtype == "choice":
        return option_label(question.options, value)
    if qtype == "multi":
        return ", ".join(option_label(question.options, v) for v in value)
    if qtype == "check":
        return check_label(value)
    if qtype == "date":
        return format_date(value)
    if qtype == "scale":
        return scale_text(value)
    if qtype in ("table", "records"):
        lines = []
        for row in filled_rows(value):
            cells = row.get("cells", {})
            parts = [cell_text(c, cells.get(c.key)) for c in question.columns]
            lines.append(" · ".join(p for p in parts if p))
        return "\n".join(lines)
    if qtype == "goal_progress":
        goals = goals or {}
        return "\n".join(f"{goals.get(goal_id, _('Doel'))}: {scale_text(entry)}" for goal_id, entry in value.items())
    return str(value)


def scale_text(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    parts = []
    if value.get("value") is not None:
        parts.append(_("%(n)d van 5", n=value["value"]))
    if value.get("remark"):
        parts.append(value["remark"])
    return " — ".join(parts)


_TOKENS = re.compile(r"\s+|[^\s]+")


def diff_tokens(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level differences: a list of (kind, text), kind in equal / insert / delete."""
    a, b = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    result: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            result.append(("equal", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                result.append(("delete", "".join(a[i1:i2])))
            if j2 > j1:
                result.append(("insert", "".join(b[j1:j2])))
    return result
