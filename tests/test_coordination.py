"""The coordinator's region overview: scope, matrix, figures, charts, exports, queries."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from html.parser import HTMLParser

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, event, func, select, text, update

from stappenplan import demo, demo_bulk
from stappenplan.accounts.models import User
from stappenplan.audit.models import AuditEvent
from stappenplan.coordination import charts, services
from stappenplan.demo import Driver
from stappenplan.extensions import db, utcnow
from stappenplan.organisations.models import Organisation, RegionMembership
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow import engine
from stappenplan.workflow.engine import Action
from stappenplan.workflow.models import Cycle, SignOff, StepInstance
from stappenplan.workflow.plan_loader import get_definition
from tests.conftest import make_app
from tests.factories import login, make_org, make_partnership, make_user

STATUS_WORDS = re.compile(r"Afgerond|Open|Nog niet")
DEMO_COORDINATOR = "coordinator@demo.stappenplan.nl"

#: Partnerships both organisations work in (one an invitation prepared still waits).
ACTIVE = Partnership.awaiting_org_id.is_(None)


# --------------------------------------------------------------------------- helpers


class _Matrix(HTMLParser):
    """The text of every body row of the matrix table: [row header, cell, cell, ...]."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_matrix = self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and "matrix" in classes:
            self._in_matrix = True
        elif self._in_matrix and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag in {"th", "td"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"th", "td"} and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._in_matrix = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def matrix_rows(html: str) -> list[list[str]]:
    parser = _Matrix()
    parser.feed(html)
    return parser.rows


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _partnership(public_id: str) -> Partnership:
    return db.session.scalar(select(Partnership).where(Partnership.public_id == public_id))


def _client(app: Flask, email: str, password: str | None = None) -> FlaskClient:
    client = app.test_client()
    if password:
        login(client, email, password)
    else:
        login(client, email)
    return client


def _page(client: FlaskClient, url: str = "/regio") -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


@contextmanager
def count_queries(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement sent while the block runs."""
    with app.app_context():
        engine_ = db.engine
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine_, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine_, "before_cursor_execute", listener)


def _second_partnership(app: Flask, world) -> str:
    """Library A with a second childcare partner, at the joint steps (step 4 half approved)."""
    with app.app_context():
        lib_a = db.session.scalar(select(Organisation).where(Organisation.public_id == world.ids["lib_a"]))
        zon = make_org("Kinderopvang Zonnebloem", "childcare")
        zon_admin = make_user(zon, "admin@zonnebloem.nl")
        lib_user = _user(world.emails["lib_a"])
        p = make_partnership(lib_a, zon, lib_user, situation=3)
        db.session.commit()
        d = Driver(p, lib_user, zon_admin)
        d.own_steps(3, 3)
        d.fill_joint(4)
        d.act("library", Action("sign_off", 4, "joint"))
        return p.public_id


def _progress_world_a(app: Flask, world) -> None:
    """Partnership A: library finished steps 1-2, childcare step 1."""
    with app.app_context():
        p = _partnership(world.ids["partnership_a"])
        Driver(p, _user(world.emails["lib_a"]), _user(world.emails["cc_a"])).own_steps(2, 1)


# --------------------------------------------------------------------------- access


def test_dashboard_per_role(world, app: Flask) -> None:
    coordinator = _client(app, world.emails["coord_a"])
    html = _page(coordinator)
    assert "Regio-overzicht" in html and "Opvang A" in html and "Bibliotheek A" in html
    for who in ("lib_a", "lib_a_member", "cc_a", "cc_a_member"):
        client = _client(app, world.emails[who])
        for url in ("/regio", "/regio/export.csv", "/regio/export.xlsx"):
            assert client.get(url).status_code == 403, (who, url)
    anonymous = app.test_client().get("/regio")
    assert anonymous.status_code == 302 and "/inloggen" in anonymous.headers["Location"]


def test_coordinator_of_another_region_sees_nothing_of_region_a(world, app: Flask) -> None:
    client = _client(app, world.emails["coord_b"])
    html = _page(client)
    assert "Opvang A" not in html and "Bibliotheek A" not in html
    assert world.ids["partnership_a"] not in html and world.ids["lib_a"] not in html
    assert "Opvang B" in html
    assert client.get(f"/regio/vestiging/{world.ids['lib_a']}").status_code == 404
    # Naming region A's branch as a filter is ignored, with a message, and shows only region B.
    filtered = _page(client, f"/regio?vestiging={world.ids['lib_a']}")
    assert "hoort niet bij jullie regio" in filtered and "Opvang A" not in filtered
    response = client.get(f"/regio/export.csv?vestiging={world.ids['lib_a']}")
    exported = response.get_data(as_text=True)
    assert "Opvang A" not in exported and "Opvang B" in exported
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset, not two


def test_branch_drill_down(world, app: Flask) -> None:
    _second_partnership(app, world)
    coordinator = _client(app, world.emails["coord_a"])
    html = _page(coordinator, f"/regio/vestiging/{world.ids['lib_a']}")
    assert "Bibliotheek A" in html and "Opvang A" in html and "Kinderopvang Zonnebloem" in html
    assert len(matrix_rows(html)) == 2
    assert 'aria-current="page">Bibliotheek A' in html  # breadcrumb
    assert coordinator.get("/regio/vestiging/onbekend").status_code == 404
    assert coordinator.get(f"/regio/vestiging/{world.ids['lib_b']}").status_code == 404
    assert coordinator.get(f"/regio/vestiging/{world.ids['cc_a']}").status_code == 404  # not a branch
    # The branch's own library users are sent to their own start page; others get a 404.
    own = _client(app, world.emails["lib_a"]).get(f"/regio/vestiging/{world.ids['lib_a']}")
    assert own.status_code == 302 and own.headers["Location"].endswith("/start")
    assert _client(app, world.emails["cc_a"]).get(f"/regio/vestiging/{world.ids['lib_a']}").status_code == 404


def test_opting_out_removes_access_at_once(world, app: Flask) -> None:
    coordinator = _client(app, world.emails["coord_a"])
    assert "Opvang A" in _page(coordinator)
    with app.app_context():
        lib_a = db.session.scalar(select(Organisation.id).where(Organisation.public_id == world.ids["lib_a"]))
        db.session.execute(delete(RegionMembership).where(RegionMembership.library_id == lib_a))
        db.session.commit()
    html = _page(coordinator)
    assert "Opvang A" not in html and "Er doet nog geen vestiging mee" in html
    assert coordinator.get(f"/regio/vestiging/{world.ids['lib_a']}").status_code == 404
    assert "Opvang A" not in coordinator.get("/regio/export.csv").get_data(as_text=True)
    assert coordinator.get(f"/samenwerkingen/{world.ids['partnership_a']}").status_code == 404


def test_region_without_branches_gets_a_helpful_empty_state(app: Flask) -> None:
    with app.app_context():
        coordination = make_org("Coördinatie Leeg", "coordination")
        from stappenplan.organisations.models import Region

        db.session.add(Region(name="Regio Leeg", coordination=coordination))
        make_user(coordination, "coord@leeg.nl")
        lonely = make_org("Coördinatie Zonder Regio", "coordination")
        make_user(lonely, "coord@zonder.nl")
        db.session.commit()
    html = _page(_client(app, "coord@leeg.nl"))
    assert "Er doet nog geen vestiging mee" in html and "Regio Leeg" in html
    assert 'class="table matrix' not in html
    assert "nog geen regio" in _page(_client(app, "coord@zonder.nl"))
    home = _page(_client(app, "coord@leeg.nl"), "/start")
    assert "Naar het regio-overzicht" in home


def test_a_branch_without_partnerships_gets_the_empty_matrix(app: Flask) -> None:
    """A region whose only branch has no partnership yet: the page (an empty page of ids)
    and the branch's drill-down show the empty state, not an error."""
    with app.app_context():
        from stappenplan.organisations.models import Region

        coordination = make_org("Coördinatie Nieuw", "coordination")
        region = Region(name="Regio Nieuw", coordination=coordination)
        branch = make_org("Bibliotheek Nieuw", "library")
        db.session.add(region)
        db.session.flush()
        db.session.add(RegionMembership(region_id=region.id, library_id=branch.id))
        make_user(coordination, "coord@nieuw.nl")
        db.session.commit()
        branch_id = branch.public_id
    client = _client(app, "coord@nieuw.nl")
    for url in ("/regio", "/regio?pagina=3", f"/regio?vestiging={branch_id}", f"/regio/vestiging/{branch_id}"):
        html = _page(client, url)
        assert "Nog geen samenwerkingen" in html and "Bibliotheek Nieuw" in html, url
        assert 'class="table matrix' not in html, url


# --------------------------------------------------------------------------- content


def test_matrix_shows_status_per_party_and_step(world, app: Flask) -> None:
    _progress_world_a(app, world)
    second = _second_partnership(app, world)
    html = _page(_client(app, world.emails["coord_a"]))
    rows = {row[0].split(" Ronde ")[0]: row for row in matrix_rows(html)}
    a = rows["Bibliotheek A – Opvang A"]
    assert len(a) == 9  # name + 8 steps
    assert STATUS_WORDS.findall(a[1]) == ["Afgerond", "Afgerond"]  # step 1: B done, K done
    assert STATUS_WORDS.findall(a[2]) == ["Afgerond", "Open"]  # step 2
    assert STATUS_WORDS.findall(a[3]) == ["Open", "Nog niet"]  # step 3
    assert a[1].startswith("B Bibliotheek: ✓ Afgerond K Kinderopvang: ✓ Afgerond")
    assert a[4] == "– Nog niet"
    z = rows["Bibliotheek A – Kinderopvang Zonnebloem"]
    assert all(STATUS_WORDS.findall(cell) == ["Afgerond", "Afgerond"] for cell in z[1:4])
    assert z[4] == "● Open" and z[5] == "– Nog niet"
    assert f'href="/samenwerkingen/{second}"' in html
    # Never colour alone: every status cell carries an icon and a word.
    assert html.count('class="st__icon"') >= 2 * 11


def test_counts_per_current_step(world, app: Flask) -> None:
    _progress_world_a(app, world)
    _second_partnership(app, world)
    with app.test_request_context():
        coord = db.session.scalar(select(Organisation.id).where(Organisation.name == "Coördinatie A"))
        branches = services.branches_of(coord)
        filters, notices = services.parse_filters({}, branches, services.definition())
        ov = services.overview(coord, branches, filters, notices)
        counts = {c.step: c.count for c in ov.counts}
    # A: furthest open step is library's step 3; the second partnership is at step 4.
    assert counts == {1: 0, 2: 0, 3: 1, 4: 1, 5: 0, 6: 0, 7: 0, 8: 0, services.DONE: 0}
    assert ov.total == 2 and ov.joint_total == 1
    html = _page(_client(app, world.emails["coord_a"]), "/regio?stap=4")
    assert [r[0].split(" Ronde ")[0] for r in matrix_rows(html)] == ["Bibliotheek A – Kinderopvang Zonnebloem"]


def test_counts_and_months_include_finished_rounds(app: Flask) -> None:
    with app.app_context():
        demo.seed()
    html = _page(_client(app, DEMO_COORDINATOR, demo.PASSWORD))
    # The demo has five partnerships; Culemborg + Zonnestraal finished round 1 and is in round 2.
    assert re.search(r"<dt>Samenwerkingen</dt>\s*<dd>5</dd>", html)
    months = re.search(r"Aantal afgeronde stappen per maand: (\d+) in totaal", html)
    assert months and int(months.group(1)) > 10
    with app.app_context():
        completed = db.session.scalar(select(func.count(StepInstance.id)).where(StepInstance.status == "completed"))
    assert int(months.group(1)) == completed


def test_stalled_detection(world, app: Flask) -> None:
    coordinator = _client(app, world.emails["coord_a"])
    assert "Geen enkele samenwerking ligt langer dan 30 dagen stil" in _page(coordinator)

    def set_activity(days: int, closed: bool = False) -> None:
        with app.app_context():
            p = _partnership(world.ids["partnership_a"])
            db.session.execute(
                update(Cycle)
                .where(Cycle.partnership_id == p.id)
                .values(last_activity_at=utcnow() - timedelta(days=days), closed_at=utcnow() if closed else None)
            )
            db.session.commit()

    set_activity(29)
    html = _page(coordinator)
    assert "Stilgevallen" not in matrix_rows(html)[0][0] and "dagen geleden" not in html
    set_activity(31)
    html = _page(coordinator)
    assert "31 dagen geleden" in html and "⚠ Stilgevallen" in matrix_rows(html)[0][0]
    assert len(matrix_rows(_page(coordinator, "/regio?stil=1"))) == 1
    csv_rows = list(
        csv.reader(io.StringIO(coordinator.get("/regio/export.csv").data.decode("utf-8-sig")), delimiter=";")
    )
    assert csv_rows[1][-1] == "ja"
    set_activity(31, closed=True)  # a closed round is finished, not stalled
    assert "Stilgevallen" not in matrix_rows(_page(coordinator))[0][0]
    set_activity(12)
    app.config["STALLED_DAYS"] = 10
    html = _page(coordinator)
    assert "langer dan 10 dagen" in html and "12 dagen geleden" in html


def test_charts_are_accessible_inline_svg_without_inline_styles(world, app: Flask) -> None:
    _progress_world_a(app, world)
    html = _page(_client(app, world.emails["coord_a"]))
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert len(svgs) == 2
    for svg in svgs:
        assert 'role="img"' in svg
        labelled = re.search(r'aria-labelledby="([^"]+)"', svg).group(1).split()
        for ident in labelled:
            assert f'id="{ident}"' in svg
        assert re.search(r"<title id=\"[^\"]+\">\S.+?</title>", svg) and "<desc" in svg
        assert "<script" not in svg.lower()
    assert "Samenwerkingen per huidige stap" in svgs[0] and "stap 3: 1" in svgs[0]
    assert "Afgeronde stappen per maand" in svgs[1]
    # The current month is counted so far, and says so (in the chart and in its table).
    assert ">tot nu</text>" in svgs[1] and "(tot nu): " in svgs[1]
    assert re.search(r'<th scope="row">\w+ \d{4} \(tot nu\)</th>', html)
    # Strict CSP: no inline style attributes or style elements, no inline scripts.
    assert not re.search(r"\sstyle\s*=", html) and "<style" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    # Data next to the charts as tables.
    assert "Aantal samenwerkingen per huidige stap" in html and "Bekijk de cijfers per maand" in html


def test_chart_geometry() -> None:
    assert [charts.nice_max(v) for v in (0, 1, 3, 7, 10, 11, 240)] == [1, 1, 5, 10, 10, 20, 500]
    chart = charts.bar_chart("c", "t", "d", [("a", "", 0), ("b", "", 5), ("c", "", 10)])
    assert [b.height for b in chart.bars][0] == 0
    assert chart.bars[2].y == charts.TOP and chart.bars[1].height == chart.bars[2].height / 2
    assert [t.value for t in chart.ticks] == [0, 2, 4, 6, 8, 10]
    line = charts.line_chart("l", "t", "d", [("jan", "2026", 2), ("feb", "", 0)])
    assert line.polyline.count(",") == 2 and line.area.count(",") == 4


# --------------------------------------------------------------------------- exports


def test_csv_and_xlsx_round_trip_match_the_matrix(world, app: Flask) -> None:
    _progress_world_a(app, world)
    _second_partnership(app, world)
    client = _client(app, world.emails["coord_a"])
    matrix = matrix_rows(_page(client))
    assert len(matrix) == 2

    response = client.get("/regio/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert re.match(
        r'attachment; filename="regio-overzicht-\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"]
    )
    csv_rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))

    response = client.get("/regio/export.xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    xlsx_rows = [list(r) for r in sheet.iter_rows(values_only=True)]

    expected_header = ["Vestiging", "Kinderopvang", "Uitgangssituatie", "Ronde"]
    for step in (1, 2, 3):
        expected_header += [f"Stap {step} bibliotheek", f"Stap {step} kinderopvang"]
    expected_header += [f"Stap {step}" for step in range(4, 9)] + ["Laatste activiteit", "Stilgevallen"]
    assert csv_rows[0] == expected_header and xlsx_rows[0] == expected_header
    assert len(csv_rows) == len(xlsx_rows) == 3

    situations = get_definition(1).situations
    for html_row, csv_row, xlsx_row in zip(matrix, csv_rows[1:], xlsx_rows[1:], strict=True):
        assert html_row[0].startswith(f"{csv_row[0]} – {csv_row[1]}")
        matrix_words = [w for cell in html_row[1:] for w in STATUS_WORDS.findall(cell)]
        csv_words = [w.replace("Nog niet open", "Nog niet") for w in csv_row[4:15]]
        assert matrix_words == csv_words
        assert set(csv_row[4:15]) <= {"Afgerond", "Open", "Nog niet open"}
        assert csv_row[2] in {s.title for s in situations.values()} and csv_row[3] == "1"
        assert csv_row[-1] == "nee" and re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", csv_row[-2])
        # The spreadsheet holds the same values, with a real date and a number for the round.
        assert xlsx_row[:3] == csv_row[:3] and xlsx_row[3] == 1
        assert xlsx_row[4:15] == csv_row[4:15] and xlsx_row[-1] == csv_row[-1]
        assert xlsx_row[-2].strftime("%Y-%m-%d %H:%M") == csv_row[-2]
    with app.app_context():
        exports = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.kind == "coordination.export")).all()
    assert [e["format"] for e in exports] == ["csv", "xlsx"] and exports[0]["rows"] == 2


def test_exports_follow_the_filters_and_neutralise_formulas(world, app: Flask) -> None:
    with app.app_context():
        lib_a = db.session.scalar(select(Organisation).where(Organisation.public_id == world.ids["lib_a"]))
        evil = make_org('=HYPERLINK("http://x")', "childcare")
        make_partnership(lib_a, evil, _user(world.emails["lib_a"]))
        db.session.commit()
    client = _client(app, world.emails["coord_a"])
    text = client.get("/regio/export.csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/regio/export.xlsx").data)).active
    cells = [c for row in sheet.iter_rows() for c in row if str(c.value).startswith("=HYPERLINK")]
    assert cells and all(c.data_type == "s" for c in cells)
    only = list(
        csv.reader(io.StringIO(client.get("/regio/export.csv?zoek=zonne").data.decode("utf-8-sig")), delimiter=";")
    )
    assert len(only) == 1  # header only: nothing matches
    filtered = client.get(f"/regio/export.csv?vestiging={world.ids['lib_a']}")
    assert "bibliotheek_a" in filtered.headers["Content-Disposition"]


# --------------------------------------------------------------------------- paging, filters, queries


def _count(app: Flask, client: FlaskClient, url: str) -> int:
    with count_queries(app) as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(statements)


def test_constant_queries_and_paging_with_5_and_200_partnerships(app: Flask) -> None:
    with app.app_context():
        assert demo_bulk.generate(5) == 5
        tiel = db.session.scalar(select(Organisation.public_id).where(Organisation.name.like("%vestiging Tiel")))
    client = _client(app, DEMO_COORDINATOR, demo.PASSWORD)
    urls = [
        "/start",
        "/regio",
        f"/regio/vestiging/{tiel}",
        "/regio?stap=3&zoek=a&stil=1",
        "/regio/export.csv",
        "/regio/export.xlsx",
        "/regio/resultaten",
        f"/regio/resultaten?vestiging={tiel}",
        "/regio/jaarverslag",
        "/regio/jaarverslag.xlsx",
    ]
    app.config["REPORT_LIST_LIMIT"] = 1000  # the report lists every partnership at 5 and at 205
    for url in urls:
        client.get(url)  # warm up (templates, definitions)
    small = {url: _count(app, client, url) for url in urls}
    with app.app_context():
        demo_bulk.generate(195)
        total = db.session.scalar(select(func.count(Partnership.id)).where(ACTIVE))
    assert total == 205
    large = {url: _count(app, client, url) for url in urls}
    assert small == large, (small, large)
    assert max(large.values()) <= 15
    # Above REPORT_LIST_LIMIT the report's page reads the counts per branch and step, not
    # the list: one statement pair fewer, whatever the number of partnerships.
    app.config["REPORT_LIST_LIMIT"] = 100
    assert _count(app, client, "/regio/jaarverslag") < large["/regio/jaarverslag"]
    app.config["REPORT_LIST_LIMIT"] = 200

    # Paging: 50 per page, bad page numbers never fail.
    first = _page(client)
    assert len(matrix_rows(first)) == 50 and "1–50 van 205 samenwerkingen" in first
    last = _page(client, "/regio?pagina=5")
    assert len(matrix_rows(last)) == 5 and "201–205 van 205" in last and 'aria-current="page"' in last
    assert "201–205 van 205" in _page(client, "/regio?pagina=999")
    for bad in ("abc", "-1", "0", "1e9", "99999999999999999999", ""):
        assert "1–50 van 205" in _page(client, f"/regio?pagina={bad}")
    names = [r[0] for r in matrix_rows(first)] + [r[0] for r in matrix_rows(_page(client, "/regio?pagina=2"))]
    assert len(set(names)) == 100
    # Unknown filter values are ignored with a Dutch message.
    odd = _page(client, "/regio?stap=12&vestiging=nope&zoek=%25_")
    assert "Die stap bestaat niet" in odd and "hoort niet bij jullie regio" in odd
    assert "Geen samenwerkingen gevonden" in odd  # "%_" is searched literally
    # htmx asks for the matrix only.
    partial = client.get("/regio?pagina=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in partial and 'id="matrix"' in partial and len(matrix_rows(partial)) == 50
    restore = client.get("/regio", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_the_cached_matrix_order_pages_exactly_like_the_sorting_query(app: Flask) -> None:
    """Without filters a page's ids come from the order kept with the figures; a name search
    that matches every partnership takes the sorting query: both give the same pages,
    with the cache on, for the region and for one branch."""
    app.config["DASHBOARD_CACHE_SECONDS"] = 30
    with app.app_context():
        demo_bulk.generate(150, seed=5)
        tiel = db.session.scalar(select(Organisation.public_id).where(Organisation.name.like("%vestiging Tiel")))
    client = _client(app, DEMO_COORDINATOR, demo.PASSWORD)
    views = [("/regio?", "/regio?zoek=bibliotheek&"),
             (f"/regio?vestiging={tiel}&", f"/regio?vestiging={tiel}&zoek=bibliotheek&"),
             (f"/regio/vestiging/{tiel}?", f"/regio/vestiging/{tiel}?zoek=bibliotheek&")]
    compared: list[int] = []
    for cached_view, sorted_view in views:
        totals = [re.findall(r"\d+–\d+ van (\d+) samenwerkingen", _page(client, view + "pagina=1"))
                  for view in (cached_view, sorted_view)]
        assert totals[0] == totals[1] and len(totals[0]) == 1, totals  # the search matches every partnership
        pages = -(-int(totals[0][0]) // services.PER_PAGE)
        compared.append(pages)
        for page in range(1, pages + 1):
            assert matrix_rows(_page(client, f"{cached_view}pagina={page}")) == \
                matrix_rows(_page(client, f"{sorted_view}pagina={page}")), (cached_view, page)
    assert compared[0] >= 3 and min(compared) >= 1, compared  # the region spans several pages


def test_the_matrix_page_is_read_with_its_ids_in_the_sql_text(app: Flask) -> None:
    """The unfiltered page's ids are written into the statement, so a prepared statement's
    generic plan (one that does not know them) is never used for it. The statement must
    name each id of the page and send none of them as a parameter."""
    with app.app_context():
        demo_bulk.generate(60, seed=5)
    client = _client(app, DEMO_COORDINATOR, demo.PASSWORD)
    seen: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, parameters: object, *_args: object) -> None:
        if "overview_rows.id IN" in statement:
            seen.append((statement, parameters))

    with app.app_context():
        engine_ = db.engine
    event.listen(engine_, "before_cursor_execute", capture)
    try:
        html = _page(client, "/regio?pagina=2")
    finally:
        event.remove(engine_, "before_cursor_execute", capture)
    assert len(seen) == 1, len(seen)
    statement, parameters = seen[0]
    public_ids = re.findall(r"/samenwerkingen/([\w-]+)\"", html.split('id="matrix"', 1)[1])
    with app.app_context():
        ids = db.session.scalars(select(Partnership.id).where(Partnership.public_id.in_(public_ids))).all()
    assert len(ids) >= 10, len(ids)  # page 2 of the demo's region
    in_list = statement.split("overview_rows.id IN", 1)[1]
    assert all(re.search(rf"\b{i}\b", in_list) for i in ids)
    # The other parameters (step status, cutoff, coordination id, ...) are a handful.
    assert len(parameters) < len(ids), f"ids were sent as parameters: {parameters}"  # type: ignore[arg-type]


def test_the_kept_sums_match_a_count_in_sql_for_every_filter(app: Flask) -> None:
    """The totals a page shows without a name search come from sums kept with the figures
    (per step, per branch, per branch and step). Each combination of branch, step and
    "stalled" must equal SQL's count of the same filter, and the branch table's numbers
    its own counts."""
    with app.app_context():
        demo_bulk.generate(120, seed=11)
        org = db.session.scalar(select(Organisation).where(Organisation.kind == "coordination"))
        assert org is not None and db.session.scalar(select(func.count(Organisation.id)).where(
            Organisation.kind == "coordination")) == 1
        _days, cutoff = services.stalled_cutoff()
        source = services._rows(org.id, cutoff)
        tally = services._Tally.of(services._groups(source))

        def count(filters: services.Filters) -> int:
            return source.read(select(func.count()).select_from(
                services._filtered(source.rows, filters, cutoff).subquery())).scalar()

        branches = services.branches_of(org.id)
        checked = 0
        for branch in [None, *branches]:
            for step in [None, *range(1, services.DONE + 1)]:
                for stalled in (False, True):
                    filters = services.Filters(branch=branch, step=step, query="", stalled=stalled, page=1)
                    in_sql = count(filters)
                    assert tally.matching(branch.id if branch else None, step, stalled) == in_sql, filters
                    checked += in_sql or 0
        assert checked > 120  # the filters matched partnerships, not only empty sets
        for summary in services._branch_summaries(tally, branches):
            own = services.Filters(branch=summary.branch, step=None, query="", stalled=False, page=1)
            done = services.Filters(branch=summary.branch, step=services.DONE, query="", stalled=False, page=1)
            stalled_ = services.Filters(branch=summary.branch, step=None, query="", stalled=True, page=1)
            assert (summary.partnerships, summary.done, summary.stalled) == tuple(
                count(f) for f in (own, done, stalled_))


def test_bulk_data_is_consistent_with_the_engine(app: Flask) -> None:
    with app.app_context():
        demo_bulk.generate(80, seed=3)
        bulk = db.session.scalars(
            select(Cycle)
            .join(Partnership)
            .join(Organisation, Organisation.id == Partnership.library_id)
            .where(Organisation.name.notlike("%Tiel"), Organisation.name.notlike("%Culemborg"))
        ).all()
        assert len({c.partnership_id for c in bulk}) == 80
        assert any(c.number == 2 for c in bulk)
        defn = get_definition(1)
        for cycle in bulk:
            instances = {(i.step, i.slot): i for i in cycle.steps}
            assert len(instances) == 11
            for (step, slot), inst in instances.items():
                assert (inst.completed_at is not None) == (inst.status == engine.COMPLETED)
                assert (inst.opened_at is not None) == (inst.status != engine.LOCKED)
                if inst.status == engine.COMPLETED:
                    assert inst.opened_at <= inst.completed_at <= utcnow()
                if step > 1 and inst.status != engine.LOCKED and defn.step(step).mode == "each":
                    assert instances[(step - 1, slot)].status == engine.COMPLETED
                if step == 4 and inst.status != engine.LOCKED:
                    assert instances[(3, "library")].status == instances[(3, "childcare")].status == "completed"
                signoffs = {s.party for s in inst.signoffs}
                if inst.status == engine.COMPLETED and defn.step(step).mode == "joint":
                    assert signoffs == {"library", "childcare"}
                elif inst.status != engine.OPEN:
                    assert not signoffs
            assert (cycle.closed_at is not None) == all(i.status == "completed" for i in instances.values())
            assert cycle.created_at <= cycle.last_activity_at <= utcnow()
        assert db.session.scalar(select(func.count(SignOff.id))) > 0
        kinds = set(db.session.scalars(select(AuditEvent.kind).distinct()))
        assert {
            "workflow.step_completed",
            "workflow.signed_off",
            "workflow.cycle_closed",
            "workflow.cycle_started",
        } <= kinds
        # Every bulk branch opted in to the demo region; its admin can log in with the demo password.
        assert db.session.scalar(select(func.count(RegionMembership.id))) == 2 + 4
    _client(app, "bulk-bieb-0@demo.stappenplan.nl", demo.PASSWORD)


def test_seed_demo_cli_adds_bulk_partnerships(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["seed-demo", "--partnerships", "30"])
    assert result.exit_code == 0, result.output
    assert "30" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Partnership.id)).where(ACTIVE)) == 5 + 30
    again = app.test_cli_runner().invoke(args=["seed-demo"])
    assert again.exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(Partnership.id)).where(ACTIVE)) == 35


@pytest.mark.postgres
def test_seed_demo_cli_gives_bulk_data_planner_statistics(app: Flask) -> None:
    """On PostgreSQL the bulk partnerships are analysed at once: the planner's row count
    for the table is the real one, not unknown (-1) until autovacuum gets to it."""
    result = app.test_cli_runner().invoke(args=["seed-demo", "--partnerships", "23"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Partnership.id)).where(ACTIVE)) == 5 + 23
        rows = db.session.scalar(select(func.count(Partnership.id)))  # with the one the demo's invitation prepared
        assert db.session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'partnerships'")) == rows


# --------------------------------------------------------------------------- what coordinators must not see


def test_coordinator_sees_no_private_worksheets_records_or_edit_buttons(app: Flask) -> None:
    with app.app_context():
        demo.seed()
        through_six = db.session.scalar(
            select(Partnership.public_id)
            .join(Organisation, Organisation.id == Partnership.childcare_id)
            .where(Organisation.name == "Peuteropvang Hummeltje")
        )
    client = _client(app, DEMO_COORDINATOR, demo.PASSWORD)
    for slot in ("bibliotheek", "kinderopvang"):
        for step in (1, 2, 3):
            assert client.get(f"/samenwerkingen/{through_six}/stap/{step}/{slot}").status_code == 404
    step5 = _page(client, f"/samenwerkingen/{through_six}/stap/5/samen")
    assert "Gezin A" not in step5 and "Hun dochter zingt" not in step5
    # Nothing on a worksheet speaks to the coordinator as if they were a partner: not step 4's
    # "Boven dit werkblad staan de antwoorden…" (not shown to them), nor "Je bent de enige".
    step4 = _page(client, f"/samenwerkingen/{through_six}/stap/4/samen")
    assert "Boven dit werkblad staan de antwoorden" not in step4 and "Je bent de enige" not in step4
    assert "Je kijkt mee als regionale ondersteuning" in step4
    partner = _page(_client(app, "hummeltje@demo.stappenplan.nl", demo.PASSWORD),
                    f"/samenwerkingen/{through_six}/stap/4/samen")
    assert "Boven dit werkblad staan de antwoorden" in partner
    # The childcare organisation itself does see its records (so the check above means something).
    assert "Gezin A" in _page(
        _client(app, "hummeltje@demo.stappenplan.nl", demo.PASSWORD), f"/samenwerkingen/{through_six}/stap/5/samen"
    )
    for url in ("/regio", f"/samenwerkingen/{through_six}"):
        html = _page(client, url)
        assert len(re.findall(r'<form[^>]*method="post"', html, flags=re.I)) == 1  # only "Uitloggen"
        for label in ("Goedkeuren", "Stap afronden", "Heropenen", "Opslaan"):
            assert f">{label}<" not in html
    assert (
        client.post(f"/samenwerkingen/{through_six}/actie", data={"kind": "sign_off", "step": "7"}).status_code == 404
    )


def test_coordinator_home_links_to_the_overview(world, app: Flask) -> None:
    html = _page(_client(app, world.emails["coord_a"]), "/start")
    assert 'href="/regio"' in html and "Naar het regio-overzicht" in html
    assert "1 samenwerking" in html and "1 vestiging" in html


def test_the_coordinators_start_page_counts_in_sql_and_loads_only_the_newest(app: Flask) -> None:
    """A region may hold thousands of partnerships: the start page names the newest ten and
    counts the rest, instead of loading every one of them to count it."""
    with app.app_context():
        demo_bulk.generate(25, seed=4)
        total, branches = db.session.execute(select(
            func.count(Partnership.id), func.count(func.distinct(Partnership.library_id))).where(ACTIVE)).one()
        newest = [f"{p.library.name} + {p.childcare.name}" for p in db.session.scalars(
            select(Partnership).where(ACTIVE).order_by(Partnership.created_at.desc(), Partnership.id.desc()).limit(10))]
    client = _client(app, DEMO_COORDINATOR, demo.PASSWORD)
    client.get("/start")  # warm up
    loaded: list[int] = []

    def on_load(target: Partnership, _context: object) -> None:
        loaded.append(target.id)

    event.listen(Partnership, "load", on_load)
    try:
        html = _page(client, "/start")
    finally:
        event.remove(Partnership, "load", on_load)
    assert len(loaded) == 10, "only the ten partnerships the page names are loaded"
    assert f"{total} samenwerkingen · {branches} vestigingen" in " ".join(html.split())
    titles = re.findall(r'<span class="plist__title">([^<]+)</span>', html)
    assert titles == newest
    assert "Nieuwste samenwerkingen" in html
    assert f"Bekijk alle {total} samenwerkingen in het regio-overzicht" in html


def test_region_figures_are_kept_for_a_short_time_and_the_matrix_stays_live(world, app: Flask, monkeypatch) -> None:
    app.config["DASHBOARD_CACHE_SECONDS"] = 30
    coordinator = _client(app, world.emails["coord_a"])
    first = _count(app, coordinator, "/regio")
    again = _count(app, coordinator, "/regio")
    assert again == first - 4, "the counts, the stalled list, the months and the matrix order come from the cache"
    html = _page(coordinator)
    assert "?stap=1#matrix" in html  # partnership A is at step 1
    _progress_world_a(app, world)  # A moves on to step 3: no partnership came or went
    html = _page(coordinator)
    row = next(r for r in matrix_rows(html) if r[0].startswith("Bibliotheek A – Opvang A"))
    assert STATUS_WORDS.findall(row[1]) == ["Afgerond", "Afgerond"], "the matrix rows are read live"
    assert "?stap=1#matrix" in html and "?stap=3#matrix" not in html, "the counts are at most 30 s old"
    later = services.time.monotonic() + 31
    monkeypatch.setattr(services.time, "monotonic", lambda: later)
    html = _page(coordinator)
    assert "?stap=3#matrix" in html and "?stap=1#matrix" not in html
    _second_partnership(app, world)  # a new partnership raises the region's version
    html = _page(coordinator)
    assert any("Kinderopvang Zonnebloem" in row[0] for row in matrix_rows(html)), "in the matrix at once"
    assert re.search(r"<dt>Samenwerkingen</dt>\s*<dd>2</dd>", html), "and in the figures"
    other = _client(app, world.emails["coord_b"])
    assert "Opvang A" not in _page(other), "each coordination organisation has its own figures"


def test_the_reports_figures_are_kept_like_the_dashboards(world, app: Flask, monkeypatch) -> None:
    app.config["DASHBOARD_CACHE_SECONDS"] = 30
    coordinator = _client(app, world.emails["coord_a"])
    first = _count(app, coordinator, "/regio/jaarverslag")
    assert _count(app, coordinator, "/regio/jaarverslag") < first, "outcomes, themes and steps come from the cache"

    def text() -> str:
        return " ".join(re.sub(r"<[^>]+>", " ", _page(coordinator, "/regio/jaarverslag")).split())

    assert re.search(r"Bibliotheek A 1( \d+){9} 1 ", text())  # A is at step 1
    _progress_world_a(app, world)  # A moves on to step 3: no partnership came or went
    assert re.search(r"Bibliotheek A 1( \d+){9} 1 ", text()), "the figures are at most 30 s old"
    later = services.time.monotonic() + 31
    monkeypatch.setattr(services.time, "monotonic", lambda: later)
    assert re.search(r"Bibliotheek A 0 0 1( \d+){7} 1 ", text())
    _second_partnership(app, world)  # a new partnership raises the region's version
    html = _page(coordinator, "/regio/jaarverslag")
    assert "Kinderopvang Zonnebloem" in html, "the list is read live"
    assert re.search(r"Bibliotheek A( \d+){10} 2 ", " ".join(re.sub(r"<[^>]+>", " ", html).split())), \
        "two partnerships at once"


def _figures(html: str) -> int:
    match = re.search(r"<dt>Samenwerkingen</dt>\s*<dd>(\d+)</dd>", html)
    assert match, html[:2000]
    return int(match.group(1))


def test_opting_out_leaves_the_cached_dashboard_at_once_in_every_process(world, app: Flask) -> None:
    """The figures are cached per process, keyed on the region's version: an opt-out bumps
    it in the same transaction, so no process shows the branch's name or figures again."""
    from stappenplan.organisations.models import Region

    app.config["DASHBOARD_CACHE_SECONDS"] = 30
    other = make_app(DASHBOARD_CACHE_SECONDS=30)  # a second worker with its own cache
    with app.app_context():
        region_a = db.session.scalar(select(Region).where(Region.public_id == world.ids["region_a"]))
        cederhout = make_org("Bibliotheek Cederhout", "library")
        admin = make_user(cederhout, "admin@bieb-cederhout.nl")
        wilg = make_org("Opvang De Wilg", "childcare")
        make_user(wilg, "admin@dewilg.nl")
        db.session.add(RegionMembership(region=region_a, library=cederhout))
        p = make_partnership(cederhout, wilg, admin)
        db.session.flush()
        db.session.execute(update(Cycle).where(Cycle.partnership_id == p.id)
                           .values(last_activity_at=utcnow() - timedelta(days=60)))  # in the stalled list
        db.session.commit()
    workers = [_client(app, world.emails["coord_a"]), _client(other, world.emails["coord_a"])]
    for coordinator in workers:
        html = _page(coordinator)
        assert "Cederhout" in html and "De Wilg" in html and _figures(html) == 2
        assert "Cederhout" in _page(coordinator, "/regio/jaarverslag")  # the report's figures are cached too
    branch = _client(app, "admin@bieb-cederhout.nl")
    assert branch.post("/organisatie/regio/afmelden").status_code == 302
    for coordinator in workers:
        html = _page(coordinator)
        assert "Cederhout" not in html and "De Wilg" not in html, "no name of the branch or its partners"
        assert _figures(html) == 1, "no figures of the branch"
        report = _page(coordinator, "/regio/jaarverslag")
        assert "Cederhout" not in report and "De Wilg" not in report
    assert branch.post("/organisatie/regio", data={"region": world.ids["region_a"]}).status_code == 302
    for coordinator in workers:
        html = _page(coordinator)
        assert "Cederhout" not in html and _figures(html) == 1, "a request alone shows nothing of the branch"
    from stappenplan.organisations.models import RegionRequest

    with app.app_context():
        request_id = db.session.scalar(select(RegionRequest.public_id).where(RegionRequest.status == "pending"))
    assert workers[1].post(f"/regio/aanvragen/{request_id}/aannemen").status_code == 302
    for coordinator in workers:
        html = _page(coordinator)
        assert "Cederhout" in html and _figures(html) == 2, "an accepted request shows at once too"
    with other.app_context():
        db.engine.dispose()


def test_a_deleted_partner_leaves_the_cached_dashboard_at_once(world, app: Flask) -> None:
    app.config["DASHBOARD_CACHE_SECONDS"] = 30
    with app.app_context():
        db.session.execute(update(Cycle).values(last_activity_at=utcnow() - timedelta(days=60)))  # stalled list
        db.session.commit()
    coordinator = _client(app, world.emails["coord_a"])
    html = _page(coordinator)
    assert "Opvang A" in html and _figures(html) == 1
    partner = _client(app, world.emails["cc_a"])
    assert partner.post("/organisatie/verwijderen", data={"confirm": "Opvang A"}).status_code == 302
    html = _page(coordinator)
    assert "Opvang A" not in html
    assert _figures(html) == 0


def test_a_fragment_is_rendered_once_per_distinct_input_and_language(app: Flask, monkeypatch) -> None:
    """templating.fragment keys on its whole input: the same input gives the kept HTML, any
    other value (or language) renders anew, and the cache stays bounded."""
    from stappenplan import i18n
    from stappenplan.core import templating

    rendered: list[dict] = []
    real = templating.render_template

    def counting(template: str, **context: object) -> str:
        rendered.append(context)
        return real(template, **context)

    monkeypatch.setattr(templating, "render_template", counting)
    monkeypatch.setitem(app.config, "FRAGMENT_VERIFY", False)  # counts renders: no second render per hit
    lib = services.Branch(1, "pub1", "Bibliotheek <Tiel>", "Regio A")
    rows = (services.BranchSummary(lib, 3, 1, 0),)
    with app.test_request_context("/"):
        app.extensions.pop("fragments", None)
        args = {"summaries": rows, "multi_region": True, "branch_url": "/regio/vestiging/BRANCH"}
        first = templating.fragment("coordination/_branch_rows.html", **args)
        assert templating.fragment("coordination/_branch_rows.html", **args) is first and len(rendered) == 1
        assert 'href="/regio/vestiging/pub1">Bibliotheek &lt;Tiel&gt;</a>' in first and "Regio A" in first
        changed = templating.fragment("coordination/_branch_rows.html",
                                      **{**args, "summaries": (services.BranchSummary(lib, 4, 1, 0),)})
        assert len(rendered) == 2 and '<td class="num">4</td>' in changed
        with i18n.force_locale("en"):
            templating.fragment("coordination/_branch_rows.html", **args)
        assert len(rendered) == 3, "each language has its own entry"
        for n in range(templating.FRAGMENT_CACHE_SIZE + 5):
            templating.fragment("coordination/_branch_rows.html", **{**args, "branch_url": f"/x/{n}/BRANCH"})
        assert len(app.extensions["fragments"]["coordination/_branch_rows.html"]) <= templating.FRAGMENT_CACHE_SIZE
        templating.fragment("coordination/_branch_options.html", branches=())
        for n in range(templating.FRAGMENT_CACHE_SIZE + 5):
            templating.fragment("coordination/_branch_rows.html", **{**args, "branch_url": f"/y/{n}/BRANCH"})
        assert len(app.extensions["fragments"]["coordination/_branch_options.html"]) == 1, \
            "another template's entries do not push it out"


def test_verify_mode_catches_a_fragment_whose_key_misses_an_input(app: Flask, monkeypatch) -> None:
    """The test suite runs with FRAGMENT_VERIFY: a kept fragment that differs from rendering
    it now (its template read something not in its key) fails the request."""
    from stappenplan.core import templating

    outputs = iter(["<p>one</p>", "<p>two</p>", "<p>two</p>"])
    monkeypatch.setattr(templating, "render_template", lambda template, **context: next(outputs))
    assert app.config["FRAGMENT_VERIFY"]
    with app.test_request_context("/"):
        app.extensions.pop("fragments", None)
        assert templating.fragment("coordination/_branch_rows.html", summaries=()) == "<p>one</p>"
        with pytest.raises(templating.FragmentKeyError):
            templating.fragment("coordination/_branch_rows.html", summaries=())


def test_the_branch_table_follows_the_figures_with_its_rows_kept(world, app: Flask) -> None:
    """The dashboard's branch rows and its key figures with the charts come from
    templating.fragment: a new partnership (a new region version, new figures) shows in
    them at once; a repeat request reuses them."""
    app.config["DASHBOARD_CACHE_SECONDS"] = 30
    coordinator = _client(app, world.emails["coord_a"])

    def branch_row(html: str) -> str:
        found = re.search(r'<th scope="row"><a href="/regio/vestiging/[^"]+">Bibliotheek A</a></th>(.*?)</tr>',
                          html, re.S)
        assert found, html[:3000]
        return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())

    def partnerships_figure(html: str) -> str:
        found = re.search(r"<dt>Samenwerkingen</dt>\s*<dd>(\d+)</dd>", html)
        assert found, html[:3000]
        return found.group(1)

    app.extensions.pop("fragments", None)
    first = _page(coordinator)
    assert branch_row(first).startswith("1 ") and partnerships_figure(first) == "1"
    assert _kept(app, "coordination/_branch_rows.html") == 1 and _kept(app, "coordination/_figures.html") == 1
    _page(coordinator)
    assert _kept(app, "coordination/_branch_rows.html") == 1, "the same figures: the kept rows"
    assert _kept(app, "coordination/_figures.html") == 1, "the same figures: the kept figures and charts"
    _second_partnership(app, world)
    after = _page(coordinator)
    assert branch_row(after).startswith("2 ") and partnerships_figure(after) == "2"


def _kept(app: Flask, template: str) -> int:
    """How many rendered copies of ``template`` templating.fragment keeps."""
    return len(app.extensions.get("fragments", {}).get(template, {}))


def test_the_matrix_rows_are_kept_per_distinct_rows_and_follow_every_change(world, app: Flask) -> None:
    """The matrix rows are read live and rendered once per distinct rows (``services.Line``
    holds all that a row shows): a repeat request reuses them, a step completed in one
    partnership shows at once, in both languages."""
    app.config["DASHBOARD_CACHE_SECONDS"] = 30
    coordinator = _client(app, world.emails["coord_a"])
    app.extensions.pop("fragments", None)

    def step_one(html: str) -> str:
        row = re.search(r'<tr[^>]*>\s*<th scope="row" class="matrix__name">.*?</tr>', html, re.S)
        assert row, html[:2000]
        cell = re.findall(r'<td class="matrix__cell[^"]*">(.*?)</td>', row.group(0), re.S)[0]
        return " ".join(re.sub(r"<[^>]+>", " ", cell).split())

    first = step_one(_page(coordinator))
    assert "Afgerond" not in first
    assert _kept(app, "coordination/_matrix_rows.html") == 1
    assert step_one(_page(coordinator)) == first
    assert _kept(app, "coordination/_matrix_rows.html") == 1, "the same rows: the kept HTML"
    with app.app_context():
        p = _partnership(world.ids["partnership_a"])
        Driver(p, _user(world.emails["lib_a"]), _user(world.emails["cc_a"])).own_steps(1, 1)
        db.session.commit()
    changed = _page(coordinator)
    assert step_one(changed) == "B Bibliotheek: ✓ Afgerond K Kinderopvang: ✓ Afgerond"
    assert _kept(app, "coordination/_matrix_rows.html") == 2
    coordinator.post("/account/taal", data={"locale": "en"})
    assert "Library: ✓ Completed" in step_one(_page(coordinator))


def test_the_branch_filter_marks_the_chosen_branch_in_the_kept_options(app: Flask) -> None:
    """The branch filter's options are one fragment per branch list; each page marks its
    own chosen branch (and only that one) in it, and choosing adds no cache entry."""
    with app.app_context():
        demo_bulk.generate(30, seed=2)
        org = db.session.scalar(select(Organisation).where(Organisation.kind == "coordination"))
        assert org is not None
        branches = services.branches_of(org.id)
    assert len(branches) >= 3
    client = _client(app, DEMO_COORDINATOR, demo.PASSWORD)
    app.extensions.pop("fragments", None)

    def options(url: str) -> list[tuple[str, bool, str]]:
        select_html = re.search(r'<select id="f-branch" name="vestiging">(.*?)</select>', _page(client, url), re.S)
        assert select_html
        return [(value, bool(chosen), name) for value, chosen, name in
                re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select_html.group(1))]

    unfiltered = options("/regio")
    assert unfiltered == [("", False, "Alle vestigingen")] + [(b.public_id, False, b.name) for b in branches]
    entries = _kept(app, "coordination/_branch_options.html")
    for branch in (branches[0], branches[-1], branches[1]):
        marked = options(f"/regio?vestiging={branch.public_id}")
        assert [value for value, chosen, _name in marked if chosen] == [branch.public_id]
        assert [(v, n) for v, _c, n in marked] == [(v, n) for v, _c, n in unfiltered]
    assert _kept(app, "coordination/_branch_options.html") == entries, "a chosen branch is marked, not cached apart"
    assert not any(chosen for _v, chosen, _n in options("/regio"))
