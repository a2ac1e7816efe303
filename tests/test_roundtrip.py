"""What is saved is what is shown, and what is shown is what the browser sends back.

Generated from the plan definition: for every question of every step, in both
languages and in every mode (own steps for each party, joint, lead with step-5
records, step-8 goals), Hypothesis draws a valid answer. The test saves it through
the autosave routes, loads the worksheet page, reads the form as a browser builds its
form data set (``tests/formdata.py``), and checks that this data decodes to exactly the
stored answer. Then it posts that form data through "Alles opslaan" (no JavaScript):
nothing may change.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from stappenplan.accounts.models import User
from stappenplan.demo import Driver
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow import services as workflow
from stappenplan.workflow import upgrading
from stappenplan.workflow.answers import validate_answer
from stappenplan.workflow.definition import Column, Question
from stappenplan.workflow.engine import Action
from stappenplan.workflow.plan_loader import latest_version
from stappenplan.worksheets import fields, services
from stappenplan.worksheets import sheet_view as views
from tests import formdata
from tests.factories import build_world, login
from tests.factories import driver as partner_driver

HX = {"HX-Request": "true"}
EXAMPLES = int(os.environ.get("ROUNDTRIP_EXAMPLES", "6"))
# ROUNDTRIP_SHRINK=0 reports the first failing example as drawn (quicker when many fail).
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + (
    [Phase.shrink] if os.environ.get("ROUNDTRIP_SHRINK", "1") != "0" else [])
SLUG = {"library": "bibliotheek", "childcare": "kinderopvang", "joint": "samen"}

# (step, slot, acting party): every mode of the plan.
SHEETS = [
    (1, "library", "library"), (1, "childcare", "childcare"),
    (2, "library", "library"), (2, "childcare", "childcare"),
    (3, "library", "library"), (3, "childcare", "childcare"),
    (4, "joint", "library"),
    (5, "joint", "childcare"),  # lead step: the conversation records
    (5, "joint", "library"),
    (6, "joint", "childcare"),
    (7, "joint", "library"),
    (8, "joint", "childcare"),  # goal progress per shared goal of step 4
]

# Text as people type it: any character but control characters (tab and newline allowed).
CHARS = st.characters(exclude_categories=("Cs", "Cc"), include_characters="\n\t")
LINE_CHARS = st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t")


def texts(max_size: int = 80) -> st.SearchStrategy[str]:
    return st.text(CHARS, max_size=max_size)


def lines(max_size: int = 60) -> st.SearchStrategy[str]:
    return st.text(LINE_CHARS, max_size=max_size)


def numbers() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-10**9, 10**9),
        st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
        st.decimals(min_value=-10**6, max_value=10**6, places=2, allow_nan=False, allow_infinity=False).map(float),
    )


def scale_entries() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({"value": st.one_of(st.none(), st.integers(1, 5)), "remark": lines(40)})


def cell_values(column: Column) -> st.SearchStrategy[Any]:
    keys = list(column.option_keys())
    return {
        "line": lines(),
        "text": texts(),
        "date": st.dates().map(dt.date.isoformat),
        "number": numbers(),
        "choice": st.sampled_from(keys),
        "multi": st.lists(st.sampled_from(keys), unique=True) if keys else st.just([]),
    }[column.type]


def answers_for(question: Question, goal_ids: list[str]) -> st.SearchStrategy[Any]:
    """A valid raw answer for ``question`` (possibly empty)."""
    keys = list(question.option_keys()) if question.options else []
    qtype = question.type
    if qtype == "text":
        return texts()
    if qtype == "line":
        return lines()
    if qtype == "date":
        return st.one_of(st.none(), st.dates().map(dt.date.isoformat))
    if qtype == "choice":
        return st.one_of(st.none(), st.sampled_from(keys))
    if qtype == "check":
        return st.one_of(st.none(), st.sampled_from(["ja", "nee", "deels"]))
    if qtype == "multi":
        return st.lists(st.sampled_from(keys), unique=True)
    if qtype == "scale":
        return scale_entries()
    if qtype == "goal_progress":
        return st.fixed_dictionaries({gid: scale_entries() for gid in goal_ids})
    if qtype in ("table", "records"):
        row = st.fixed_dictionaries({}, optional={c.key: cell_values(c) for c in question.columns})
        return st.lists(row, max_size=3)
    raise AssertionError(f"no strategy for {qtype}")


# --- the browser's side: what an autosave of one field posts ----------------------------------


def autosave_form(question: Question, value: Any, version: int, goal_ids: list[str]) -> list[tuple[str, str]]:
    key = question.key
    form = [(fields.version_name(key), str(version))]
    if question.type == "multi":
        form += [(fields.name(key), v) for v in value] + [(fields.name(key, "present"), "1")]
    elif question.type == "scale":
        form += _scale_form(fields.name(key), fields.name(key, "remark"), value)
    elif question.type == "goal_progress":
        for gid in goal_ids:
            form += _scale_form(fields.name(key, gid), fields.name(key, gid, "remark"), value.get(gid))
    elif value is not None:
        form.append((fields.name(key), value))
    return form


def _scale_form(field: str, remark: str, entry: dict | None) -> list[tuple[str, str]]:
    entry = entry or {}
    form = [(remark, entry.get("remark") or "")]
    if entry.get("value") is not None:
        form.append((field, str(entry["value"])))
    return form


def cell_form(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    if isinstance(value, float):  # typed as a Dutch user would: decimal comma, no exponent
        return [format(Decimal(repr(value)), "f").replace(".", ",")]
    return [str(value)]


# --- decoding the page's form data set back into answers ---------------------------------------


def decode(question: Question, form, goal_ids: list[str]) -> Any:
    if question.type in ("table", "records"):
        prefix = f"o-{question.key}{fields.SEP}"
        row_ids: list[str] = []
        for name in form.keys():
            if name.startswith(prefix):
                row_id = name[len(prefix):].split(fields.SEP)[0]
                if row_id not in row_ids:
                    row_ids.append(row_id)
        rows = [{"id": rid, "cells": {c.key: fields.read_cell(question, form, rid, c.key) for c in question.columns}}
                for rid in row_ids]
        value, error = validate_answer(question, rows)
    else:
        _present, raw = fields.read_value(question, form, goal_ids)
        value, error = validate_answer(question, raw)
    assert error is None, (question.key, error)
    return value


class Runner:
    """One worksheet of partnership A, its user, and the routes to save and read it."""

    def __init__(self, app: Flask, client: FlaskClient, partnership_id: str, step: int, slot: str,
                 party: str) -> None:
        self.app, self.client, self.party = app, client, party
        self.url = f"/samenwerkingen/{partnership_id}/stap/{step}/{SLUG[slot]}"
        self.partnership_id, self.step, self.slot = partnership_id, step, slot
        with app.app_context():
            sheet = self.sheet()
            self.questions = sheet.questions()
            self.goal_ids = [g["id"] for g in views.shared_goals(sheet)]

    def sheet(self) -> services.Sheet:
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == self.partnership_id))
        return services.load_sheet(p, self.party, self.step, self.slot)

    def stored(self) -> dict[str, tuple[Any, int]]:
        with self.app.app_context():
            sheet = self.sheet()
            return {k: (a.value, a.version) for k, a in services.answers_for(sheet.instance).items()}

    def save(self, question: Question, raw: Any) -> None:
        """Save one answer the way the page's htmx attributes do."""
        if question.type in ("table", "records"):
            return self.save_table(question, raw)
        version = self.stored().get(question.key, (None, 0))[1]
        response = self.client.post(f"{self.url}/vraag/{question.key}", headers=HX,
                                    data=MultiDict(autosave_form(question, raw, version, self.goal_ids)))
        assert response.status_code == 200, (question.key, raw, response.get_data(as_text=True)[:800])

    def _table_op(self, question: Question, data: list[tuple[str, str]]) -> None:
        version = self.stored().get(question.key, (None, 0))[1]
        response = self.client.post(f"{self.url}/vraag/{question.key}/tabel", headers=HX,
                                    data=MultiDict([(fields.version_name(question.key), str(version)), *data]))
        assert response.status_code == 200, (question.key, data, response.get_data(as_text=True)[:800])

    def save_table(self, question: Question, rows: list[dict[str, Any]]) -> None:
        key = question.key
        for row in self.stored().get(key, (None, 0))[0] or []:  # start from an empty table
            cells = row.get("cells", {})
            self._table_op(question, [("op", "delete"), ("row", row["id"])] + [
                (fields.orig_name(key, row["id"], c.key), fields.encode(cells.get(c.key))) for c in question.columns])
        for cells in rows:
            before = {r["id"] for r in self.stored().get(key, (None, 0))[0] or []}
            self._table_op(question, [("op", "add")])
            row_id = next(r["id"] for r in self.stored()[key][0] if r["id"] not in before)
            for column in question.columns:
                if column.key not in cells:
                    continue
                self._table_op(question, [("op", "edit"), ("row", row_id), ("col", column.key),
                                          (fields.orig_name(key, row_id, column.key), fields.encode(None))]
                               + [(fields.name(key, row_id, column.key), v) for v in cell_form(cells[column.key])])


def open_step(app: Flask, step: int, locale: str = "nl", migrated: bool = False):
    """A world whose partnership A has ``step`` open (earlier steps done by the demo driver).
    ``migrated``: partnership A started on plan version 1, got this far and then moved to
    the newest version (its answers under the new keys, renamed and merged ones included)."""
    world = build_world(app, plan_version=1 if migrated else None)
    with app.app_context():
        driver = partner_driver(world)
        lib, cc = driver.users["library"], driver.users["childcare"]
        if step <= 3:
            driver.own_steps(step - 1, step - 1)
        elif step == 4:
            driver.own_steps(3, 3)
        else:
            driver.through(step - 1)
        if migrated:
            # The demo's answers include the ones the upgrade renames (step 6) and retires (step 1).
            upgrading.upgrade(driver.p, lib)
            assert workflow.current_cycle(driver.p).plan_version == latest_version()
        for user in (lib, cc):
            user.locale = locale
        db.session.commit()
    return world


# The worksheets whose questions version 2 adds, renames, merges or retires, on a
# partnership that moved from version 1 while the step was open.
MIGRATED = [(1, "library", "library"), (2, "library", "library"), (4, "joint", "library"),
            (6, "joint", "childcare"), (7, "joint", "library"), (8, "joint", "childcare")]


@pytest.mark.parametrize(("locale", "step", "slot", "party", "migrated"),
                         [(locale, *sheet, False) for locale in ("nl", "en") for sheet in SHEETS]
                         + [("nl", *sheet, True) for sheet in MIGRATED])
def test_saved_answers_are_shown_and_sent_back_unchanged(app: Flask, locale: str, step: int, slot: str,
                                                         party: str, migrated: bool) -> None:
    world = open_step(app, step, locale, migrated)
    client = app.test_client()
    login(client, world.emails["lib_a" if party == "library" else "cc_a"])
    runner = Runner(app, client, world.ids["partnership_a"], step, slot, party)
    assert runner.questions

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=PHASES,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(data=st.data())
    def roundtrip(data: st.DataObject) -> None:
        drawn = {q.key: data.draw(answers_for(q, runner.goal_ids), label=q.key) for q in runner.questions}
        for question in runner.questions:
            runner.save(question, drawn[question.key])
        stored = runner.stored()
        for question in runner.questions:
            expected = drawn[question.key]
            if question.type in ("table", "records"):
                rows = stored.get(question.key, (None, 0))[0] or []
                expected = [{"id": r["id"], "cells": c} for r, c in zip(rows, expected, strict=False)]
            want, error = validate_answer(question, expected)
            assert error is None, (question.key, error)
            assert stored.get(question.key, (None, 0))[0] == want, question.key

        # What the script gets after a merge (fields.form_pairs) reads back as the same answer.
        for question in runner.questions:
            if question.type not in ("table", "records"):
                value = stored.get(question.key, (None, 0))[0]
                pairs = MultiDict(fields.form_pairs(question, value, runner.goal_ids))
                assert decode(question, pairs, runner.goal_ids) == value, question.key

        page = client.get(runner.url)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        form = formdata.form_data(html, "sheet-form")
        for question in runner.questions:
            shown = decode(question, form, runner.goal_ids)
            assert shown == stored.get(question.key, (None, 0))[0], (question.key, shown)

        # The same form data through "Alles opslaan", as a browser without JavaScript sends it.
        response = client.post(runner.url, data=MultiDict(formdata.entries(formdata.parse(html), "sheet-form")))
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        assert runner.stored() == stored

    roundtrip()


def test_formdata_reads_a_page_as_a_browser_does() -> None:
    """The reader itself: run-together attributes are not 'checked', textarea keeps its text."""
    html = """<!DOCTYPE html><html><body><form id="f">
      <input type="radio" name="a" value="1" checkedhx-post="/x"><input type="radio" name="a" value="2" checked>
      <input type="checkbox" name="b" value="x" checked disabled><input type="checkbox" name="b" checked>
      <textarea name="t">
\nline</textarea><select name="s"><option value="">-</option><option value="k">K</option></select>
      <input name="l" value="a&#10;b"><input type="submit" name="go" value="ja">
      <fieldset disabled><input name="off" value="1"></fieldset></form>
      <input name="outside" value="1"></body></html>"""
    assert formdata.entries(formdata.parse(html), "f") == [
        ("a", "2"), ("b", "on"), ("t", "\r\nline"), ("s", ""), ("l", "ab")]


def test_answer_rows_written_by_hand_decode_like_the_page(app: Flask) -> None:
    """Guard for the test's own decoder: a stored table decodes from its hidden originals."""
    world = open_step(app, 2)
    client = app.test_client()
    login(client, world.emails["lib_a"])
    runner = Runner(app, client, world.ids["partnership_a"], 2, "library", "library")
    table = next(q for q in runner.questions if q.type == "table")
    runner.save_table(table, [{"activity": "Voorlezen", "parents_reached": 12.5}])
    html = client.get(runner.url).get_data(as_text=True)
    value = decode(table, formdata.form_data(html, "sheet-form"), [])
    assert [r["cells"] for r in value] == [{"activity": "Voorlezen", "parents_reached": 12.5}]
    assert runner.stored()[table.key][0] == value


# --- read-only renderings show the chosen labels ------------------------------------------------

CHOSEN_TYPES = ("choice", "multi", "check", "scale", "goal_progress")


def expected_labels(question: Question, value: Any, goal_labels: dict[str, str], locale: str) -> list[str]:
    """The texts a reader must find for a chosen answer."""
    of5 = "{n} of 5" if locale == "en" else "{n} van 5"
    check = {"ja": "Yes", "nee": "No", "deels": "Partly"} if locale == "en" else {
        "ja": "Ja", "nee": "Nee", "deels": "Deels"}
    labels = {o.key: o.label for o in question.options}
    if question.type == "choice":
        return [labels[value]]
    if question.type == "multi":
        return [labels[k] for k in value]
    if question.type == "check":
        return [check[value]]
    if question.type == "scale":
        return [of5.format(n=value["value"])]
    if question.type == "goal_progress":
        return [of5.format(n=e["value"]) for e in value.values()] + [goal_labels[g] for g in value]
    return []


def chosen_answers(question: Question, goal_ids: list[str]) -> st.SearchStrategy[Any]:
    """A non-empty choice for a choice-like question."""
    keys = list(question.option_keys()) if question.options else []
    if question.type == "choice":
        return st.sampled_from(keys)
    if question.type == "multi":
        return st.lists(st.sampled_from(keys), unique=True, min_size=1)
    if question.type == "check":
        return st.sampled_from(["ja", "nee", "deels"])
    if question.type == "scale":
        return st.fixed_dictionaries({"value": st.integers(1, 5), "remark": st.just("")})
    return st.fixed_dictionaries({g: st.fixed_dictionaries({"value": st.integers(1, 5), "remark": st.just("")})
                                  for g in goal_ids})


def section_text(html: str, element_id: str) -> str:
    element = formdata.by_id(html, element_id)
    assert element is not None, f"#{element_id} is not on the page"
    return " ".join("".join(element.itertext()).split())


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_chosen_labels_in_every_read_only_view(app: Flask, locale: str) -> None:
    """Plan page, PDF text, the question's history and step 4's side-by-side view show the labels."""
    from stappenplan import demo_content as content
    from stappenplan.i18n import force_locale
    from stappenplan.workflow.localize import localized
    from stappenplan.workflow.plan_loader import get_definition
    from tests.test_plan import _pdf_text

    world = build_world(app)
    with app.app_context():
        users = {"library": db.session.scalar(select(User).where(User.email == world.emails["lib_a"])),
                 "childcare": db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))}
        for user in users.values():
            user.locale = locale
        user_ids = {party: user.id for party, user in users.items()}
        db.session.commit()
    clients = {}
    for party, key in (("library", "lib_a"), ("childcare", "cc_a")):
        clients[party] = app.test_client()
        login(clients[party], world.emails[key])
    pid = world.ids["partnership_a"]
    with app.test_request_context(), force_locale(locale):
        defn = localized(get_definition(1))

    @settings(max_examples=1, deadline=None, database=None, phases=PHASES,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        chosen: dict[tuple[int, str], dict[str, Any]] = {}
        with app.app_context():
            p = db.session.scalar(select(Partnership).where(Partnership.public_id == pid))
            driver = Driver(p, db.session.get(User, user_ids["library"]), db.session.get(User, user_ids["childcare"]))
            for step in (1, 2, 3):
                for party in ("library", "childcare"):
                    sheet = services.load_sheet(p, party, step, party)
                    picks = {q.key: data.draw(chosen_answers(q, []), label=f"{step}{party}{q.key}")
                             for q in sheet.questions() if q.type in CHOSEN_TYPES}
                    chosen[(step, party)] = picks
                    driver.fill(party, step, party, {**content.OWN[party][step], **picks})
                    driver.act(party, Action("complete", step, party))
        # Step 4 shows both parties' answers of steps 1-3 side by side.
        page4 = clients["library"].get(f"/samenwerkingen/{pid}/stap/4/samen").get_data(as_text=True)
        compare = section_text(page4, "compare")
        for (step, party), picks in chosen.items():
            for key, value in picks.items():
                for label in expected_labels(defn.step(step).question(key), value, {}, locale):
                    assert label in compare, (step, party, key, label)
        # The history of a question shows the chosen labels.
        for (step, party), picks in chosen.items():
            for key, value in picks.items():
                history = clients[party].get(
                    f"/samenwerkingen/{pid}/stap/{step}/{SLUG[party]}/vraag/{key}/geschiedenis", headers=HX)
                text = formdata.text_of(history.get_data(as_text=True))
                for label in expected_labels(defn.step(step).question(key), value, {}, locale):
                    assert label in text, (step, key, label)
        # Steps 4-8 together, with a chosen answer for every choice-like question.
        with app.app_context():
            p = db.session.scalar(select(Partnership).where(Partnership.public_id == pid))
            driver = Driver(p, db.session.get(User, user_ids["library"]), db.session.get(User, user_ids["childcare"]))
            goal_labels: dict[str, str] = {}
            for step in range(4, 9):
                sheet = services.load_sheet(p, "library", step, "joint")
                goals = views.shared_goals(sheet)
                goal_labels = {g["id"]: g["label"] for g in goals}
                picks = {q.key: data.draw(chosen_answers(q, list(goal_labels)), label=f"{step}{q.key}")
                         for q in sheet.questions() if q.type in CHOSEN_TYPES}
                chosen[(step, "joint")] = picks
                driver.fill("library", step, "joint", {**content.JOINT[step], **picks})
                if step == 5:
                    driver.act("childcare", Action("complete", 5, "joint"))
                else:
                    driver.act("library", Action("sign_off", step, "joint"))
                    driver.act("childcare", Action("sign_off", step, "joint"))
        plan = clients["library"].get(f"/samenwerkingen/{pid}/plan").get_data(as_text=True)
        pdf = _pdf_text(clients["library"].get(f"/samenwerkingen/{pid}/plan.pdf").data)
        for (step, slot), picks in chosen.items():
            for key, value in picks.items():
                prefix = f"stap-{step}-" + (f"{SLUG[slot]}-" if slot != "joint" else "")
                block = section_text(plan, prefix + key.replace("_", "-"))
                for label in expected_labels(defn.step(step).question(key), value, goal_labels, locale):
                    assert label in block, (step, slot, key, label)
                    assert " ".join(label.split()) in pdf, (step, slot, key, label)

    check()
