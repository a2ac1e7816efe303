"""The samenwerkingsplan: page and PDF, who sees what, and a constant number of queries."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update

from stappenplan.audit.models import AuditEvent
from stappenplan.demo_content import JOINT, OWN
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from stappenplan.plan import services as plan_services
from stappenplan.workflow.engine import Action
from stappenplan.workflow.plan_loader import get_definition
from stappenplan.worksheets.models import Answer
from tests.factories import driver as _driver
from tests.factories import login

DEFN = get_definition(1)
STEP_TITLES = [s.title for s in DEFN.steps]
SHARED_GOALS = [row["cells"]["goal"] for row in JOINT[4]["shared_goals"]]  # type: ignore[index]
RESPONSIBILITY = "Boekenkist bijhouden"
ACTION = "Training interactief voorlezen voor alle medewerkers"
EVALUATION = "Halfjaarlijkse terugblik"
RECORDS = ("Gezin A", "Hun dochter zingt")
# The first words of each party's step-1 answer: unique to that party's own worksheet.
LIBRARY_OWN = str(OWN["library"][1]["why"])[:40]
CHILDCARE_OWN = str(OWN["childcare"][1]["why"])[:40]
CHILDCARE_STEP_3 = str(OWN["childcare"][3]["other_value"])[:40]
NOT_SHARED = "<strong>Nog niet gedeeld.</strong>"  # the marker in place of a party's answers



def _client(app: Flask, world, who: str) -> FlaskClient:
    client = app.test_client()
    login(client, world.emails[who])
    return client


def _page(client: FlaskClient, world, query: str = "") -> str:
    response = client.get(f"/samenwerkingen/{world.ids['partnership_a']}/plan{query}")
    assert response.status_code == 200, response.status_code
    return " ".join(response.get_data(as_text=True).split())


def _pdf(client: FlaskClient, world, query: str = "") -> bytes:
    response = client.get(f"/samenwerkingen/{world.ids['partnership_a']}/plan.pdf{query}")
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/pdf"
    assert response.data[:5] == b"%PDF-"
    return response.data


def _pdf_text(data: bytes) -> str:
    """The PDF's text (pdftotext), or - without poppler's pdftotext - a check that it renders."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.pdf"
        path.write_bytes(data)
        if shutil.which("pdftotext"):
            out = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, check=True, text=True)
            return " ".join(out.stdout.split())
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-png", "-r", "30", str(path), str(Path(folder) / "page")], check=True)
            assert list(Path(folder).glob("page*.png")), "the PDF has no pages"
            pytest.skip("pdftotext is not installed: rendered the pages but cannot check their text")
        pytest.skip("poppler-utils (pdftotext / pdftoppm) is not installed")
    raise AssertionError("unreachable")  # pragma: no cover


@pytest.fixture
def finished(world, app: Flask):
    """Partnership A through all eight steps (cycle 1 closed)."""
    with app.app_context():
        _driver(world).through(8)
    return world


# --------------------------------------------------------------------------- content


@pytest.mark.parametrize("who", ["lib_a", "cc_a_member", "coord_a"])
def test_plan_page_shows_every_step_and_the_joint_tables(finished, app: Flask, who: str) -> None:
    html = _page(_client(app, finished, who), finished)
    assert "<h1" in html and "Samenwerkingsplan" in html
    assert "Bibliotheek A" in html and "Opvang A" in html
    assert "De bibliotheek zoekt samenwerking met de kinderopvang" in html  # starting situation
    assert "Ronde 1" in html and "Inhoud" in html and "Doel van deze stap" in html
    for title in STEP_TITLES:
        assert title in html, title
    for text in [*SHARED_GOALS, RESPONSIBILITY, ACTION, EVALUATION]:
        assert text in html, text
    # The anonymous theme counts, for the partners; a coordinator never sees one partnership's.
    assert ("Overzicht van de gesprekken met ouders" in html) is (who != "coord_a")
    for text in RECORDS:
        assert text not in html
    assert "plan.pdf" in html and "Ctrl+P" in html
    assert 'scope="col"' in html and "<caption" in html


def test_parties_see_both_own_steps_once_shared_coordinators_never(finished, app: Flask) -> None:
    for who in ("lib_a", "cc_a"):
        html = _page(_client(app, finished, who), finished)
        assert LIBRARY_OWN in html and CHILDCARE_OWN in html
    html = _page(_client(app, finished, "coord_a"), finished)
    assert LIBRARY_OWN not in html and CHILDCARE_OWN not in html
    # Both shared their own steps with each other: "only the organisation itself" would be untrue.
    assert "Alleen zichtbaar voor de twee organisaties, niet voor de regio." in html
    assert "Alleen zichtbaar voor de organisatie zelf" not in html
    assert NOT_SHARED not in html  # both completed step 3: nothing pending


def test_own_steps_stay_private_until_step_three_is_completed(world, app: Flask) -> None:
    with app.app_context():
        _driver(world).own_steps(library_done=3, childcare_done=2)  # childcare is still in step 3
    partner = _page(_client(app, world, "lib_a"), world)
    assert LIBRARY_OWN in partner  # their own answers
    assert CHILDCARE_OWN not in partner and CHILDCARE_STEP_3 not in partner
    assert NOT_SHARED in partner
    owner = _page(_client(app, world, "cc_a"), world)
    assert CHILDCARE_OWN in owner and LIBRARY_OWN in owner
    assert "Nog niet gedeeld met de bibliotheek" in owner  # their own, marked as not yet shared
    coordinator = _page(_client(app, world, "coord_a"), world)
    assert CHILDCARE_OWN not in coordinator and LIBRARY_OWN not in coordinator
    assert "Deze stap is nog niet open" in coordinator  # joint steps: statuses only
    # The library shared its steps with the childcare, the childcare not yet with the library.
    assert "Alleen zichtbaar voor de twee organisaties, niet voor de regio." in coordinator
    assert "Alleen zichtbaar voor de organisatie zelf." in coordinator


def test_unanswered_questions_are_marked(world, app: Flask) -> None:
    html = _page(_client(app, world, "lib_a"), world)
    assert "Nog niet ingevuld" in html
    assert "Vragen zonder antwoord staan erin met ‘Nog niet ingevuld’" in html


def test_goal_progress_lists_each_shared_goal(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(7)
        d.fill("library", 8, "joint", {"goal_progress": {"goal-1": {"value": 4, "remark": "Goed op weg"}}})
    html = _page(_client(app, world, "coord_a"), world)
    step_8 = html.split('id="stap-8"')[1]
    assert SHARED_GOALS[0] in step_8 and "4 van 5" in step_8 and "Goed op weg" in step_8
    assert SHARED_GOALS[1] not in step_8  # no score for the second goal yet


# --------------------------------------------------------------------------- PDF


def test_pdf_download_contains_the_plan_without_records(finished, app: Flask) -> None:
    client = _client(app, finished, "lib_a")
    response = client.get(f"/samenwerkingen/{finished.ids['partnership_a']}/plan.pdf")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="samenwerkingsplan-bibliotheek-a-opvang-a-ronde-1.pdf"'
    )
    with app.app_context():
        kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.kind == "plan_exported")).all()
        assert kinds == ["plan_exported"]
    text = _pdf_text(_pdf(client, finished))
    assert "Samenwerkingsplan" in text
    for title in STEP_TITLES:
        assert title in text, title
    for text_part in [*SHARED_GOALS, RESPONSIBILITY, ACTION, EVALUATION, LIBRARY_OWN, CHILDCARE_OWN]:
        assert text_part in text, text_part
    for private in RECORDS:
        assert private not in text


def test_pdf_for_coordinator_has_no_own_step_answers(finished, app: Flask) -> None:
    text = _pdf_text(_pdf(_client(app, finished, "coord_a"), finished))
    assert SHARED_GOALS[0] in text
    for private in (*RECORDS, LIBRARY_OWN, CHILDCARE_OWN):
        assert private not in text


def test_pdf_hides_unshared_own_steps_from_the_partner(world, app: Flask) -> None:
    with app.app_context():
        _driver(world).own_steps(library_done=3, childcare_done=2)
    text = _pdf_text(_pdf(_client(app, world, "lib_a"), world))
    assert LIBRARY_OWN in text and "Nog niet gedeeld" in text
    assert CHILDCARE_OWN not in text


# --------------------------------------------------------------------------- access and rounds


@pytest.mark.parametrize("outsider", ["lib_b", "cc_b", "coord_b"])
def test_outsiders_get_404(world, app: Flask, outsider: str) -> None:
    client = _client(app, world, outsider)
    for suffix in ("plan", "plan.pdf"):
        assert client.get(f"/samenwerkingen/{world.ids['partnership_a']}/{suffix}").status_code == 404
    assert client.get("/samenwerkingen/bestaat-niet/plan").status_code == 404


@pytest.mark.parametrize("value", ["abc", "99", "0", "-1", "1.5", "", "9" * 40])
def test_bad_round_falls_back_to_the_current_cycle(world, app: Flask, value: str) -> None:
    client = _client(app, world, "lib_a")
    html = _page(client, world, f"?ronde={value}")
    assert "Ronde 1" in html
    assert ("bestaat niet voor deze samenwerking" in html) == bool(value)  # "?ronde=" alone is no request
    _pdf(client, world, f"?ronde={value}")


def test_an_earlier_round_can_be_opened(finished, app: Flask) -> None:
    with app.app_context():
        d = _driver(finished)
        d.act("library", Action("start_new_cycle"))
        # The new round starts from drafts; change one so the rounds differ.
        d.fill("library", 1, "library", {"why": "Een nieuwe ronde, een nieuw waarom."})
    client = _client(app, finished, "lib_a")
    current = _page(client, finished)
    assert "Ronde 2" in current and "Een nieuwe ronde, een nieuw waarom." in current
    assert "Overgenomen uit de vorige ronde" in current  # carried-over drafts are marked
    earlier = _page(client, finished, "?ronde=1")
    assert "(een eerdere ronde)" in earlier and LIBRARY_OWN in earlier
    assert "Een nieuwe ronde, een nieuw waarom." not in earlier
    assert "plan.pdf?ronde=1" in earlier
    response = client.get(f"/samenwerkingen/{finished.ids['partnership_a']}/plan.pdf?ronde=1")
    assert response.headers["Content-Disposition"].endswith('-ronde-1.pdf"')


def test_partnership_page_links_to_the_plan(world, app: Flask) -> None:
    client = _client(app, world, "coord_a")
    html = client.get(f"/samenwerkingen/{world.ids['partnership_a']}").get_data(as_text=True)
    assert f"/samenwerkingen/{world.ids['partnership_a']}/plan" in html
    assert "Samenwerkingsplan bekijken" in html


# --------------------------------------------------------------------------- services


@contextmanager
def _counting() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _build_queries(world, role: str) -> int:
    db.session.expire_all()
    partnership = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
    with _counting() as statements:
        plan_services.build(partnership, role)
    return len(statements)


def _snapshot(finished) -> None:
    """A first look takes step 5's snapshot (a write, once per change of the conversations)."""
    plan_services.build(db.session.scalar(select(Partnership).where(
        Partnership.public_id == finished.ids["partnership_a"])), "library")
    db.session.commit()


def test_document_needs_a_constant_number_of_queries(finished, app: Flask) -> None:
    with app.app_context():
        _snapshot(finished)
        before = {role: _build_queries(finished, role) for role in ("library", "coordinator")}
        # Many more rows in every table answer must not cost more queries.
        for answer in db.session.scalars(select(Answer)).all():
            if isinstance(answer.value, list) and all(isinstance(row, dict) for row in answer.value):
                rows = [{**row, "id": f"{row['id']}-{i}"} for i in range(40) for row in answer.value]
                db.session.execute(update(Answer).where(Answer.id == answer.id).values(value=rows))
        db.session.commit()
        _snapshot(finished)
        after = {role: _build_queries(finished, role) for role in ("library", "coordinator")}
    assert before == after
    assert max(after.values()) <= 7  # + 1 since step 5's counts are shown from a snapshot


def test_pdf_filename_is_plain_ascii() -> None:
    class Org:
        def __init__(self, name: str) -> None:
            self.name = name

    class FakePartnership:
        library = Org("Bibliotheek Rivierenland – vestiging Tiel")
        childcare = Org("Kinderdagverblijf Zonnestraal & Crèche ’t Überhuis")

    class FakeCycle:
        number = 2

    doc = plan_services.PlanDocument.__new__(plan_services.PlanDocument)
    object.__setattr__(doc, "partnership", FakePartnership())
    object.__setattr__(doc, "cycle", FakeCycle())
    name = plan_services.pdf_filename(doc)
    assert name == (
        "samenwerkingsplan-bibliotheek-rivierenland-vestiging-tiel-"
        "kinderdagverblijf-zonnestraal-creche-t-uberhuis-ronde-2.pdf"
    )
    assert name.isascii()


@pytest.mark.parametrize(("raw", "expected"), [("2", 2), (" 3 ", 3), ("abc", None), ("0", None), ("-1", None),
                                               ("1e3", None), ("9" * 40, None), (None, None)])
def test_parse_round(raw: str | None, expected: int | None) -> None:
    assert plan_services.parse_round(raw) == expected


def test_empty_answers_of_finished_steps_say_not_filled_in(world, app: Flask) -> None:
    """'Nog niet ingevuld' (not yet) only where work is still open; a finished step says 'Niet ingevuld'."""
    from stappenplan.workflow.models import Cycle, StepInstance
    from stappenplan.worksheets.models import Answer

    with app.app_context():
        d = _driver(world)
        d.own_steps(library_done=1, childcare_done=0)
        # One answer of the completed step 1 left empty (an optional question, say).
        instance = db.session.scalar(
            select(StepInstance.id).join(Cycle, Cycle.id == StepInstance.cycle_id)
            .where(Cycle.partnership_id == d.p.id, StepInstance.step == 1, StepInstance.slot == "library"))
        db.session.delete(db.session.scalars(select(Answer).where(Answer.step_instance_id == instance)).first())
        db.session.commit()
    html = _page(_client(app, world, "lib_a"), world)
    finished_step = html.split('id="stap-1"')[1].split('id="stap-2"')[0]
    open_step = html.split('id="stap-2"')[1].split('id="stap-3"')[0]
    library_part = finished_step.split("plan-party__title")[1]  # the library's (completed) slot comes first
    assert "Niet ingevuld" in library_part and "Nog niet ingevuld" not in library_part
    assert "Nog niet ingevuld" in open_step


def test_goal_scores_of_every_round_side_by_side_from_round_two(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(7)
        d.fill_joint(8)
        d.fill("library", 8, "joint", {"goal_progress": {"goal-1": {"value": 2, "remark": ""},
                                                         "goal-2": {"value": 3, "remark": ""}}})
        d.act("library", Action("sign_off", 8, "joint"))
        d.act("childcare", Action("sign_off", 8, "joint"))
    html = _page(_client(app, world, "lib_a"), world)
    assert "De doelen over de rondes" not in html  # one round: nothing to compare
    with app.app_context():
        d = _driver(world)
        d.act("library", Action("start_new_cycle"))
        d.through(7)
        d.fill("library", 8, "joint", {"goal_progress": {"goal-1": {"value": 4, "remark": ""}}})
    for who in ("lib_a", "cc_a", "coord_a"):
        html = _page(_client(app, world, who), world)
        section = html.split('id="rondes-vergeleken"')[1].split("</section>")[0]
        rows = [r for r in section.split("<tr>")[2:]]
        assert "Ronde 1" in section and "Ronde 2" in section, who
        assert SHARED_GOALS[0] in rows[0] and "2 van 5" in rows[0] and "4 van 5" in rows[0], who
        # The second goal has no score in round 2: unknown, not zero.
        assert SHARED_GOALS[1] in rows[1] and "3 van 5" in rows[1] and "geen cijfer" in rows[1], who
        assert "0 van 5" not in section


@pytest.mark.parametrize(("locale", "lang", "title"),
                         [("nl", "nl", "Samenwerkingsplan"), ("en", "en", "Partnership plan")])
def test_pdf_is_tagged_with_title_and_language(world, app: Flask, locale: str, lang: str, title: str) -> None:
    """A screen reader can follow the PDF: tagged (structure tree), marked, titled, in the reader's language."""
    from pypdf import PdfReader
    from pypdf.generic import BooleanObject

    client = _client(app, world, "lib_a")
    if locale != "nl":
        assert client.post("/account/taal", data={"locale": locale}).status_code == 302
    reader = PdfReader(io.BytesIO(_pdf(client, world)))
    root = reader.trailer["/Root"]
    assert root["/MarkInfo"]["/Marked"] == BooleanObject(True)
    assert "/StructTreeRoot" in root and root["/StructTreeRoot"].get_object()["/K"]
    assert str(root["/Lang"]) == lang
    assert root["/ViewerPreferences"]["/DisplayDocTitle"] == BooleanObject(True)
    assert reader.metadata is not None and reader.metadata.title.startswith(f"{title}: Bibliotheek A")


def _column_headings(html: str) -> dict[str, list[str]]:
    """Every table of the plan page with its column headings, by the table's caption."""
    tables: dict[str, list[str]] = {}
    for table in re.findall(r"<table class=\"plan-table[^\"]*\">(.*?)</table>", html):
        caption = re.search(r"<caption[^>]*>(.*?)</caption>", table)
        heads = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th scope=\"col\"[^>]*>(.*?)</th>", table)]
        if caption and heads and "<td" in table:  # a table with rows: the PDF prints them
            tables[re.sub(r"<[^>]+>", "", caption.group(1)).strip()] = heads
    return tables


@pytest.mark.parametrize("who", ["lib_a", "coord_a"])
def test_every_column_of_every_table_reaches_the_pdf(finished, app: Flask, who: str) -> None:
    """The plan PDF cut step 6's table at the page's edge; wide tables are now printed
    stacked. Every column heading of every table with rows on the HTML plan (the steps'
    tables and the practice beside them) is in the PDF's text."""
    client = _client(app, finished, who)
    tables = _column_headings(_page(client, finished))
    assert "Welke activiteiten gaan we doen?" in tables and "Actieschema" in tables
    assert "Praktijk van stap 6" in tables and "Praktijk van stap 7" in tables
    assert len(tables["Welke activiteiten gaan we doen?"]) >= 8
    data = _pdf(client, finished)
    text = _pdf_text(data)
    missing = [f"{caption}: {head}" for caption, heads in tables.items() for head in heads if head not in text]
    assert not missing, missing
    assert "Wat werkte" in text and "Zes ouders kwamen." in text  # practice, beside the plan
    # And nothing is printed past a page's edge (a table too wide for the page was cut off).
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plan.pdf"
        path.write_bytes(data)
        boxes = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, check=True,
                               text=True).stdout
    outside = []
    for width, body in re.findall(r'<page width="([\d.]+)" height="[\d.]+">(.*?)</page>', boxes, re.S):
        outside += [word for right, word in re.findall(r'xMax="([\d.]+)" yMax="[\d.]+">(.*?)</word>', body)
                    if float(right) > float(width)]
    assert not outside, outside[:10]
