"""The progress matrix as CSV and XLSX, for coordinators who report in a spreadsheet.

Both formats come from the same header and rows (``table``), so they never
disagree. Organisation names are typed by users: cells that a spreadsheet would
read as a formula are neutralised (CSV) or stored as plain text (XLSX).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from flask_babel import to_user_timezone
from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ..i18n import gettext as _
from ..workflow import engine
from ..workflow.definition import PlanDefinition
from ..workflow.plan_loader import get_definition
from .services import Row

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_DELIMITER = ";"  # what Excel expects under a Dutch locale
DATETIME_FORMAT = "%Y-%m-%d %H:%M"

Cell = str | datetime


def status_words() -> dict[str | None, str]:
    """Dutch status per status key for spreadsheets (the matrix adds an icon, the
    export only words). Translated once per export: gettext per cell is slow."""
    locked = _("Nog niet open")
    return {engine.COMPLETED: _("Afgerond"), engine.OPEN: _("Open"), engine.LOCKED: locked, None: locked}


def _slot_name(slot: str) -> str:
    return _("bibliotheek") if slot == "library" else _("kinderopvang")


def columns(defn: PlanDefinition) -> list[tuple[int, str]]:
    """(step, slot) per status column: both parties in steps 1-3, one column after."""
    return [(s.number, slot) for s in defn.steps for slot in engine.slots_for(defn, s.number)]


def header(defn: PlanDefinition) -> list[str]:
    status_headers = [
        _("Stap %(n)d", n=step) if slot == engine.JOINT else f"{_('Stap %(n)d', n=step)} {_slot_name(slot)}"
        for step, slot in columns(defn)
    ]
    return [
        _("Vestiging"),
        _("Kinderopvang"),
        _("Uitgangssituatie"),
        _("Ronde"),
        *status_headers,
        _("Laatste activiteit"),
        _("Stilgevallen"),
    ]


def _situation(row: Row) -> str:
    situations = get_definition(row.plan_version).situations
    situation = situations.get(row.situation)
    return situation.title if situation else str(row.situation)


def table(defn: PlanDefinition, rows: list[Row]) -> tuple[list[str], list[list[Cell | int]]]:
    """Header and rows; the last activity stays a datetime (local time, naive)."""
    body: list[list[Cell | int]] = []
    words = status_words()
    yes, no = _("ja"), _("nee")
    cols = columns(defn)
    for row in rows:
        local = to_user_timezone(row.last_activity_at).replace(tzinfo=None)
        body.append(
            [
                row.library_name,
                row.childcare_name,
                _situation(row),
                row.cycle_number,
                *(words[row.status(step, slot)] for step, slot in cols),
                local,
                yes if row.stalled else no,
            ]
        )
    return header(defn), body


def _safe(value: Cell | int) -> str:
    """Text for a CSV cell; a leading formula character gets a quote (CSV injection)."""
    if isinstance(value, datetime):
        return value.strftime(DATETIME_FORMAT)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def to_csv(head: list[str], body: list[list[Cell | int]]) -> bytes:
    """UTF-8 with a byte-order mark so Excel shows accents correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow(head)
    writer.writerows([_safe(value) for value in line] for line in body)
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(head: list[str], body: list[list[Cell | int]], title: str) -> bytes:
    """One sheet with a bold, frozen header row and an autofilter.

    Write-only mode streams the rows (fast for thousands of them); text cells are
    typed as strings explicitly, so a name starting with "=" is never a formula.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    widths = [34, 34, 30, 8] + [14] * (len(head) - 6) + [18, 12]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "C2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(head))}{len(body) + 1}"
    bold = Font(bold=True)
    sheet.append([cell(sheet, value, font=bold) for value in head])
    for line in body:
        sheet.append([cell(sheet, value) for value in line])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def cell(sheet: Any, value: Cell | int, font: Font | None = None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = TYPE_STRING
    elif isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm"
    if font is not None:
        cell.font = font
    return cell
