"""The yearly region report: the figures computed by hand appear the same on the page, in
the PDF's text and in the XLSX cells; one sheet per table; the region's own data only."""

from __future__ import annotations

import io
import re

import openpyxl
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from tests.factories import login
from tests.test_outcomes import LAST_YEAR, TODAY, _prepare

SHEETS = ["Cijfers", "Per vestiging", "Per ronde", "Thema's", "Stappen per vestiging", "Samenwerkingen", "Zo tellen we"]


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_page_pdf_and_xlsx_show_the_same_figures(world, app: Flask) -> None:
    _prepare(app, world)
    coordinator = _client(app, world.emails["coord_a"])
    page = _text(coordinator.get("/regio/jaarverslag").get_data(as_text=True))
    # By hand (tests/test_outcomes.py): this year 1 activity, 10 parents, 12 children, scores 4 and 2.
    assert f"Cijfers van {TODAY.year} Activiteiten gehouden 1 Ouders bereikt 10 Kinderen bereikt 12" in page
    assert "Rondes afgerond 0" in page
    assert "Bibliotheek A Opvang A 1 Stap 8" in page  # partnerships per branch, with their step
    # per branch: how many at each of the eight steps, finished, stalled, in all
    assert "Nu bij stap Afgerond Stilgevallen Totaal 1 2 3 4 5 6 7 8 Bibliotheek A 0 0 0 0 0 0 0 1 0 0 1" in page
    assert "Zo tellen we" in page and "nooit als 0" in page

    response = coordinator.get("/regio/jaarverslag.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "jaarverslag-regio-a-" in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.data))
    pdf = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert "Activiteiten gehouden 1" in pdf and "Ouders bereikt 10" in pdf and "Kinderen bereikt 12" in pdf
    assert "1× cijfer 2, 1× cijfer 4" in pdf
    # The footer of the pages after the cover names the report and its maker, on one line.
    assert len(reader.pages) > 1
    footer = f"Regio A · {TODAY.year} · Jaarverslag · Coördinatie A"
    assert all(footer in " ".join(p.extract_text().split()) for p in reader.pages[1:])
    assert "Opvang A" in pdf and "Zo tellen we" in pdf
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root and root["/Lang"] == "nl"  # tagged, with its language

    response = coordinator.get("/regio/jaarverslag.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert [name.split(" ")[0] if name.startswith("Cijfers") else name for name in book.sheetnames] == SHEETS
    figures = {row[0]: row[1] for row in book[book.sheetnames[0]].iter_rows(min_row=2, values_only=True)}
    assert figures["Activiteiten gehouden"] == 1 and figures["Ouders bereikt"] == 10  # numbers stay numbers
    assert figures["Kinderen bereikt"] == 12 and figures["Cijfer 4"] == 1 and figures["Cijfer 2"] == 1
    assert figures["Cijfer 1 (nog niet begonnen)"] == 0 and figures["Cijfer 5 (helemaal bereikt)"] == 0
    rounds = list(book["Per ronde"].iter_rows(min_row=2, values_only=True))
    assert rounds[0][:6] == (1, 1, 0, 3, "14 (bij 1 activiteit onbekend)", "15 (bij 1 activiteit onbekend)")
    partnerships = list(book["Samenwerkingen"].iter_rows(min_row=2, values_only=True))
    assert partnerships == [("Bibliotheek A", "Opvang A", 1, partnerships[0][3], "nee")]
    assert partnerships[0][3].startswith("Stap 8")
    steps = list(book["Stappen per vestiging"].iter_rows(values_only=True))
    assert steps[0][-3:] == ("Afgerond", "Stilgevallen", "Totaal")
    assert steps[1:] == [("Bibliotheek A", 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1)]


def test_a_big_region_is_counted_on_the_page_and_listed_in_the_xlsx(world, app: Flask) -> None:
    """Above REPORT_LIST_LIMIT partnerships the page and the PDF give the counts per branch
    and step and say where the list is; the XLSX still lists every partnership."""
    _prepare(app, world)
    app.config["REPORT_LIST_LIMIT"] = 0
    coordinator = _client(app, world.emails["coord_a"])
    page = _text(coordinator.get("/regio/jaarverslag").get_data(as_text=True))
    assert "Bibliotheek A 0 0 0 0 0 0 0 1 0 0 1" in page
    assert "De regio heeft 1 samenwerkingen: te veel om hier een voor een te noemen" in page
    assert "De PDF van een grote regio maken duurt even" in page
    assert "Opvang A" not in page
    reader = PdfReader(io.BytesIO(coordinator.get("/regio/jaarverslag.pdf").data))
    pdf = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert "Excel-download" in pdf and "Opvang A" not in pdf
    book = openpyxl.load_workbook(io.BytesIO(coordinator.get("/regio/jaarverslag.xlsx").data))
    assert [row[:2] for row in book["Samenwerkingen"].iter_rows(min_row=2, values_only=True)] == [
        ("Bibliotheek A", "Opvang A")]


def test_an_earlier_year_and_unknown_numbers(world, app: Flask) -> None:
    _prepare(app, world)
    coordinator = _client(app, world.emails["coord_a"])
    page = _text(coordinator.get(f"/regio/jaarverslag?jaar={LAST_YEAR}").get_data(as_text=True))
    assert "Ouders bereikt onbekend" in page and "Kinderen bereikt 3" in page
    book = openpyxl.load_workbook(io.BytesIO(coordinator.get(f"/regio/jaarverslag.xlsx?jaar={LAST_YEAR}").data))
    figures = {row[0]: row[1] for row in book[book.sheetnames[0]].iter_rows(min_row=2, values_only=True)}
    assert figures["Ouders bereikt"] == "onbekend"  # never 0


def test_report_is_the_regions_own(world, app: Flask) -> None:
    _prepare(app, world)
    other = _client(app, world.emails["coord_b"])
    assert "Opvang A" not in other.get("/regio/jaarverslag").get_data(as_text=True)
    book = openpyxl.load_workbook(io.BytesIO(other.get("/regio/jaarverslag.xlsx").data))
    assert all("Opvang A" not in str(cell) for ws in book for row in ws.iter_rows(values_only=True) for cell in row)
    library = _client(app, world.emails["lib_a"])
    for url in ("/regio/jaarverslag", "/regio/jaarverslag.pdf", "/regio/jaarverslag.xlsx"):
        assert library.get(url).status_code in (403, 404)


def test_a_spreadsheet_cell_is_a_number_only_when_every_number_is_known(app: Flask) -> None:
    """No activities: an empty cell, as the page's dash (nothing was counted, which is not 0
    families); a number when every activity had one; an unknown number stays explained in
    words, never counted as 0."""
    from stappenplan.coordination.outcomes import Reach
    from stappenplan.coordination.report import reach_cell

    assert reach_cell(Reach()) is None
    assert reach_cell(Reach(total=12, known=2)) == 12
    with app.test_request_context():
        assert reach_cell(Reach(known=0, unknown=1)) == "onbekend"
