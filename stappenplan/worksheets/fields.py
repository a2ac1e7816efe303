"""Field names in worksheet forms, and reading answers back from a posted form.

Every question's inputs are named after its key, so one question can be
autosaved on its own (htmx ``hx-params`` picks its names) and the whole
worksheet can still be posted as one ordinary form without JavaScript.
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, Signer
from werkzeug.datastructures import MultiDict

from ..workflow.definition import Question
from .tables import TableOp

SEP = "--"


def name(key: str, *parts: str) -> str:
    return SEP.join(["q-" + key, *parts])


def version_name(key: str) -> str:
    return "v-" + key


def orig_name(key: str, row_id: str, column: str) -> str:
    return SEP.join(["o-" + key, row_id, column])


def delete_name(key: str, row_id: str) -> str:
    return SEP.join(["d-" + key, row_id])


def new_row_id() -> str:
    """Row ids are made here, never taken from a request (they end up in other people's pages)."""
    return "r" + secrets.token_hex(5)


def _row_signer(key: str) -> Signer:
    return Signer(current_app.secret_key or "", salt=f"stappenplan.new-row.{key}")


def signed_row_id(key: str) -> str:
    """A fresh row id for the no-JavaScript "new row" fields, signed so that posting
    the same form twice adds the row once, and a made-up id is never accepted."""
    return _row_signer(key).sign(new_row_id()).decode()


def unsign_row_id(key: str, raw: str | None) -> str | None:
    try:
        return _row_signer(key).unsign(raw or "").decode()
    except BadSignature:
        return None


def encode(value: Any) -> str:
    """Hidden inputs hold what the editor saw, as JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def format_number(value: Any) -> str:
    """A stored number as a person types it back: decimal comma, never an exponent.

    ``1.125`` is written ``1,125`` because the validator reads ``1.125`` as Dutch
    thousands (1125); the shortest round-tripping digits keep the value exact.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def decode(raw: str | None) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


def param_names(question: Question, rows: list[dict[str, Any]] | None = None,
                goals: list[dict[str, Any]] | None = None) -> list[str]:
    """The names one question posts (for hx-params)."""
    key = question.key
    names = [version_name(key)]
    if question.type == "scale":
        names += [name(key), name(key, "remark")]
    elif question.type == "goal_progress":
        for goal in goals or []:
            names += [name(key, goal["id"]), name(key, goal["id"], "remark")]
    elif question.type in ("table", "records"):
        pass  # tables post per cell (see cell_params)
    elif question.type == "multi":
        names += [name(key), name(key, "present")]
    else:
        names.append(name(key))
    return names


def cell_params(question: Question, row_id: str, column: str) -> list[str]:
    return [version_name(question.key), name(question.key, row_id, column),
            orig_name(question.key, row_id, column), "op", "row", "col"]


def read_value(question: Question, form: MultiDict, goal_ids: list[str] | None = None) -> tuple[bool, Any]:
    """(present, raw value) of a non-table question in a posted form."""
    key = question.key
    if question.type == "multi":
        present = name(key) in form or f"{name(key)}{SEP}present" in form
        return present, [v for v in form.getlist(name(key)) if v]
    if question.type == "scale":
        present = name(key) in form or name(key, "remark") in form
        return present, {"value": form.get(name(key)) or None, "remark": form.get(name(key, "remark"), "")}
    if question.type == "goal_progress":
        values = {}
        present = False
        for goal_id in goal_ids or []:
            if name(key, goal_id) in form or name(key, goal_id, "remark") in form:
                present = True
                values[goal_id] = {"value": form.get(name(key, goal_id)) or None,
                                   "remark": form.get(name(key, goal_id, "remark"), "")}
        return present, values
    return name(key) in form, form.get(name(key))


#: The worksheet script sends what the editor started from under these names
#: ("b:" + the field's own name), with ``has_base=1``.
BASE_PREFIX = "b:"


def read_base(question: Question, form: MultiDict, goal_ids: list[str] | None = None) -> tuple[bool, Any]:
    """(sent, raw value) of the value an edit started from (for the three-way merge)."""
    if form.get("has_base") != "1":
        return False, None
    base = MultiDict([(k[len(BASE_PREFIX):], v) for k, v in form.items(multi=True) if k.startswith(BASE_PREFIX)])
    if question.type in ("multi",):
        base.add(name(question.key, "present"), "1")
    _present, raw = read_value(question, base, goal_ids)
    return True, raw


def form_pairs(question: Question, value: Any, goal_ids: list[str] | None = None) -> list[tuple[str, str]]:
    """The form data a browser would send for ``value`` (the inverse of ``read_value``):
    the worksheet script puts a merged answer into the inputs with these."""
    key = question.key
    if question.type == "multi":
        return [(name(key, "present"), "1")] + [(name(key), k) for k in value or []]
    if question.type == "scale":
        return _scale_pairs(name(key), name(key, "remark"), value)
    if question.type == "goal_progress":
        pairs: list[tuple[str, str]] = []
        for goal_id in goal_ids or []:
            pairs += _scale_pairs(name(key, goal_id), name(key, goal_id, "remark"), (value or {}).get(goal_id))
        return pairs
    if question.type in ("choice", "check"):
        return [(name(key), value)] if value else []
    return [(name(key), "" if value is None else str(value))]


def _scale_pairs(field: str, remark: str, entry: dict[str, Any] | None) -> list[tuple[str, str]]:
    entry = entry or {}
    pairs = [(field, str(entry["value"]))] if entry.get("value") is not None else []
    return pairs + [(remark, entry.get("remark") or "")]


def read_cell(question: Question, form: MultiDict, row_id: str, column: str) -> Any:
    col = question.column(column)
    field = name(question.key, row_id, column)
    if col.type == "multi":
        return [v for v in form.getlist(field) if v]
    return form.get(field)


def table_ops(question: Question, form: MultiDict, current: list[dict[str, Any]] | None) -> list[TableOp]:
    """Turn a whole-form post of a table into row operations (no-JavaScript path)."""
    ops: list[TableOp] = []
    key = question.key
    for row in current or []:
        row_id = row["id"]
        orig_present = any(orig_name(key, row_id, c.key) in form for c in question.columns)
        if not orig_present:
            continue  # the row was not on the page the user posted
        if form.get(delete_name(key, row_id)):
            old = {c.key: decode(form.get(orig_name(key, row_id, c.key))) for c in question.columns}
            ops.append(TableOp("delete", row_id, old_cells={k: v for k, v in old.items() if v not in (None, "", [])}))
            continue
        for column in question.columns:
            old = decode(form.get(orig_name(key, row_id, column.key)))
            value = read_cell(question, form, row_id, column.key)
            if _differs(old, value):
                ops.append(TableOp("edit", row_id, column=column.key, value=value, old=old))
    new_cells = {c.key: read_cell(question, form, "new", c.key) for c in question.columns}
    if any(v not in (None, "", []) for v in new_cells.values()):
        ops.append(TableOp("add", unsign_row_id(key, form.get(name(key, "new", "id"))) or new_row_id(),
                           cells=new_cells))
    return ops


def _differs(old: Any, new: Any) -> bool:
    empty: tuple[Any, ...] = (None, "", [])
    if old in empty and new in empty:
        return False
    return str(old) != str(new) if not isinstance(new, list) else old != new
