"""Row operations on table answers, merged per row and cell (pure Python).

Tables are edited through small operations that carry what the editor saw
(``old``): adding a row always succeeds, so two people adding rows at once both
keep them; editing a cell succeeds when the cell still holds what the editor saw
(otherwise it is a conflict, unless the cell already holds the new value);
deleting a row succeeds when nobody changed it in the meantime.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True)
class TableOp:
    kind: str  # add, edit, delete, move
    row_id: str
    column: str | None = None
    value: Any = None
    old: Any = None
    old_cells: dict[str, Any] | None = None
    cells: dict[str, Any] | None = None
    offset: int = 0  # move: -1 up, +1 down


@dataclass
class Conflict:
    row_id: str
    column: str | None
    theirs: Any
    mine: Any


@dataclass
class OpsResult:
    rows: list[Row]
    conflicts: list[Conflict] = field(default_factory=list)
    changed: bool = False


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _same(a: Any, b: Any) -> bool:
    return (_empty(a) and _empty(b)) or a == b


def _clean(cells: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (cells or {}).items() if not _empty(v)}


def apply_ops(rows: list[Row] | None, ops: list[TableOp]) -> OpsResult:
    """Apply operations in order; conflicting operations are skipped and reported."""
    result = deepcopy(rows or [])
    conflicts: list[Conflict] = []
    changed = False

    def find(row_id: str) -> int | None:
        for index, row in enumerate(result):
            if row["id"] == row_id:
                return index
        return None

    for op in ops:
        index = find(op.row_id)
        if op.kind == "add":
            if index is None:
                result.append({"id": op.row_id, "cells": _clean(op.cells)})
                changed = True
        elif op.kind == "edit":
            if index is None:
                conflicts.append(Conflict(op.row_id, op.column, None, op.value))
                continue
            cells = result[index].setdefault("cells", {})
            current = cells.get(op.column)
            if _same(current, op.value):
                continue
            if not _same(current, op.old):
                conflicts.append(Conflict(op.row_id, op.column, current, op.value))
                continue
            if _empty(op.value):
                cells.pop(op.column, None)
            else:
                cells[op.column] = op.value
            changed = True
        elif op.kind == "delete":
            if index is None:
                continue
            if _clean(result[index].get("cells")) != _clean(op.old_cells):
                conflicts.append(Conflict(op.row_id, None, result[index].get("cells"), None))
                continue
            del result[index]
            changed = True
        elif op.kind == "move":
            if index is None:
                continue
            target = max(0, min(len(result) - 1, index + op.offset))
            if target != index:
                result.insert(target, result.pop(index))
                changed = True
        else:
            raise ValueError(f"unknown table operation {op.kind!r}")
    return OpsResult(rows=result, conflicts=conflicts, changed=changed)
