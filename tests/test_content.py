"""The plan's own content: the background page, each step's subtitle, "voor wie" and
tool, the step-5 conversation guide, the warning when a record label names a family, the
credit to the source on the printed plan and the yearly report, and what version 2 of the
plan adds to version 1."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from stappenplan.extensions import db
from stappenplan.workflow.definition import PlanDefinition, Question
from stappenplan.workflow.localize import localized
from stappenplan.workflow.plan_loader import get_definition
from stappenplan.worksheets.models import Answer
from tests.factories import driver as _driver
from tests.factories import login

HX = {"HX-Request": "true"}
CREDIT_LINK = '<a href="https://itta.uva.nl/samenwerken" rel="external">itta.uva.nl/samenwerken</a>'
ABOUT = "/over-het-stappenplan"
GUIDE = "/gespreksleidraad"
SUBTITLES = {
    2: "Inventariseer waar je nu staat en wat je ambities zijn",
    5: "Ga in gesprek met ouders over hun behoefte",
    6: "Werk samen vraaggericht en kijk wat werkt",
    8: "Reflecteer en evalueer",
}



def _client(app: Flask, email: str, locale: str | None = None) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    if locale:
        assert client.post("/account/taal", data={"locale": locale}).status_code == 302
    return client


def _items(page: str, css_class: str) -> list[str]:
    """The <li> texts of the list with ``css_class`` (tags stripped)."""
    block = re.search(rf'<(ol|ul) class="{css_class}">(.*?)</\1>', page, re.S)
    assert block, css_class
    return [re.sub(r"<[^>]+>|\s+", " ", li).strip() for li in re.findall(r"<li[^>]*>(.*?)</li>", block.group(2), re.S)]


def _sheet(world, step: int, slot: str) -> str:
    return f"/samenwerkingen/{world.ids['partnership_a']}/stap/{step}/{slot}"


# --------------------------------------------------------------------------- background page


def test_background_page_in_dutch_has_aims_situations_and_credit(app: Flask, world) -> None:
    page = _client(app, world.emails["cc_a"]).get(ABOUT).get_data(as_text=True)
    assert page.count("<h1") == 1 and "<h1 id=\"about-title\">Over het stappenplan</h1>" in page
    aims = _items(page, "about__aims")
    assert len(aims) == 4
    assert "taal" in aims[0] and "educatief thuismilieu" in aims[1] and "samenwerking tussen ouders" in aims[2]
    assert "vertrouwen" in aims[3] and "wat ouders zelf willen leren" in aims[3]
    for heading in ("Educatief partnerschap", "Waarom contact soms moeilijk is", "Van ouder op kind",
                    "Drie uitgangssituaties"):
        assert f">{heading}</h2>" in page
    assert "NT1" in page and "generatie" in page
    situations = _items(page, "about__situations")
    assert [s.split(" Jullie")[0] for s in situations][0].startswith("De kinderopvang zoekt samenwerking")
    assert len(situations) == 3
    for situation in get_definition(1).situations.values():
        assert situation.title in page
    assert "Tel mee met Taal" in page and "Samenwerken met ouders in de kinderopvang" in page and "ITTA" in page
    assert CREDIT_LINK in page
    # The source's reason the library's help matters, and what NT1 means.
    assert "hoge werkdruk" in page and "weinig tijd" in page and "tijd om mee te helpen" not in page
    assert "NT1 betekent: Nederlands als eerste taal" in page and "drempel vaak enorm" in page
    assert "rol als educatief partner" in page
    steps = _items(page, "about__steps")
    assert len(steps) == 8 and SUBTITLES[5] in steps[4]


def test_background_page_in_english(app: Flask, world) -> None:
    page = _client(app, world.emails["lib_a"], "en").get(ABOUT).get_data(as_text=True)
    aims = _items(page, "about__aims")
    assert len(aims) == 4 and "educational home environment" in aims[1] and "trust" in aims[3]
    assert ">Three starting situations</h2>" in page and ">Educational partnership</h2>" in page
    assert len(_items(page, "about__situations")) == 3
    english = localized(get_definition(1), "en")
    for situation in english.situations.values():
        assert situation.title in page
    assert "Tel mee met Taal" in page and 'href="https://itta.uva.nl/samenwerken"' in page
    assert "De vier doelen" not in page and "Drie uitgangssituaties" not in page


def test_background_page_is_public(client: FlaskClient, world) -> None:
    response = client.get(ABOUT)
    assert response.status_code == 200 and "Tel mee met Taal" in response.get_data(as_text=True)


@pytest.mark.parametrize("who", ["lib_a", "cc_a", "coord_a"])
def test_every_start_page_links_to_the_background(app: Flask, world, who: str) -> None:
    page = _client(app, world.emails[who]).get("/start").get_data(as_text=True)
    assert re.search(r'<p class="about-link"><a href="/over-het-stappenplan">', page)


def test_worksheet_and_partnership_pages_link_to_the_background(app: Flask, world) -> None:
    client = _client(app, world.emails["lib_a"])
    sheet = client.get(_sheet(world, 1, "bibliotheek")).get_data(as_text=True)
    assert '<p class="about-link"><a href="/over-het-stappenplan">' in sheet
    overview = client.get(f"/samenwerkingen/{world.ids['partnership_a']}").get_data(as_text=True)
    assert '<a class="about-link" href="/over-het-stappenplan">' in overview


# --------------------------------------------------------------------------- per step


def test_every_step_has_a_tool_and_plain_words_for_whom() -> None:
    defn = get_definition(1)
    assert {s.number: s.subtitle for s in defn.steps if s.subtitle} == SUBTITLES
    for step in defn.steps:
        assert step.tool and step.for_whom_note, step.number
    for number in (1, 2, 3, 4, 6, 7, 8):
        note = defn.step(number).for_whom_note or ""
        assert "preventie" in note and "curatie" in note and "Taalhuis" in note, number
    assert "VVE betekent voor- en vroegschoolse educatie" in (defn.step(8).for_whom_note or "")
    assert "VVE" in defn.step(8).for_whom
    assert "gespreksleidraad" in (defn.step(5).tool or "")
    english = localized(defn, "en")
    assert english.step(5).subtitle == "Talk with parents about what they need"
    assert "prevention" in (english.step(1).for_whom_note or "") and english.step(8).tool != defn.step(8).tool


def test_worksheet_shows_subtitle_for_whom_and_tool(app: Flask, world) -> None:
    with app.app_context():
        _driver(world).own_steps(1, 0)
    client = _client(app, world.emails["lib_a"])
    page = client.get(_sheet(world, 2, "bibliotheek")).get_data(as_text=True)
    assert f'<p class="step-subtitle">{SUBTITLES[2]}</p>' in page
    assert "Het team jeugd &amp; educatie werkt aan preventie" in page and "curatie" in page
    assert "<dt>Handvat</dt><dd>Een werkblad met vragen die elke organisatie voor zichzelf beantwoordt." in page
    english = _client(app, world.emails["cc_a"], "en").get(_sheet(world, 1, "kinderopvang")).get_data(as_text=True)
    assert "<dt>Tool</dt>" in english and "works on prevention" in english and "Handvat" not in english


def test_partnership_page_shows_the_subtitles_quietly(app: Flask, world) -> None:
    page = _client(app, world.emails["cc_a"]).get(f"/samenwerkingen/{world.ids['partnership_a']}")
    body = page.get_data(as_text=True)
    for subtitle in SUBTITLES.values():
        assert f'<p class="step__subtitle">{subtitle}</p>' in body
    assert body.count('class="step__subtitle"') == 4


# --------------------------------------------------------------------------- the conversation guide


def test_guide_has_eight_to_twelve_questions_and_a_print_button(app: Flask, world) -> None:
    page = _client(app, world.emails["cc_a"]).get(GUIDE).get_data(as_text=True)
    questions = _items(page, "guide__questions")
    assert 8 <= len(questions) <= 12
    assert all(q.endswith("?") for q in questions)
    assert '<button type="button" class="btn btn--primary js-only" data-print>Afdrukken</button>' in page
    assert "brengen en halen" in page and "Taalhuis" in page and "Schrijf nooit op:" in page
    assert "namen van ouders of kinderen;" in page
    english = _client(app, world.emails["lib_a"], "en").get(GUIDE).get_data(as_text=True)
    assert len(_items(english, "guide__questions")) == len(questions)
    assert "data-print>Print</button>" in english and "drop-off and pick-up" in english


def test_the_print_styles_and_script_exist(app: Flask) -> None:
    client = app.test_client()
    css = client.get("/static/css/app.css").get_data(as_text=True)
    script = client.get("/static/js/app.js").get_data(as_text=True)
    assert "@media print" in css and ".prose" in css
    assert "[data-print]" in script and "window.print()" in script


def test_step5_worksheet_links_to_the_guide_and_reads_as_conversations(app: Flask, world) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(4)
        d.fill_joint(5)
    page = _client(app, world.emails["cc_a"]).get(_sheet(world, 5, "samen")).get_data(as_text=True)
    assert f'<a href="{GUIDE}" id="guide-link">Open de gespreksleidraad</a>' in page
    assert f'<p class="step-subtitle">{SUBTITLES[5]}</p>' in page
    assert re.search(r"<legend>Gesprek 1(:| |<)", page) and "<legend>Rij 1" not in page
    assert "+ Gesprek toevoegen" in page and "Rij toevoegen" not in page.split('id="field-conversations"')[1]
    other = _client(app, world.emails["lib_a"]).get(_sheet(world, 4, "samen")).get_data(as_text=True)
    assert 'id="guide-link"' not in other


# --------------------------------------------------------------------------- the name/address warning


@pytest.fixture
def step5(world, app: Flask) -> tuple[FlaskClient, str]:
    with app.app_context():
        d = _driver(world)
        d.through(4)
        d.fill_joint(5)
    return _client(app, world.emails["cc_a"]), _sheet(world, 5, "samen")


def _first_row(app: Flask) -> tuple[str, int, str]:
    with app.app_context():
        answer = db.session.scalar(select(Answer).where(Answer.question == "conversations"))
        row = answer.value[0]
        return row["id"], answer.version, row["cells"]["label"]


def _edit_label(client: FlaskClient, url: str, row: str, version: int, old: str, new: str):
    return client.post(f"{url}/vraag/conversations/tabel", headers=HX, data={
        "op": "edit", "row": row, "col": "label", "v-conversations": version,
        f"q-conversations--{row}--label": new, f"o-conversations--{row}--label": f'"{old}"',
    })


def test_a_label_that_looks_like_a_name_is_saved_with_a_warning(app: Flask, step5) -> None:
    client, url = step5
    row, version, old = _first_row(app)
    response = _edit_label(client, url, row, version, old, "Jan de Vries")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Opgeslagen" in body  # not blocked
    warn_id = f"warn-q-conversations--{row}--label"
    assert f'<p id="{warn_id}" hx-swap-oob="innerHTML">' in body and "Dit lijkt op een naam." in body
    assert _first_row(app)[2] == "Jan de Vries"

    page = client.get(url).get_data(as_text=True)
    field = re.search(rf'<input\b[^>]*\bid="q-conversations--{row}--label"[^>]*>', page).group(0)
    assert f'aria-describedby="{warn_id}"' in field
    warning = re.search(rf'<p class="cell__warning" id="{warn_id}" aria-live="polite">(.*?)</p>', page).group(1)
    assert "Dit lijkt op een naam." in warning and "Gezin A" in warning

    # Back to an anonymous label: the warning goes away.
    body = _edit_label(client, url, row, version + 1, "Jan de Vries", "Gezin Z").get_data(as_text=True)
    assert f'<p id="{warn_id}" hx-swap-oob="innerHTML"></p>' in body
    page = client.get(url).get_data(as_text=True)
    assert f'<p class="cell__warning" id="{warn_id}" aria-live="polite"></p>' in page


def test_address_warning_without_javascript_and_in_english(app: Flask, world, step5) -> None:
    client, url = step5
    row, version, old = _first_row(app)
    form = {"v-conversations": version, f"q-conversations--{row}--label": "Dorpsstraat 12, 1234 AB",
            f"o-conversations--{row}--label": f'"{old}"'}
    assert client.post(url, data=form).status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Dit lijkt op een postcode." in page
    english = _client(app, world.emails["cc_a_member"], "en").get(url).get_data(as_text=True)
    assert "This looks like a postcode." in english and "Family A" in english


def test_jargon_is_explained_where_it_appears(app: Flask, world) -> None:
    """'Educatief thuismilieu' (step 1) and 'laagdrempelig' (step 6) are explained in the question itself."""
    from stappenplan.workflow.plan_loader import get_definition

    defn = get_definition(1)
    option = next(o for q in defn.step(1).questions for o in q.options if o.key == "home_environment")
    assert "educatief thuismilieu" in option.label and "voorlezen" in option.label
    invitation = next(q for q in defn.step(6).questions if q.key == "invitation")
    assert "laagdrempelig" in invitation.label and "Laagdrempelig betekent" in (invitation.help or "")
    page = _client(app, world.emails["cc_a"]).get(_sheet(world, 1, "kinderopvang")).get_data(as_text=True)
    assert "wat kinderen thuis leren" in page


# --------------------------------------------------------------------------- credit on paper


def _pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages).split())


def test_the_printed_plan_and_the_yearly_report_credit_the_source(app: Flask, world) -> None:
    plan = _client(app, world.emails["lib_a"]).get(f"/samenwerkingen/{world.ids['partnership_a']}/plan.pdf")
    assert plan.status_code == 200 and plan.mimetype == "application/pdf"
    text = _pdf_text(plan.data)
    assert "Tel mee met Taal" in text and "ITTA" in text and "itta.uva.nl/samenwerken" in text
    coordinator = _client(app, world.emails["coord_a"])
    page = coordinator.get("/regio/jaarverslag").get_data(as_text=True)
    assert '<footer class="plan-credit"><p class="credit">' in page and CREDIT_LINK in page
    report = coordinator.get("/regio/jaarverslag.pdf")
    assert report.status_code == 200
    text = _pdf_text(report.data)
    assert "Tel mee met Taal" in text and "ITTA" in text and "itta.uva.nl/samenwerken" in text


# --------------------------------------------------------------------------- version 2 of the plan


def _question(defn: PlanDefinition, step: int, key: str) -> Question:
    return defn.step(step).question(key)


def test_version_2_gives_the_taalhuis_the_parents_and_the_library_their_places() -> None:
    v1, v2 = get_definition(1), get_definition(2)
    for step, key in ((2, "taalhuis_activities"), (2, "taalhuis_ambitions"), (3, "taalhuis_opportunities")):
        question = _question(v2, step, key)
        assert question.party == "library" and question.type == "text" and not question.required, key
    assert "NT1" in (_question(v2, 1, "parents_language_knowledge").help or "")
    assert "NT2" in (_question(v2, 1, "parents_language_knowledge").help or "")
    assert "educatief partnerschap" in (_question(v2, 4, "parents_role").help or "")
    assert "stap 4" in (_question(v2, 8, "parents_role_evaluation").help or "")
    assert v2.step(5).for_whom.endswith("de bibliotheek kan ondersteunen")
    assert "ondersteunen" in (_question(v2, 5, "library_support").help or "")
    assert "warm over" in _question(v2, 6, "taalhuis_handover").label
    assert "Borging betekent" in (_question(v2, 7, "embedding").help or "")
    # Plain Dutch: VVE at its first use, one pronoun in step 4's goal, the jargon of step 7.
    assert "VVE betekent voor- en vroegschoolse educatie" in v2.situations[3].intro
    assert "voor- en vroegschoolse educatie" in (_question(v2, 3, "existing_cooperation").help or "")
    assert "voor- en vroegschoolse educatie" in (_question(v2, 4, "target_parents").help or "")
    assert " je " not in v2.step(4).goal and " jullie " in v2.step(4).goal
    assert "Een actieschema is een tabel" in (_question(v2, 7, "action_schema").help or "")
    assert "Borgen betekent" in (v2.step(7).tool or "")
    theme = _question(v2, 7, "action_schema").column("theme")
    assert "zorgen dat het blijft" in next(o.label for o in theme.options if o.key == "planning")
    suggestions = _question(v2, 7, "action_schema").suggestions
    assert suggestions is not None
    suggestion = next(s for s in suggestions.items if s.key == "collection_groups")
    assert "wisselcollectie:" in suggestion.label
    reachability = next(o for o in _question(v2, 3, "obstacles").options if o.key == "reachability")
    assert "afstand of reistijd" in reachability.label
    # Version 1 is left as it was: running partnerships are pinned to it.
    assert v1.step(5).for_whom == "Kinderopvang; de bibliotheek ondersteunt"
    assert _question(v1, 6, "taalhuis_route") and _question(v1, 7, "funding")


def test_version_2_in_english_uses_the_glossary_terms() -> None:
    english = localized(get_definition(2), "en")
    texts: list[str] = []
    for step in english.steps:
        texts += [step.title, step.goal, step.for_whom, step.tool or "", step.for_whom_note or ""]
        for question in step.questions:
            texts += [question.label, question.help or "", *(o.label for o in question.options)]
            for column in question.columns:
                texts += [column.label, *(o.label for o in column.options)]
            if question.suggestions:
                texts += [s.label for s in question.suggestions.items]
    text = " ".join(texts)
    for wrong in ("cure", "schema of actions", "securing", "Refer warmly", "cooperation agreement"):
        assert wrong not in text, wrong
    assert "remedial support for adults" in text and "Planning and embedding" in text
    assert "partnership agreement" in text
    assert "hand them over personally" in _question(english, 6, "taalhuis_handover").label
