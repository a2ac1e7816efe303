"""Worksheets: every question type, autosave, conflicts, tables, history, comments, feed."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow.answers import validate_answer
from stappenplan.workflow.engine import Action, ActionRefused
from stappenplan.workflow.plan_loader import get_definition
from stappenplan.worksheets import display
from stappenplan.worksheets import services as sheets
from stappenplan.worksheets.models import Answer, AnswerRevision
from tests import formdata
from tests.factories import driver, login

HX = {"HX-Request": "true"}



def sheet_url(world, step: int, slot: str) -> str:
    return f"/samenwerkingen/{world.ids['partnership_a']}/stap/{step}/{slot}"


def answer(app: Flask, key: str) -> Answer | None:
    with app.app_context():
        return db.session.scalar(select(Answer).where(Answer.question == key).order_by(Answer.id.desc()))


def version_in(body: str, key: str) -> int:
    return int(re.search(rf'id="v-{key}" name="v-{key}" value="(\d+)"', body).group(1))


@pytest.fixture
def lib(world, app: Flask) -> FlaskClient:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    return client


@pytest.fixture
def cc(world, app: Flask) -> FlaskClient:
    client = app.test_client()
    login(client, world.emails["cc_a"])
    return client


@pytest.fixture
def joint4(world, app: Flask) -> str:
    """Partnership A with step 4 open."""
    with app.app_context():
        driver(world).own_steps(3, 3)
    return sheet_url(world, 4, "samen")


# --- every question type: render, save, validate, reload ------------------------------------

CASES = [
    # (step, slot, key, form data, expected stored value, bad form data, Dutch message)
    (1, "bibliotheek", "why", {"q-why": "Omdat ouders ertoe doen."}, "Omdat ouders ertoe doen.",
     {"q-why": "x" * 20001}, "maximaal 20.000 tekens"),
    (3, "bibliotheek", "contact_person", {"q-contact_person": "  Sanne  "}, "Sanne",
     {"q-contact_person": "a\nb"}, "één regel"),
    (1, "bibliotheek", "aims", {"q-aims": ["trust", "language_development"], "q-aims--present": "1"},
     ["language_development", "trust"], {"q-aims": ["onzin"], "q-aims--present": "1"}, "Kies een van"),
    (1, "bibliotheek", "support", {"q-support": "4", "q-support--remark": "Goed"}, {"value": 4, "remark": "Goed"},
     {"q-support": "9", "q-support--remark": ""}, "1 tot en met 5"),
    (2, "bibliotheek", "in_policy", {"q-in_policy": "deels"}, "deels", {"q-in_policy": "misschien"},
     "ja, nee of deels"),
    (4, "samen", "consultation_frequency", {"q-consultation_frequency": "monthly"}, "monthly",
     {"q-consultation_frequency": "daily"}, "Kies een van"),
    (4, "samen", "agreement_date", {"q-agreement_date": "31-12-2026"}, "2026-12-31",
     {"q-agreement_date": "31-02-2026"}, "geen geldige datum"),
]


@pytest.mark.parametrize(("step", "slot", "key", "good", "stored", "bad", "message"), CASES)
def test_question_types_save_validate_reload(world, app: Flask, lib: FlaskClient, step: int, slot: str,
                                             key: str, good: dict, stored: object, bad: dict,
                                             message: str) -> None:
    with app.app_context():
        d = driver(world)
        if step >= 2:
            d.own_steps(3 if step >= 4 else step - 1, 3 if step >= 4 else 0)
    url = sheet_url(world, step, slot)
    page = lib.get(url)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f'id="vraag-{key}"' in body
    version = version_in(body, key)
    response = lib.post(f"{url}/vraag/{key}", data={**good, f"v-{key}": version}, headers=HX)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Opgeslagen om" in response.get_data(as_text=True)
    assert answer(app, key).value == stored
    new_version = answer(app, key).version
    assert f'value="{new_version}" hx-swap-oob="true"' in response.get_data(as_text=True)
    bad_response = lib.post(f"{url}/vraag/{key}", data={**bad, f"v-{key}": new_version}, headers=HX)
    assert bad_response.status_code == 422
    assert message in bad_response.get_data(as_text=True)
    assert answer(app, key).value == stored and answer(app, key).version == new_version
    reloaded = lib.get(url).get_data(as_text=True)
    assert version_in(reloaded, key) == new_version


def test_unknown_question_is_404(world, lib: FlaskClient) -> None:
    response = lib.post(sheet_url(world, 1, "bibliotheek") + "/vraag/bestaat_niet", data={"q-x": "1"})
    assert response.status_code == 404


# --- no lost update ----------------------------------------------------------------------------

def test_stale_save_gets_409_with_both_versions(world, app: Flask, lib: FlaskClient, cc: FlaskClient,
                                                joint4: str) -> None:
    url = f"{joint4}/vraag/target_parents"
    assert lib.post(url, data={"q-target_parents": "Ouders van peuters", "v-target_parents": 0},
                    headers=HX).status_code == 200
    conflict = cc.post(url, data={"q-target_parents": "Alle ouders", "v-target_parents": 0}, headers=HX)
    assert conflict.status_code == 409
    body = conflict.get_data(as_text=True)
    assert conflict.headers["HX-Retarget"] == "#conflict-target_parents"
    assert "Ouders van peuters" in body and "Alle ouders" in body
    assert "Mijn versie bewaren" in body and "Hun versie overnemen" in body and "Samengevoegde" in body
    assert answer(app, "target_parents").value == "Ouders van peuters"
    # keep mine: an explicit save on top of the current version
    kept = cc.post(url, data={"q-target_parents": "Alle ouders", "base": 1, "v-target_parents": 0}, headers=HX)
    assert kept.status_code == 200 and answer(app, "target_parents").value == "Alle ouders"
    # an editable merge replaces the field with the merged text
    lib_stale = lib.post(url, data={"q-target_parents": "Nieuw", "v-target_parents": 1}, headers=HX)
    assert lib_stale.status_code == 409
    merged = lib.post(url, data={"merge-target_parents": "Alle ouders, vooral van peuters", "merge": "1",
                                 "base": 2}, headers=HX)
    assert merged.status_code == 200 and 'id="field-target_parents"' in merged.get_data(as_text=True)
    assert answer(app, "target_parents").value == "Alle ouders, vooral van peuters"


def test_tables_merge_rows_and_conflict_on_same_cell(world, app: Flask, lib: FlaskClient, cc: FlaskClient,
                                                     joint4: str) -> None:
    url = f"{joint4}/vraag/shared_goals/tabel"
    assert lib.post(url, data={"op": "add", "v-shared_goals": 0}, headers=HX).status_code == 200
    # both add a row based on version 1: both rows are kept
    assert lib.post(url, data={"op": "add", "v-shared_goals": 1}, headers=HX).status_code == 200
    assert cc.post(url, data={"op": "add", "v-shared_goals": 1}, headers=HX).status_code == 200
    rows = answer(app, "shared_goals").value
    assert len(rows) == 3 and len({r["id"] for r in rows}) == 3  # both concurrent additions kept
    assert answer(app, "shared_goals").version == 3
    first = "goal-a"
    with app.app_context():
        d = driver(world)
        d.fill("library", 4, "joint", {"shared_goals": [*rows, {"id": first, "cells": {"goal": "Voorlezen"}}]})
        version = db.session.scalar(select(Answer.version).where(Answer.question == "shared_goals"))
    edit = {"op": "edit", "row": first, "col": "goal", "v-shared_goals": version,
            "o-shared_goals--goal-a--goal": '"Voorlezen"'}
    ok = lib.post(url, data={**edit, "q-shared_goals--goal-a--goal": "Samen voorlezen"}, headers=HX)
    assert ok.status_code == 200
    # childcare edited the same cell from the old value: conflict, nothing lost
    clash = cc.post(url, data={**edit, "q-shared_goals--goal-a--goal": "Vaker voorlezen"}, headers=HX)
    assert clash.status_code == 409
    assert "Samen voorlezen" in clash.get_data(as_text=True) and "Vaker voorlezen" in clash.get_data(as_text=True)
    # childcare edits another cell of that row from the stale version: merged, no conflict
    other = {"op": "edit", "row": first, "col": "indicator", "v-shared_goals": version,
             "o-shared_goals--goal-a--indicator": "null", "q-shared_goals--goal-a--indicator": "Meer uitleen"}
    assert cc.post(url, data=other, headers=HX).status_code == 200
    cells = next(r for r in answer(app, "shared_goals").value if r["id"] == first)["cells"]
    assert cells == {"goal": "Samen voorlezen", "indicator": "Meer uitleen"}


def test_an_empty_row_is_no_edit_that_voids_the_partners_approval(world, app: Flask, cc: FlaskClient,
                                                                  joint4: str) -> None:
    """"+ Rij toevoegen" stores a row before anything is typed in it. An empty row is shown
    nowhere and counts for nothing, so adding or removing one keeps the library's approval
    (and writes no withdrawal); typing in it is an edit and voids it, as any edit does."""
    from stappenplan.audit.models import AuditEvent
    from stappenplan.workflow.models import SignOff, StepInstance

    with app.app_context():
        d = driver(world)
        d.fill_joint(4)
        d.act("library", Action("sign_off", 4, "joint"))
        db.session.commit()

    def signed() -> set[str]:
        with app.app_context():
            return set(db.session.scalars(
                select(SignOff.party).join(StepInstance, StepInstance.id == SignOff.step_instance_id)
                .where(StepInstance.step == 4, StepInstance.slot == "joint")))

    def withdrawals() -> int:
        with app.app_context():
            return db.session.scalar(select(func.count(AuditEvent.id))
                                     .where(AuditEvent.kind == "workflow.sign_off_withdrawn")) or 0

    assert signed() == {"library"} and withdrawals() == 0
    url = f"{joint4}/vraag/shared_goals/tabel"
    before = answer(app, "shared_goals")
    added = cc.post(url, data={"op": "add", "v-shared_goals": before.version}, headers=HX)
    assert added.status_code == 200
    rows = answer(app, "shared_goals").value
    assert len(rows) == len(before.value) + 1  # the empty row is stored (it has an id to type into)
    blank = rows[-1]["id"]
    assert signed() == {"library"} and withdrawals() == 0
    assert 'id="approval-warning"' in cc.get(joint4).get_data(as_text=True)  # still told to childcare
    removed = cc.post(url, data={"op": "delete", "row": blank, "v-shared_goals": answer(app, "shared_goals").version},
                      headers=HX)
    assert removed.status_code == 200 and len(answer(app, "shared_goals").value) == len(before.value)
    assert signed() == {"library"} and withdrawals() == 0
    cc.post(url, data={"op": "add", "v-shared_goals": answer(app, "shared_goals").version}, headers=HX)
    blank = answer(app, "shared_goals").value[-1]["id"]
    typed = cc.post(url, data={"op": "edit", "row": blank, "col": "goal",
                               "v-shared_goals": answer(app, "shared_goals").version,
                               f"o-shared_goals--{blank}--goal": "null",
                               f"q-shared_goals--{blank}--goal": "Meer ouders bij de voorleesochtend"}, headers=HX)
    assert typed.status_code == 200
    assert signed() == set() and withdrawals() == 1


def test_table_rejects_more_than_200_rows(world, app: Flask, joint4: str) -> None:
    with app.app_context():
        d = driver(world)
        rows = [{"id": f"r{i}", "cells": {"goal": f"Doel {i}"}} for i in range(200)]
        d.fill("library", 4, "joint", {"shared_goals": rows})
    client = app.test_client()
    login(client, world.emails["lib_a"])
    version = answer(app, "shared_goals").version
    response = client.post(f"{joint4}/vraag/shared_goals/tabel", data={"op": "add", "v-shared_goals": version},
                           headers=HX)
    assert response.status_code == 422 and "maximaal 200 rijen" in response.get_data(as_text=True)
    # the same through the whole-form path
    response = client.post(joint4, data={"q-shared_goals--new--goal": "Doel 201", "v-shared_goals": version,
                                         "o-shared_goals--r0--goal": '"Doel 0"', "q-shared_goals--r0--goal": "Doel 0"})
    assert response.status_code == 422
    assert "maximaal 200 rijen" in response.get_data(as_text=True)
    assert len(answer(app, "shared_goals").value) == 200


# --- history ---------------------------------------------------------------------------------------

def test_quick_saves_fold_and_restore_is_a_new_revision(world, app: Flask, lib: FlaskClient,
                                                        cc: FlaskClient, joint4: str) -> None:
    url = f"{joint4}/vraag/consultation"
    for n, text in enumerate(["Een", "Een twee", "Een twee drie"]):
        assert lib.post(url, data={"q-consultation": text, "v-consultation": n}, headers=HX).status_code == 200
    assert cc.post(url, data={"q-consultation": "Anders", "v-consultation": 3}, headers=HX).status_code == 200
    with app.app_context():
        revisions = db.session.scalars(select(AnswerRevision).join(Answer).where(
            Answer.question == "consultation").order_by(AnswerRevision.id)).all()
        assert [(r.saves, r.value) for r in revisions] == [(3, "Een twee drie"), (1, "Anders")]
        first_id = revisions[0].id
    history = lib.get(f"{joint4}/vraag/consultation/geschiedenis", headers=HX).get_data(as_text=True)
    assert "<ins>" in history and "3 keer opgeslagen" in history
    restored = lib.post(f"{joint4}/vraag/consultation/herstellen", data={"revision": first_id}, headers=HX)
    assert restored.status_code == 200 and answer(app, "consultation").value == "Een twee drie"
    with app.app_context():
        kinds = db.session.scalars(select(AnswerRevision.kind).join(Answer).where(
            Answer.question == "consultation").order_by(AnswerRevision.id)).all()
        assert kinds == ["edit", "edit", "restore"]



def test_saves_move_the_last_activity_on_at_most_every_few_minutes(world, app: Flask, lib: FlaskClient,
                                                                    joint4: str) -> None:
    """Someone typing saves every few seconds; the cycle's last activity (stalled after days,
    shown as a date) is written when it is older than ACTIVITY_GRANULARITY, and always when
    the workflow moves (a step completed)."""
    from datetime import timedelta

    from sqlalchemy import update

    from stappenplan.extensions import utcnow
    from stappenplan.workflow.models import Cycle
    from stappenplan.workflow.services import ACTIVITY_GRANULARITY

    def last_activity() -> object:
        with app.app_context():
            p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
            return db.session.scalar(select(Cycle.last_activity_at).where(Cycle.partnership_id == p.id))

    def set_last_activity(ago: timedelta) -> object:
        with app.app_context():
            p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
            when = utcnow() - ago
            db.session.execute(update(Cycle).where(Cycle.partnership_id == p.id).values(last_activity_at=when))
            db.session.commit()
            return when

    url = f"{joint4}/vraag/consultation"
    stalled = set_last_activity(timedelta(days=40))
    assert lib.post(url, data={"q-consultation": "Een", "v-consultation": 0}, headers=HX).status_code == 200
    first = last_activity()
    assert first > stalled + timedelta(days=39)  # a save of a stalled partnership counts at once
    assert lib.post(url, data={"q-consultation": "Een twee", "v-consultation": 1}, headers=HX).status_code == 200
    assert last_activity() == first  # a moment later: not written again
    recent = set_last_activity(ACTIVITY_GRANULARITY + timedelta(seconds=5))
    assert lib.post(url, data={"q-consultation": "Een twee drie", "v-consultation": 2}, headers=HX).status_code == 200
    assert last_activity() > recent + ACTIVITY_GRANULARITY  # older than the granularity: written
    with app.app_context():
        driver(world).fill_joint(4)  # edits only
        db.session.commit()
    just_now = set_last_activity(timedelta(seconds=30))
    with app.app_context():
        driver(world).act("library", Action("sign_off", 4, "joint"))  # the workflow moves: written at once
        db.session.commit()
    assert last_activity() > just_now


# --- comments ----------------------------------------------------------------------------------------

def test_comments_resolve_reopen_and_mention(world, app: Flask, lib: FlaskClient, cc: FlaskClient,
                                             joint4: str) -> None:
    page = lib.get(f"{joint4}/vraag/target_parents/opmerkingen", headers=HX).get_data(as_text=True)
    people = re.findall(r'name="mentions" value="([^"]+)"', page)
    assert people, page
    with app.app_context():
        cc_user = db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))
        cc_id = cc_user.public_id
    assert cc_id in people
    # Each person with their organisation: names alone do not say who works where.
    assert re.search(rf'value="{cc_id}"> <span>{cc_user.name} <span class="muted">\(Opvang A\)</span>', page)
    response = lib.post(f"{joint4}/vraag/target_parents/opmerkingen",
                        data={"body": "Wat vind jij, <b>Fatima</b>?", "mentions": [cc_id]}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "&lt;b&gt;Fatima&lt;/b&gt;" in body
    with app.app_context():
        mails = [m for m in outbox() if m.to == world.emails["cc_a"]]
    assert len(mails) == 1 and "noemde je" in mails[0].subject
    seen = cc.get(f"{joint4}/vraag/target_parents/opmerkingen", headers=HX).get_data(as_text=True)
    assert "Fatima" in seen and "Markeren als afgehandeld" in seen
    resolved = cc.post(f"{joint4}/vraag/target_parents/opmerkingen/status", data={"resolved": "1"}, headers=HX)
    assert "Afgehandeld op" in resolved.get_data(as_text=True) and "Opnieuw openen" in resolved.get_data(as_text=True)
    reopened = lib.post(f"{joint4}/vraag/target_parents/opmerkingen/status", data={"resolved": "0"}, headers=HX)
    assert "Afgehandeld op" not in reopened.get_data(as_text=True)
    empty = lib.post(f"{joint4}/vraag/target_parents/opmerkingen", data={"body": "  "}, headers=HX)
    assert empty.status_code == 422 and "Schrijf eerst een opmerking" in empty.get_data(as_text=True)


def test_comments_on_own_steps_stay_in_own_organisation(world, app: Flask, lib: FlaskClient,
                                                        cc: FlaskClient) -> None:
    url = sheet_url(world, 1, "bibliotheek") + "/vraag/why/opmerkingen"
    assert lib.post(url, data={"body": "Intern: even checken met het Taalhuis"}, headers=HX).status_code == 200
    assert cc.get(url, headers=HX).status_code == 404


# --- live co-editing: change feed and presence -----------------------------------------------------------

def test_change_feed_is_204_until_something_changes(world, app: Flask, lib: FlaskClient, cc: FlaskClient,
                                                    joint4: str) -> None:
    page = cc.get(joint4).get_data(as_text=True)
    seq = re.search(r'id="sheet-seq" name="seq" value="(\d+)"', page).group(1)
    sig = re.search(r'id="presence-sig" name="presence" value="([^"]*)"', page).group(1)
    feed = f"{joint4}/wijzigingen"
    lib.get(joint4)  # the library opens the sheet too: presence changes
    first = cc.get(feed, query_string={"seq": seq, "presence": sig, "status": "open"}, headers=HX)
    assert first.status_code == 200 and "Ook op dit werkblad" in first.get_data(as_text=True)
    sig = re.search(r'id="presence-sig" name="presence" value="([^"]*)"', first.get_data(as_text=True)).group(1)
    quiet = cc.get(feed, query_string={"seq": seq, "presence": sig, "status": "open"}, headers=HX)
    assert quiet.status_code == 204
    lib.post(f"{joint4}/vraag/target_parents", data={"q-target_parents": "Nieuwe tekst", "v-target_parents": 0},
             headers=HX)
    news = cc.get(feed, query_string={"seq": seq, "presence": sig, "status": "open"}, headers=HX)
    body = news.get_data(as_text=True)
    assert news.status_code == 200 and "Nieuwe tekst" in body
    area = formdata.by_id(body, "field-target_parents")
    assert area.get("hx-swap-oob") == "true" and area.get("data-changed-by") == "Admin"
    # The field someone else is typing in comes too, with who changed it: the page's script
    # keeps the typing and merges (tests/browser/test_coediting.py), it is never swapped blindly.
    editing = cc.get(feed, query_string={"seq": seq, "presence": sig, "editing": "target_parents",
                                         "status": "open"}, headers=HX).get_data(as_text=True)
    assert formdata.by_id(editing, "field-target_parents").get("data-changed-by") == "Admin"
    # nobody is told that they themselves just changed the field they are typing in
    own = lib.get(feed, query_string={"seq": seq, "presence": sig, "editing": "target_parents",
                                      "status": "open"}, headers=HX).get_data(as_text=True)
    assert 'id="sheet-seq"' in own, "the page still learns the new sequence number"
    assert "heeft dit antwoord net gewijzigd" not in own and 'id="field-target_parents"' not in own


# --- step-specific views ---------------------------------------------------------------------------------

def test_step4_shows_both_parties_steps_side_by_side(world, app: Flask, cc: FlaskClient, joint4: str) -> None:
    page = cc.get(joint4).get_data(as_text=True)
    assert "Jullie startpunten" in page
    assert "We zien dat veel ouders" in page  # the library's step 1
    assert "Ouders vragen ons hoe" in page  # the childcare's step 1


def test_step5_records_only_for_childcare(world, app: Flask, lib: FlaskClient, cc: FlaskClient) -> None:
    with app.app_context():
        d = driver(world)
        d.through(4)
        d.fill_joint(5)
    url = sheet_url(world, 5, "samen")
    childcare_page = cc.get(url).get_data(as_text=True)
    assert "Gezin A" in childcare_page and "geen namen" in childcare_page.lower()
    library_page = lib.get(url).get_data(as_text=True)
    assert "Gezin A" not in library_page and "Hun dochter zingt" not in library_page
    assert "Overzicht van de gesprekken" in library_page and "6 gesprekken" in library_page
    assert lib.post(f"{url}/vraag/conversations/tabel", data={"op": "add"}).status_code == 404


def test_step8_asks_about_each_shared_goal(world, app: Flask, lib: FlaskClient) -> None:
    with app.app_context():
        driver(world).through(7)
    url = sheet_url(world, 8, "samen")
    page = lib.get(url).get_data(as_text=True)
    assert "Ouders lezen thuis vaker voor" in page and "Ouders met taalvragen vinden het Taalhuis" in page
    response = lib.post(f"{url}/vraag/goal_progress", data={
        "q-goal_progress--goal-1": "4", "q-goal_progress--goal-1--remark": "Bijna", "v-goal_progress": 0,
    }, headers=HX)
    assert response.status_code == 200
    assert answer(app, "goal_progress").value == {"goal-1": {"value": 4, "remark": "Bijna"}}


# --- privacy, locks, escaping --------------------------------------------------------------------------

def test_own_step_invisible_to_partner_through_every_route(world, app: Flask, cc: FlaskClient) -> None:
    with app.app_context():
        driver(world).fill("library", 1, "library", {"why": "Geheim concept"})
    base = sheet_url(world, 1, "bibliotheek")
    routes = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("worksheets.")]
    assert len(routes) >= 8
    from flask import url_for

    for rule in routes:
        with app.test_request_context():
            url = url_for(rule.endpoint, partnership_id=world.ids["partnership_a"], step=1, slot="bibliotheek",
                          **({"key": "why"} if "key" in rule.arguments else {}))
        assert url.startswith(base)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            response = cc.open(url, method=method, data={"q-why": "overschreven", "v-why": 1, "op": "add"})
            assert response.status_code == 404, (method, url, response.status_code)
            assert "Geheim concept" not in response.get_data(as_text=True)
    assert answer(app, "why").value == "Geheim concept"


def test_a_step_not_open_yet_says_when_it_opens_to_members_only(world, app: Flask, lib: FlaskClient) -> None:
    """The partnership's members get "Stap N gaat open ..." for a step that has not opened;
    an outsider, a coordinator, an htmx request and a write still get the 404."""
    page = lib.get(sheet_url(world, 2, "bibliotheek"))
    assert page.status_code == 200
    text = formdata.text_of(page.get_data(as_text=True))
    assert "Stap 2 is nog niet open" in text and "Stap 2 gaat open als jullie stap 1 hebben afgerond." in text
    joint = formdata.text_of(lib.get(sheet_url(world, 4, "samen")).get_data(as_text=True))
    assert "Stap 4 gaat open als jullie allebei stap 3 hebben afgerond." in joint
    seven = formdata.text_of(lib.get(sheet_url(world, 7, "samen")).get_data(as_text=True))
    assert "Stap 7 gaat open als stap 6 is afgerond." in seven
    assert lib.get(sheet_url(world, 2, "bibliotheek"), headers=HX).status_code == 404
    for email in (world.emails["lib_b"], world.emails["coord_a"]):
        other = app.test_client()
        login(other, email)
        assert other.get(sheet_url(world, 2, "bibliotheek")).status_code == 404
        assert other.get(sheet_url(world, 4, "samen")).status_code == 404
    # Once step 1 is done, step 2 is the worksheet itself.
    with app.app_context():
        driver(world).own_steps(library_done=1, childcare_done=0)
    assert "Stap 2 is nog niet open" not in lib.get(sheet_url(world, 2, "bibliotheek")).get_data(as_text=True)


def test_locked_and_completed_steps_refuse_writes(world, app: Flask, lib: FlaskClient) -> None:
    assert lib.post(sheet_url(world, 2, "bibliotheek") + "/vraag/ambitions",
                    data={"q-ambitions": "x", "v-ambitions": 0}).status_code == 404
    with app.app_context():
        d = driver(world)
        d.fill("library", 1, "library", {"why": "Klaar", "aims": ["trust"]})
        from stappenplan.workflow.engine import Action

        d.act("library", Action("complete", 1, "library"))
        version = db.session.scalar(select(Answer.version).where(Answer.question == "why"))
    response = lib.post(sheet_url(world, 1, "bibliotheek") + "/vraag/why",
                        data={"q-why": "Toch anders", "v-why": version}, headers=HX)
    assert response.status_code == 409 and "afgerond" in response.get_data(as_text=True).lower()
    assert answer(app, "why").value == "Klaar"
    page = lib.get(sheet_url(world, 1, "bibliotheek")).get_data(as_text=True)
    assert "Deze stap is afgerond" in page and 'id="input-why"' not in page


def test_everything_typed_is_escaped(world, app: Flask, lib: FlaskClient, joint4: str) -> None:
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    fields = {"target_parents": evil, "consultation": evil}
    for key, value in fields.items():
        lib.post(f"{joint4}/vraag/{key}", data={f"q-{key}": value, f"v-{key}": 0}, headers=HX)
    with app.app_context():
        driver(world).fill("library", 4, "joint", {
            "shared_goals": [{"id": "x1", "cells": {"goal": evil, "indicator": evil}}],
            "responsibilities": [{"id": "x2", "cells": {"task": evil, "organisation": "both", "person": evil}}],
        })
    for url in (joint4, f"{joint4}/vraag/shared_goals/geschiedenis", f"{joint4}/vraag/target_parents/geschiedenis"):
        body = lib.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in body and "<img src=x" not in body
        assert "&lt;script&gt;" in body


def test_whole_worksheet_saves_without_javascript(world, app: Flask, lib: FlaskClient, joint4: str) -> None:
    page = lib.get(joint4).get_data(as_text=True)
    assert 'action="' + joint4 + '"' in page and "Alles opslaan" in page
    response = lib.post(joint4, data={
        "q-target_parents": "Ouders van de Vlindergroep", "v-target_parents": 0,
        "q-agreement": "ja", "v-agreement": 0,
        "q-shared_goals--new--goal": "Meer voorlezen", "v-shared_goals": 0,
    })
    assert response.status_code == 302
    assert answer(app, "target_parents").value == "Ouders van de Vlindergroep"
    assert answer(app, "agreement").value == "ja"
    assert answer(app, "shared_goals").value[0]["cells"] == {"goal": "Meer voorlezen"}
    # bad input in one field: a message, and the other field is still saved
    response = lib.post(joint4, data={"q-agreement_date": "31-31-2026", "v-agreement_date": 0,
                                      "q-consultation": "Maandelijks", "v-consultation": 0})
    assert response.status_code == 422 and "geen geldige datum" in response.get_data(as_text=True)
    assert answer(app, "consultation").value == "Maandelijks"
    with app.app_context():
        assert db.session.scalar(select(func.count(Answer.id)).where(Answer.question == "agreement_date")) == 0


def test_situation_three_starts_step_three_with_existing_cooperation(world, app: Flask, lib: FlaskClient) -> None:
    with app.app_context():
        from stappenplan.partnerships.models import Partnership as P

        p = db.session.scalar(select(P).where(P.public_id == world.ids["partnership_a"]))
        p.situation = 3
        db.session.commit()
        driver(world).own_steps(2, 0)
    page = lib.get(sheet_url(world, 3, "bibliotheek")).get_data(as_text=True)
    first = re.search(r'id="vraag-([a-z_]+)"', page).group(1)
    assert first == "existing_cooperation"
    timeline = lib.get(f"/samenwerkingen/{world.ids['partnership_a']}").get_data(as_text=True)
    assert "Jullie werken al samen" in timeline or "al samen" in timeline


# --- tables: server-made row ids, safe htmx values, size, required columns -----------------------

def test_no_javascript_new_row_gets_a_server_id_and_a_double_post_adds_it_once(world, app: Flask,
                                                                               lib: FlaskClient,
                                                                               joint4: str) -> None:
    page = lib.get(joint4).get_data(as_text=True)
    signed = re.search(r'name="q-shared_goals--new--id" value="([^"]+)"', page).group(1)
    form = {"q-shared_goals--new--goal": "Samen voorlezen", "q-shared_goals--new--id": signed, "v-shared_goals": 0}
    assert lib.post(joint4, data=form).status_code == 302
    assert lib.post(joint4, data={**form, "v-shared_goals": 1}).status_code == 302  # the same form again
    rows = answer(app, "shared_goals").value
    assert len(rows) == 1 and rows[0]["id"] == signed.split(".")[0]
    # A made-up id is never used: the row gets an id of the server's.
    crafted = {"q-shared_goals--new--goal": "Tweede doel", "q-shared_goals--new--id": 'x", "op": "delete',
               "v-shared_goals": 1}
    assert lib.post(joint4, data=crafted).status_code == 302
    ids = [r["id"] for r in answer(app, "shared_goals").value]
    assert len(ids) == 2 and all(re.fullmatch(r"r[0-9a-f]{10}", i) for i in ids[1:])


def test_row_ids_from_a_client_are_refused_and_htmx_values_are_json(world, app: Flask, lib: FlaskClient,
                                                                    joint4: str) -> None:
    question = get_definition(1).step(4).question("shared_goals")
    for bad in ['x", "op": "delete', "a b", "", "x" * 41, "<script>"]:
        value, error = validate_answer(question, [{"id": bad, "cells": {"goal": "Doel"}}])
        assert value is None and "geen geldige id" in error
    lib.post(f"{joint4}/vraag/shared_goals/tabel", data={"op": "add", "v-shared_goals": 0}, headers=HX)
    page = lib.get(joint4).get_data(as_text=True)
    vals = [el.get("hx-vals") for el in formdata.parse(page).iter() if el.get("hx-vals")]
    assert vals and all(isinstance(json.loads(v), dict) for v in vals)


def test_one_answer_is_at_most_100000_characters(world, app: Flask, lib: FlaskClient, joint4: str) -> None:
    with app.app_context():
        rows = [{"id": f"r{i}", "cells": {"goal": "x" * 19_000}} for i in range(6)]
        d = driver(world)
        s = sheets.load_sheet(d.p, "library", 4, "joint")
        outcome = sheets.save(s, d.users["library"], "shared_goals", rows, 0)
        assert outcome.status == "invalid" and "100.000 tekens" in outcome.message
        ok = sheets.save(s, d.users["library"], "shared_goals", rows[:5], 0)
        assert ok.status == "saved"
    # one more long cell through the autosave route is refused with the message, nothing changes
    version = answer(app, "shared_goals").version
    response = lib.post(f"{joint4}/vraag/shared_goals/tabel", headers=HX, data={
        "op": "edit", "row": "r0", "col": "indicator", "v-shared_goals": version,
        "o-shared_goals--r0--indicator": "null", "q-shared_goals--r0--indicator": "y" * 19_000})
    assert response.status_code == 422 and "100.000 tekens" in response.get_data(as_text=True)
    assert answer(app, "shared_goals").version == version


@pytest.mark.parametrize("text", ["a\x00b", "bel\x07", "esc\x1b[0m", "c1\x85"])
def test_control_characters_are_refused_with_a_message(world, app: Flask, lib: FlaskClient, joint4: str,
                                                       text: str) -> None:
    response = lib.post(f"{joint4}/vraag/target_parents", data={"q-target_parents": text, "v-target_parents": 0},
                        headers=HX)
    assert response.status_code == 422
    assert "stuurteken" in response.get_data(as_text=True)
    assert answer(app, "target_parents") is None


def test_a_remark_is_one_line(world, app: Flask, lib: FlaskClient) -> None:
    url = sheet_url(world, 1, "bibliotheek") + "/vraag/support"
    response = lib.post(url, data={"q-support": "3", "q-support--remark": "een\ntwee", "v-support": 0}, headers=HX)
    assert response.status_code == 422 and "één regel" in response.get_data(as_text=True)


def test_rows_missing_a_required_column_block_completion_and_are_listed(world, app: Flask) -> None:
    with app.app_context():
        d = driver(world)
        d.own_steps(1, 0)
        d.fill("library", 2, "library", {"ambitions": "Meer ouders bereiken.",
                                         "current_activities": [{"id": "a1", "cells": {"activity": "Voorlezen"}},
                                                                {"id": "a2", "cells": {"parents_reached": 4}},
                                                                {"id": "a3", "cells": {}}]})
        with pytest.raises(ActionRefused) as refused:
            d.act("library", Action("complete", 2, "library"))
        assert [q.key for q in refused.value.missing] == ["current_activities"]
        rows = [{"id": "a1", "cells": {"activity": "Voorlezen"}}, {"id": "a3", "cells": {}}]
        version = db.session.scalar(select(Answer.version).where(Answer.question == "current_activities"))
        s = sheets.load_sheet(d.p, "library", 2, "library")
        assert sheets.save(s, d.users["library"], "current_activities", rows, version).ok
        d.act("library", Action("complete", 2, "library"))  # an empty row does not block


def test_an_empty_table_row_is_not_printed(world, app: Flask, lib: FlaskClient) -> None:
    assert display.filled_rows([{"id": "a", "cells": {}}, {"id": "b", "cells": {"goal": "x"}}]) == [
        {"id": "b", "cells": {"goal": "x"}}]


# --- three-way merge through the autosave route ------------------------------------------------

def test_stale_save_with_its_base_is_merged_and_marked(world, app: Flask, lib: FlaskClient, cc: FlaskClient,
                                                       joint4: str) -> None:
    url = f"{joint4}/vraag/consultation"
    start = "We bellen elke maand. Het verslag staat in de map."
    assert lib.post(url, data={"q-consultation": start, "v-consultation": 0}, headers=HX).status_code == 200
    lib.post(url, data={"q-consultation": start.replace("maand", "week"), "v-consultation": 1,
                        "has_base": "1", "b:q-consultation": start}, headers=HX)
    # childcare edited other words, based on version 1: merged, not a conflict
    merged = cc.post(url, data={"q-consultation": start.replace("de map", "de gedeelde map"), "v-consultation": 1,
                                "has_base": "1", "b:q-consultation": start}, headers=HX)
    body = merged.get_data(as_text=True)
    assert merged.status_code == 200 and "samengevoegd met de wijziging van Admin" in body
    both = "We bellen elke week. Het verslag staat in de gedeelde map."
    assert answer(app, "consultation").value == both and answer(app, "consultation").version == 3
    template = formdata.by_id(body, "v-consultation")
    assert template is not None  # the new version for the page
    merged_pairs = json.loads(re.search(r'data-merged="consultation">(.*?)</script>', body).group(1))
    assert merged_pairs == [["q-consultation", both]]
    with app.app_context():
        kinds = db.session.scalars(select(AnswerRevision.kind).order_by(AnswerRevision.id)).all()
    assert kinds[-1] == "merge"
    history = cc.get(f"{url}/geschiedenis", headers=HX).get_data(as_text=True)
    assert "samengevoegd met een gelijktijdige wijziging" in history
    # the same words changed by both: the conflict view, nothing written
    clash = lib.post(url, data={"q-consultation": both.replace("week", "dag"), "v-consultation": 2,
                                "has_base": "1", "b:q-consultation": start.replace("maand", "week")}, headers=HX)
    assert clash.status_code == 200  # 'week' was not changed by the other: merged
    clash = cc.post(url, data={"q-consultation": both.replace("week", "jaar"), "v-consultation": 3,
                               "has_base": "1", "b:q-consultation": both}, headers=HX)
    assert clash.status_code == 409 and "Mijn versie bewaren" in clash.get_data(as_text=True)
    assert answer(app, "consultation").value == both.replace("week", "dag")


def test_a_resent_edit_already_in_the_answer_shows_the_answer(world, app: Flask, lib: FlaskClient,
                                                                 cc: FlaskClient, joint4: str) -> None:
    """A save that reached the server while its answer never reached the browser (the
    connection dropped) is kept on that computer and sent again later with its old base.
    Meanwhile the partner changed other words. The merge then equals the stored answer:
    nothing is written, and the answer must come back so the field shows it. Otherwise
    the field keeps the old text, and the next save, based on the new version, would
    silently undo the partner's words."""
    url = f"{joint4}/vraag/consultation"
    start = "We bellen elke maand. Het verslag staat in de map."
    mine = start.replace("de map", "de gedeelde map")
    both = "We bellen elke week. Het verslag staat in de gedeelde map."
    assert lib.post(url, data={"q-consultation": start, "v-consultation": 0}, headers=HX).status_code == 200
    # childcare's save arrives (version 2); its browser never hears of it
    assert cc.post(url, data={"q-consultation": mine, "v-consultation": 1, "has_base": "1",
                              "b:q-consultation": start}, headers=HX).status_code == 200
    # the library changes other words, on top of it (version 3)
    assert lib.post(url, data={"q-consultation": both, "v-consultation": 2, "has_base": "1",
                               "b:q-consultation": mine}, headers=HX).status_code == 200
    # childcare's kept edit is sent again, with its old base
    again = cc.post(url, data={"q-consultation": mine, "v-consultation": 1, "has_base": "1",
                               "b:q-consultation": start}, headers=HX)
    body = again.get_data(as_text=True)
    assert again.status_code == 200
    assert answer(app, "consultation").value == both and answer(app, "consultation").version == 3
    shown = re.search(r'data-merged="consultation">(.*?)</script>', body)
    assert shown is not None, "the field must be given the answer it now differs from"
    assert json.loads(shown.group(1)) == [["q-consultation", both]]
    version = formdata.by_id(body, "v-consultation")
    assert version is not None and version.get("value") == "3"


def test_ticks_of_two_people_are_merged(world, app: Flask, lib: FlaskClient) -> None:
    url = sheet_url(world, 1, "bibliotheek") + "/vraag/aims"
    data = {"q-aims--present": "1", "has_base": "1", "b:q-aims--present": "1"}
    assert lib.post(url, data={**data, "q-aims": ["trust"], "v-aims": 0}, headers=HX).status_code == 200
    # a second tab of the same organisation, still on version 0, ticks another aim
    other = lib.post(url, data={**data, "q-aims": ["home_environment"], "v-aims": 0}, headers=HX)
    assert other.status_code == 200
    assert answer(app, "aims").value == ["home_environment", "trust"]


# --- step 5's theme counts: only from THEME_MIN_CONVERSATIONS conversations on (k-anonymity) -------------

def _set_conversations(app: Flask, rows: list[dict]) -> None:
    with app.app_context():
        stored = db.session.scalar(select(Answer).where(Answer.question == "conversations"))
        stored.value = rows
        db.session.flush()


def _support_counts(page: str) -> dict[str, int]:
    """The bars of the overview's "support wishes" list, read from the page: label -> count."""
    match = re.search(r"<h3>Waar willen de ouders ondersteuning bij\?</h3>\s*<ul class=\"bars\">(.*?)</ul>", page, re.S)
    if match is None:
        return {}
    found = re.findall(r'<span class="bars__label">([^<]+)</span>.*?<span class="bars__n">(\d+) keer</span>',
                       match.group(1), flags=re.S)
    return {label: int(n) for label, n in found}


def test_theme_counts_hidden_below_the_threshold_for_both_organisations_and_in_the_plan(
        world, app: Flask, lib: FlaskClient, cc: FlaskClient) -> None:
    """With 4 conversations a count can be one family: no counts anywhere, a clear message;
    the fifth conversation shows them, to the library and to childcare (which leads step 5)."""
    assert app.config["THEME_MIN_CONVERSATIONS"] == 5
    with app.app_context():
        d = driver(world)
        d.through(4)
        d.fill_joint(5)
        rows = db.session.scalar(select(Answer).where(Answer.question == "conversations")).value
    assert len(rows) == 6
    url = sheet_url(world, 5, "samen")
    _set_conversations(app, rows[:4])
    plan = f"/samenwerkingen/{world.ids['partnership_a']}/plan"
    for client in (lib, cc):
        page = client.get(url).get_data(as_text=True)
        assert "Overzicht van de gesprekken met ouders" in page and "4 gesprekken" in page
        assert "Te weinig gesprekken om te tonen" in page
        assert _support_counts(page) == {}, "no theme count below the threshold"
        document = client.get(plan).get_data(as_text=True)
        assert "Te weinig gesprekken om te tonen" in document and "Aantal keer" not in document
    _set_conversations(app, rows[:5])
    for client in (lib, cc):
        page = client.get(url).get_data(as_text=True)
        assert "5 gesprekken" in page and "Te weinig gesprekken" not in page
        counts = _support_counts(page)
        # rec-1..rec-5 of the demo content, counted by hand
        assert counts["Voorlezen"] == 3 and counts["Eigen lezen en schrijven"] == 2, counts
        document = client.get(plan).get_data(as_text=True)
        assert "Aantal keer" in document and "Te weinig gesprekken" not in document
    assert "Gezin A" not in lib.get(url).get_data(as_text=True)


def test_theme_threshold_is_configurable(world, app: Flask, lib: FlaskClient) -> None:
    with app.app_context():
        d = driver(world)
        d.through(4)
        d.fill_joint(5)
    app.config["THEME_MIN_CONVERSATIONS"] = 7
    page = lib.get(sheet_url(world, 5, "samen")).get_data(as_text=True)
    assert "6 gesprekken" in page and "vanaf 7 gesprekken" in page and _support_counts(page) == {}


def test_a_row_heading_is_its_main_text_never_an_option_key(world, app: Flask, lib: FlaskClient) -> None:
    """A row's heading ("Rij 1: ...") is its first text or line column in the question's
    order, whatever order the cells are stored in (PostgreSQL's jsonb sorts the keys, so a
    row added with "+ Rij toevoegen" stored "theme" or "deadline" before "action")."""
    rows = [{"id": "r-a", "cells": {"theme": "communication", "deadline": "2027-01-04",
                                    "action": "Nieuwsbrief aan ouders"}},
            {"id": "r-b", "cells": {"deadline": "2027-01-04", "theme": "policy"}}]
    with app.app_context():
        d = driver(world)
        d.through(6)
        d.fill("library", 7, "joint", {"action_schema": rows})
    page = formdata.parse(lib.get(sheet_url(world, 7, "samen")).get_data(as_text=True))
    legends = {card.get("id"): "".join(card.find("{http://www.w3.org/1999/xhtml}legend").itertext())
               for card in page.iter("{http://www.w3.org/1999/xhtml}fieldset") if card.get("id", "").startswith("row-")}
    assert legends["row-action_schema-r-a"] == "Rij 1: Nieuwsbrief aan ouders"
    assert legends["row-action_schema-r-b"] == "Rij 2"  # no action typed yet: no option key, no label
    # A table without a text column: its first column as shown (the option's label).
    question = get_definition(1).step(7).question("action_schema")
    choices = dataclasses.replace(question, columns=[c for c in question.columns if c.type == "choice"])
    with app.test_request_context():
        assert display.row_heading(choices, rows[0]["cells"]) == "Communicatie"
        assert display.row_heading(question, rows[1]["cells"]) == ""


def test_a_thread_answer_updates_the_questions_comment_count(world, app: Flask, lib: FlaskClient,
                                                             cc: FlaskClient, joint4: str) -> None:
    """Posting, resolving and reopening answer with the thread and, out of band, the count in
    the question's "Opmerkingen" summary; a resolved thread's badge says "afgehandeld" (as
    the thread does; "afgerond" is said of steps). A comment being written is sent along
    with resolve/reopen and comes back in the box, its mentions ticked."""
    url = f"{joint4}/vraag/target_parents/opmerkingen"

    def count(body: str, oob: bool = True) -> str:
        found = formdata.parse(body).find(".//*[@id='comment-count-target_parents']")
        assert found is not None, body
        assert found.get("hx-swap-oob") == ("true" if oob else None)
        return " ".join("".join(found.itertext()).split())

    posted = lib.post(url, data={"body": "Eerste opmerking"}, headers=HX).get_data(as_text=True)
    assert count(posted) == "1"
    assert "Je opmerking is geplaatst." in posted and " autofocus" in posted
    with app.app_context():
        cc_id = db.session.scalar(select(User.public_id).where(User.email == world.emails["cc_a"]))
    resolved = lib.post(f"{url}/status", data={"resolved": "1", "body": "Half geschreven", "mentions": [cc_id]},
                        headers=HX).get_data(as_text=True)
    assert count(resolved) == "1 · afgehandeld"
    assert ">Half geschreven</textarea>" in resolved
    assert f'value="{cc_id}" checked' in resolved
    page = lib.get(joint4).get_data(as_text=True)
    assert count(page, oob=False) == "1 · afgehandeld"
    reopened = lib.post(f"{url}/status", data={"resolved": "0"}, headers=HX).get_data(as_text=True)
    assert count(reopened) == "1"
    assert count(cc.post(url, data={"body": "Tweede"}, headers=HX).get_data(as_text=True)) == "2"


def test_the_librarys_open_step5_hears_of_a_new_conversation(world, app: Flask, lib: FlaskClient) -> None:
    """The page says partners' changes show within seconds: the library's open step 5 gets
    the overview again from the change feed when childcare records a conversation."""
    from tests.test_change_feed import params

    with app.app_context():
        d = driver(world)
        d.through(4)
        d.fill_joint(5)
        rows = db.session.scalar(select(Answer).where(Answer.question == "conversations")).value
        d.fill("childcare", 5, "joint", {"conversations": rows[:5]})
    url = sheet_url(world, 5, "samen")
    page = lib.get(url).get_data(as_text=True)
    assert "5 gesprekken" in page
    query = {**params(page), "signed": ""}
    lib.get(f"{url}/wijzigingen", query_string=query, headers=HX)  # the first poll: presence
    quiet = lib.get(f"{url}/wijzigingen", query_string=query, headers=HX)
    assert quiet.status_code == 204 or 'id="tally"' not in quiet.get_data(as_text=True)
    with app.app_context():
        driver(world).fill("childcare", 5, "joint", {"conversations": rows[:6]})  # a sixth conversation
    news = lib.get(f"{url}/wijzigingen", query_string=query, headers=HX).get_data(as_text=True)
    tally = formdata.by_id(news, "tally")
    assert tally is not None and tally.get("hx-swap-oob") == "true"
    assert "6 gesprekken" in "".join(tally.itertext()) and "Gezin" not in news
