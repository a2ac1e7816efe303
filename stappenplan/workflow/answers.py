"""Checking and normalising answers (pure Python): the one validation every write
goes through, and what counts as answered for completing a step."""

import datetime as dt
import json
import math
import re
from typing import Any

from .definition import (
    ANSWER_MAX,
    CHECK_VALUES,
    LINE_MAX,
    MAX_ROWS,
    N_,
    REMARK_MAX,
    ROW_ID_MAX,
    SCALE_MAX,
    SCALE_MIN,
    TEXT_MAX,
    Column,
    Option,
    Question,
    _t,
)

# --------------------------------------------------------------------------- answers

MSG_INVALID = N_("Deze invoer is niet geldig.")
MSG_TEXT = N_("Vul hier tekst in.")
MSG_TEXT_TOO_LONG = N_("Deze tekst is te lang: maximaal 20.000 tekens.")
MSG_LINE_TOO_LONG = N_("Deze tekst is te lang: maximaal 500 tekens.")
MSG_LINE_BREAK = N_("Gebruik hier maar één regel.")
MSG_REMARK_TOO_LONG = N_("De toelichting is te lang: maximaal 2.000 tekens.")
MSG_CHOICE = N_("Kies een van de gegeven mogelijkheden.")
MSG_SCALE = N_("Kies een getal van 1 tot en met 5.")
MSG_DATE = N_("Dit is geen geldige datum. Gebruik de vorm dd-mm-jjjj.")
MSG_CHECK = N_("Kies ja, nee of deels.")
MSG_NUMBER = N_("Vul een getal in.")
MSG_TABLE = N_("Deze tabel is niet goed doorgegeven.")
MSG_TOO_MANY_ROWS = N_("Een tabel mag maximaal 200 rijen hebben.")
MSG_CONTROL = N_("Deze tekst bevat een onzichtbaar stuurteken. Haal het weg en probeer het opnieuw.")
MSG_ANSWER_TOO_LONG = N_("Dit antwoord is te lang: maximaal 100.000 tekens in totaal.")

_DATE_NL = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
#: Control characters (C0, DEL, C1) except tab, line feed and carriage return: they
#: cannot be shown or typed back in a form, and NUL breaks PostgreSQL text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Row ids are made by the server; letters, digits, - and _ only, so they are safe in
#: field names and htmx attributes.
_ROW_ID = re.compile(rf"^[A-Za-z0-9_-]{{1,{ROW_ID_MAX}}}$")
_NUMBER_PLAIN = re.compile(r"^-?\d+(?:[.,]\d+)?$")
_NUMBER_THOUSANDS = re.compile(r"^-?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")

Result = tuple[Any, str | None]


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


def has_control_characters(value: str) -> bool:
    """Whether ``value`` holds a control character other than tab and line breaks."""
    return bool(_CONTROL.search(value))


def _text_value(value: Any) -> Result:
    if not isinstance(value, str):
        return None, _t(MSG_TEXT)
    if has_control_characters(value):
        return None, _t(MSG_CONTROL)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if len(value) > TEXT_MAX:
        return None, _t(MSG_TEXT_TOO_LONG)
    return value, None


def _line_value(value: Any) -> Result:
    if not isinstance(value, str):
        return None, _t(MSG_TEXT)
    if has_control_characters(value):
        return None, _t(MSG_CONTROL)
    value = value.strip()
    if "\n" in value or "\r" in value:
        return None, _t(MSG_LINE_BREAK)
    if len(value) > LINE_MAX:
        return None, _t(MSG_LINE_TOO_LONG)
    return value, None


def _choice_value(value: Any, keys: tuple[str, ...]) -> Result:
    if not isinstance(value, str) or value not in keys:
        return None, _t(MSG_CHOICE)
    return value, None


def _multi_value(value: Any, keys: tuple[str, ...]) -> Result:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return None, _t(MSG_CHOICE)
    chosen = set()
    for item in value:
        if not isinstance(item, str) or item not in keys:
            return None, _t(MSG_CHOICE)
        chosen.add(item)
    return [k for k in keys if k in chosen], None


def _date_value(value: Any) -> Result:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat(), None
    if not isinstance(value, str):
        return None, _t(MSG_DATE)
    text = value.strip()
    if m := _DATE_ISO.match(text):
        year, month, day = (int(g) for g in m.groups())
    elif m := _DATE_NL.match(text):
        day, month, year = (int(g) for g in m.groups())
    else:
        return None, _t(MSG_DATE)
    try:
        return dt.date(year, month, day).isoformat(), None
    except ValueError:
        return None, _t(MSG_DATE)


def _number_value(value: Any) -> Result:
    if isinstance(value, bool):
        return None, _t(MSG_NUMBER)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if _NUMBER_THOUSANDS.match(text):  # Dutch style: 1.250 or 1.250,5
            text = text.replace(".", "").replace(",", ".")
        elif _NUMBER_PLAIN.match(text):
            text = text.replace(",", ".")
        else:
            return None, _t(MSG_NUMBER)
        value = float(text)
    if not isinstance(value, int | float) or not math.isfinite(value) or abs(value) > 1e12:
        return None, _t(MSG_NUMBER)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value, None


def _scale_value(value: Any) -> Result:
    """A scale answer is ``{"value": 1..5 | None, "remark": str}``."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        value = {"value": value}
    if not isinstance(value, dict) or set(value) - {"value", "remark"}:
        return None, _t(MSG_INVALID)
    raw, remark = value.get("value"), value.get("remark") or ""
    if isinstance(raw, str):
        raw = raw.strip() or None
        if raw is not None:
            if not raw.isdigit():
                return None, _t(MSG_SCALE)
            raw = int(raw)
    if raw is not None and (type(raw) is not int or not SCALE_MIN <= raw <= SCALE_MAX):
        return None, _t(MSG_SCALE)
    if not isinstance(remark, str):
        return None, _t(MSG_TEXT)
    if has_control_characters(remark):
        return None, _t(MSG_CONTROL)
    remark = remark.strip()
    if "\n" in remark or "\r" in remark:  # a one-line field: a browser cannot show or send a line break
        return None, _t(MSG_LINE_BREAK)
    if len(remark) > REMARK_MAX:
        return None, _t(MSG_REMARK_TOO_LONG)
    if raw is None and not remark:
        return None, None
    return {"value": raw, "remark": remark}, None


def _check_value(value: Any) -> Result:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in CHECK_VALUES:
        return None, _t(MSG_CHECK)
    return text, None


def _cell_value(column: Column, value: Any) -> Result:
    if _is_empty(value):
        return None, None
    if column.type == "text":
        return _text_value(value)
    if column.type == "line":
        return _line_value(value)
    if column.type == "date":
        return _date_value(value)
    if column.type == "number":
        return _number_value(value)
    if column.type == "choice":
        return _choice_value(value, column.option_keys())
    normalised, error = _multi_value(value, column.option_keys())
    return (normalised or None), error


def _table_value(question: Question, value: Any) -> Result:
    """Rows are ``{"id": str, "cells": {column_key: value}}``; empty cells are dropped.

    Required columns are *not* enforced here, so a half-filled row can be autosaved;
    ``is_answered`` only counts rows whose required columns are filled.
    """
    if not isinstance(value, list | tuple):
        return None, _t(MSG_TABLE)
    if len(value) > MAX_ROWS:
        return None, _t(MSG_TOO_MANY_ROWS)
    columns = {c.key: c for c in question.columns}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, row in enumerate(value, start=1):
        if not isinstance(row, dict) or set(row) - {"id", "cells"}:
            return None, _t(MSG_TABLE)
        row_id, cells = row.get("id"), row.get("cells") or {}
        if not isinstance(row_id, str) or not _ROW_ID.match(row_id):
            return None, _t("Rij {i} heeft geen geldige id.").format(i=i)
        if row_id in seen:
            return None, _t("Rij {i} heeft dezelfde id als een andere rij.").format(i=i)
        seen.add(row_id)
        if not isinstance(cells, dict):
            return None, _t(MSG_TABLE)
        clean: dict[str, Any] = {}
        for col_key, cell in cells.items():
            column = columns.get(col_key)
            if column is None:
                return None, _t("Rij {i}: onbekende kolom '{column}'.").format(i=i, column=col_key)
            normalised, error = _cell_value(column, cell)
            if error:
                return None, _t("Rij {i}, kolom '{column}': {error}").format(i=i, column=column.label, error=error)
            if normalised is not None:
                clean[col_key] = normalised
        rows.append({"id": row_id, "cells": clean})
    return rows, None


def _goal_progress_value(value: Any) -> Result:
    """``{goal_row_id: {"value": 1..5 | None, "remark": str}}``; empty entries dropped.

    Row ids are not checked against step 4 here (this function sees one answer
    only); the caller shows entries for existing goals and ignores the rest.
    """
    if not isinstance(value, dict) or len(value) > MAX_ROWS:
        return None, _t(MSG_INVALID)
    clean: dict[str, Any] = {}
    for i, (row_id, entry) in enumerate(value.items(), start=1):
        if not isinstance(row_id, str) or not _ROW_ID.match(row_id):
            return None, _t(MSG_INVALID)
        if _is_empty(entry):
            continue
        normalised, error = _scale_value(entry)
        if error:
            return None, _t("Doel {i}: {error}").format(i=i, error=error)
        if normalised is not None:
            clean[row_id] = normalised
    return clean or None, None


def validate_answer(question: Question, value: Any) -> tuple[Any, str | None]:
    """Check and normalise one answer.

    Returns ``(normalised, None)``, or ``(None, message)`` when the input is wrong.

    Empty input (None, "", [], {}) normalises to None, which means "no answer".
    The message is Dutch (or translated by the installed translator, see
    ``set_translator``) and meant to be shown next to the field.
    """
    if _is_empty(value):
        return None, None
    qtype = question.type
    if qtype == "text":
        result = _text_value(value)
    elif qtype == "line":
        result = _line_value(value)
    elif qtype == "choice":
        result = _choice_value(value, question.option_keys())
    elif qtype == "multi":
        result = _multi_value(value, question.option_keys())
    elif qtype == "scale":
        result = _scale_value(value)
    elif qtype == "date":
        result = _date_value(value)
    elif qtype == "check":
        result = _check_value(value)
    elif qtype in ("table", "records"):
        result = _table_value(question, value)
    elif qtype == "goal_progress":
        result = _goal_progress_value(value)
    else:  # pragma: no cover - the loader rejects unknown types
        raise ValueError(f"unknown question type {qtype!r}")
    normalised, error = result
    if error:
        return None, error
    if qtype in ("table", "records", "goal_progress") and normalised and answer_size(normalised) > ANSWER_MAX:
        return None, _t(MSG_ANSWER_TOO_LONG)
    return (None if _is_empty(normalised) else normalised), None


def answer_size(value: Any) -> int:
    """Characters of an answer as stored (JSON), the measure of ``ANSWER_MAX``."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def incomplete_rows(question: Question, value: Any) -> list[tuple[int, list[Column]]]:
    """Rows of a table answer that have content but miss a required column:
    ``(row number from 1, missing columns)``. Completely empty rows do not count."""
    if question.type not in ("table", "records") or not isinstance(value, list):
        return []
    required = [c for c in question.columns if c.required]
    result = []
    for number, row in enumerate(value, start=1):
        cells = row.get("cells") or {}
        if not any(not _is_empty(v) for v in cells.values()):
            continue
        missing = [c for c in required if _is_empty(cells.get(c.key))]
        if missing:
            result.append((number, missing))
    return result


def is_answered(question: Question, value: Any) -> bool:
    """Whether a *normalised* value counts as an answer for required-checks.

    A scale needs a value (a remark alone is not enough); a table needs at least one
    row with all required columns filled (or, without required columns, any cell)
    and no row that has content but misses a required column (``incomplete_rows``);
    goal progress needs at least one goal with a value.
    """
    if _is_empty(value):
        return False
    if question.type == "scale":
        return isinstance(value, dict) and value.get("value") is not None
    if question.type in ("table", "records"):
        if incomplete_rows(question, value):
            return False
        required = [c.key for c in question.columns if c.required]
        for row in value:
            cells = row.get("cells") or {}
            if required and all(not _is_empty(cells.get(k)) for k in required):
                return True
            if not required and any(not _is_empty(v) for v in cells.values()):
                return True
        return False
    if question.type == "goal_progress":
        return any(isinstance(e, dict) and e.get("value") is not None for e in value.values())
    if isinstance(value, str):
        return bool(value.strip())
    return True


ThemeCounts = dict[str, list[tuple[Option, int]]]


def theme_overview(question: Question, value: Any, minimum: int) -> tuple[int, ThemeCounts | None]:
    """The number of conversations, and the theme counts only when at least ``minimum``
    conversations lie behind them (None otherwise): with one conversation a count of 1
    is one family, and comparing the overview before and after a new record would show
    that record's choices."""
    count = len(value) if isinstance(value, list) else 0
    if count < max(minimum, 1):
        return count, None
    return count, tally_records(question, value)


def tally_records(question: Question, value: Any) -> ThemeCounts:
    """Step 5's automatic overview: how often each option of each choice/multi
    column came up.

    Works on a normalised ``records`` (or ``table``) answer. Every option is listed,
    also with count 0, in the order of the definition, so the overview is stable and
    shows no individual record.
    """
    rows = value or []
    overview: dict[str, list[tuple[Option, int]]] = {}
    for column in question.columns:
        if column.type not in ("choice", "multi"):
            continue
        counts = dict.fromkeys(column.option_keys(), 0)
        for row in rows:
            cell = (row.get("cells") or {}).get(column.key)
            picked = cell if isinstance(cell, list) else [cell]
            for key in picked:
                if key in counts:
                    counts[key] += 1
        overview[column.key] = [(o, counts[o.key]) for o in column.options]
    return overview


def filled_rows(rows: Any) -> list[dict[str, Any]]:
    """Table rows that hold something: an empty row is not printed as a blank line, and
    counts for nothing (no content, no practice record)."""
    return [r for r in rows or [] if isinstance(r, dict)
            and any(v not in (None, "", []) for v in (r.get("cells") or {}).values())]


def field_value(field_type: str, value: Any, options: tuple[str, ...] = ()) -> Result:
    """One form value outside the plan's tables (a practice record's fields), checked and
    normalised by the same rules as a table cell of ``field_type``: empty is None."""
    column = Column(key="value", label="", type=field_type, options=tuple(Option(k, k) for k in options))
    return _cell_value(column, value)
