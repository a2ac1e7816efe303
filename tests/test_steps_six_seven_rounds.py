"""Steps 6 and 7 and the next round: needs from step 5's themes, step 7's suggested
actions, and the lessons of step 8 at the start of round 2. (What happened with the
activities and actions is practice: tests/test_practice.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow import services as workflow
from stappenplan.workflow.definition import WORKING_TOGETHER, DefinitionError
from stappenplan.workflow.engine import Action
from stappenplan.workflow.localize import localized
from stappenplan.workflow.plan_loader import PLANS_DIR, get_definition, load_definition
from stappenplan.worksheets.models import Answer
from tests.factories import PASSWORD, build_world, login
from tests.factories import driver as _driver

HX = {"HX-Request": "true"}



def _url(world, step: int, slot: str) -> str:
    return f"/samenwerkingen/{world.ids['partnership_a']}/stap/{step}/{slot}"


def _client(app: Flask, world, who: str = "lib_a") -> FlaskClient:
    client = app.test_client()
    login(client, world.emails[who])
    return client


def _rows(app: Flask, key: str) -> list[dict]:
    with app.app_context():
        return db.session.scalar(select(Answer.value).where(Answer.question == key).order_by(Answer.id.desc())) or []


# --------------------------------------------------------------------------- step 6: needs


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_step_six_needs_are_the_step_five_themes(locale: str) -> None:
    defn = localized(get_definition(1), locale)
    needs = defn.step(6).question("activities").column("needs")
    themes = defn.step(5).question("conversations").column("support_wishes")
    assert needs.type == "multi"
    assert needs.options == themes.options and len(needs.options) >= 5
    if locale == "en":
        assert dict((o.key, o.label) for o in needs.options)["reading_aloud"] == "Reading aloud"


def test_needs_option_change_in_step_five_reaches_step_six(tmp_path: Path) -> None:
    text = (PLANS_DIR / "v1.yaml").read_text(encoding="utf-8")
    changed = text.replace("label: Digitale vaardigheden", "label: Werken met computers")
    (tmp_path / "v1.yaml").write_text(changed, encoding="utf-8")
    needs = load_definition(tmp_path / "v1.yaml").step(6).question("activities").column("needs")
    assert "Werken met computers" in [o.label for o in needs.options]


def test_options_from_an_unknown_column_fails_at_load(tmp_path: Path) -> None:
    text = (PLANS_DIR / "v1.yaml").read_text(encoding="utf-8")
    broken = text.replace("column: support_wishes", "column: no_such_column")
    (tmp_path / "v1.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(DefinitionError, match="options_from"):
        load_definition(tmp_path / "v1.yaml")


def test_step_six_page_offers_the_themes_and_keeps_old_free_text_needs(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(5)
        # A row as stored before the themes were offered: the need only as free text.
        d.fill("library", 6, "joint", {"activities": [
            {"id": "old1", "cells": {"activity": "Voorleesochtend", "need": "Voorlezen leren (oud antwoord)"}}]})
    html = _client(app, world).get(_url(world, 6, "samen")).get_data(as_text=True)
    boxes = re.findall(r'name="q-activities--old1--needs" value="([a-z_]+)"', html)
    themes = get_definition(1).step(5).question("conversations").column("support_wishes").options
    assert boxes == [o.key for o in themes]
    assert "Voorlezen leren (oud antwoord)" in html
    assert "Een andere behoefte, in je eigen woorden" in html
    # Picking two themes is saved like any cell.
    client = _client(app, world)
    response = client.post(_url(world, 6, "samen") + "/vraag/activities/tabel", headers=HX, data={
        "op": "edit", "row": "old1", "col": "needs", "q-activities--old1--needs": ["reading_aloud", "upbringing"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    cells = _rows(app, "activities")[0]["cells"]
    assert cells["needs"] == ["reading_aloud", "upbringing"] and cells["need"] == "Voorlezen leren (oud antwoord)"
    plan = client.get(f"/samenwerkingen/{world.ids['partnership_a']}/plan").get_data(as_text=True)
    assert "Voorlezen leren (oud antwoord)" in plan and "Opvoeding" in plan


# --------------------------------------------------------------------------- step 7: suggestions


def test_step_seven_has_grouped_suggestions() -> None:
    for locale in ("nl", "en"):
        suggestions = localized(get_definition(1), locale).step(7).question("action_schema").suggestions
        assert suggestions is not None and 15 <= len(suggestions.items) <= 20
        assert suggestions.groups() == ["policy", "staff_training", "parent_policy", "collection", "communication",
                                        "planning"]


def test_suggestion_is_added_once_and_then_editable(world, app: Flask) -> None:
    with app.app_context():
        _driver(world).through(6)
    client = _client(app, world)
    page = client.get(_url(world, 7, "samen")).get_data(as_text=True)
    assert "Acties waaraan je kunt denken" in page and page.count('name="suggestion"') >= 15
    assert page.count('class="suggestion__form" method="post"') == page.count('name="suggestion"')
    target = _url(world, 7, "samen") + "/vraag/action_schema/suggestie"
    response = client.post(target, headers=HX, data={"suggestion": "collection_groups"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'id="add-collection_groups" href="#row-action_schema-s-collection_groups">Toegevoegd' in body
    assert 'id="field-action_schema"' in body and "hx-swap-oob" in body
    before = len(_rows(app, "action_schema"))
    again = client.post(target, headers=HX, data={"suggestion": "collection_groups"})
    assert again.status_code == 200 and "staat al in het actieschema" in again.get_data(as_text=True)
    rows = _rows(app, "action_schema")
    added = [r for r in rows if r["id"] == "s-collection_groups"]
    assert len(rows) == before and len(added) == 1
    assert added[0]["cells"] == {"action": "Zet op elke groep een wisselcollectie: prentenboeken van de bibliotheek "
                                           "die na een tijd worden omgeruild voor andere.", "theme": "collection"}
    # An ordinary row: edit a cell like any other.
    edit = client.post(_url(world, 7, "samen") + "/vraag/action_schema/tabel", headers=HX, data={
        "op": "edit", "row": "s-collection_groups", "col": "who", "q-action_schema--s-collection_groups--who": "Anna"})
    assert edit.status_code == 200
    assert next(r for r in _rows(app, "action_schema") if r["id"] == "s-collection_groups")["cells"]["who"] == "Anna"
    page = client.get(_url(world, 7, "samen")).get_data(as_text=True)
    assert 'id="row-action_schema-s-collection_groups"' in page
    assert 'value="collection_groups"' not in page  # no button any more: shown as added
    assert 'href="#row-action_schema-s-collection_groups">Toegevoegd' in page


def test_suggestion_without_javascript_and_bad_input(world, app: Flask) -> None:
    with app.app_context():
        _driver(world).through(6)
    client = _client(app, world, "cc_a")
    target = _url(world, 7, "samen") + "/vraag/action_schema/suggestie"
    response = client.post(target, data={"suggestion": "planning_contacts"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#vraag-action_schema")
    assert any(r["id"] == "s-planning_contacts" for r in _rows(app, "action_schema"))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Toegevoegd aan het actieschema" in page
    bad = client.post(target, headers=HX, data={"suggestion": "no_such_action"})
    assert bad.status_code == 422 and "Deze actie bestaat niet." in bad.get_data(as_text=True)
    bad = client.post(target, data={"suggestion": "<script>"}, follow_redirects=True)
    assert bad.status_code == 200 and "Deze actie bestaat niet." in bad.get_data(as_text=True)
    # Only a table with suggestions has the route; another worksheet is 404.
    assert client.post(_url(world, 7, "samen") + "/vraag/involve_staff/suggestie",
                       data={"suggestion": "planning_contacts"}).status_code == 404


def test_suggestion_needs_csrf_and_an_open_step(csrf_app: Flask) -> None:
    world = build_world(csrf_app)
    with csrf_app.app_context():
        _driver(world).through(7)  # step 7 completed: nothing can be added any more
    client = csrf_app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/inloggen").get_data(as_text=True)).group(1)
    assert client.post("/inloggen", data={"email": world.emails["lib_a"], "password": PASSWORD,
                                          "csrf_token": token}).status_code == 302
    target = _url(world, 7, "samen") + "/vraag/action_schema/suggestie"
    assert client.post(target, data={"suggestion": "policy_plan"}).status_code == 400
    page = client.get(_url(world, 7, "samen")).get_data(as_text=True)
    assert "Acties waaraan je kunt denken" not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = client.post(target, data={"suggestion": "policy_plan", "csrf_token": token}, headers=HX)
    assert refused.status_code in (404, 409, 422)
    assert not any(r["id"] == "s-policy_plan" for r in _rows(csrf_app, "action_schema"))


# --------------------------------------------------------------------------- round 2


def test_round_two_shows_step_eight_lessons_at_steps_one_to_four(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(8)
        assert d.p.situation != WORKING_TOGETHER
        lesson = db.session.scalar(select(Answer.value).where(Answer.question == "next_round"))
        assert lesson
    client = _client(app, world)
    first_round = client.get(_url(world, 1, "bibliotheek")).get_data(as_text=True)
    assert 'id="lessons"' not in first_round
    with app.app_context():
        d = _driver(world)
        d.act("childcare", Action("start_new_cycle"))
        assert workflow.current_cycle(d.p).number == 2
        assert d.p.situation == WORKING_TOGETHER
    with app.app_context():
        assert db.session.scalar(select(Partnership.situation).where(
            Partnership.public_id == world.ids["partnership_a"])) == WORKING_TOGETHER
    first = _client(app, world).get(_url(world, 1, "bibliotheek")).get_data(as_text=True)
    assert "Lessen uit ronde 1" in first
    with app.app_context():
        _driver(world).own_steps(2, 2)  # steps 1 and 2 done, step 3 open for both
    for step, slot, who in ((1, "bibliotheek", "lib_a"), (2, "kinderopvang", "cc_a"), (3, "bibliotheek", "lib_a")):
        html = _client(app, world, who).get(_url(world, step, slot)).get_data(as_text=True)
        assert "Lessen uit ronde 1" in html, step
        assert lesson.split(".")[0] in html
        # Situation 3 is what the steps now say to the partnership.
        if step == 1:
            assert "Jullie werken al samen. Kijk toch eerst opnieuw naar het waarom" in html
    with app.app_context():
        d = _driver(world)
        for party in ("library", "childcare"):
            d.act(party, Action("complete", 3, party))  # the answers are carried over from round 1
    assert "Lessen uit ronde 1" in client.get(_url(world, 4, "samen")).get_data(as_text=True)
    with app.app_context():
        _driver(world).finish_joint(4)
    assert "Lessen uit ronde 1" not in client.get(_url(world, 5, "samen")).get_data(as_text=True)


def test_english_lessons_panel(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(8)
        d.act("childcare", Action("start_new_cycle"))
        d.users["library"].locale = "en"
    html = _client(app, world).get(_url(world, 1, "bibliotheek")).get_data(as_text=True)
    assert "Lessons from round 1" in html and "What do we take with us to the next round?" in html
