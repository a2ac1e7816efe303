"""Completing and approving where the work is: the worksheet's own bar, the warning
before an edit withdraws the partner's approval, and the partnership page after an action."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.notifications.models import Notification
from stappenplan.workflow import services as workflow
from stappenplan.workflow.engine import Action
from stappenplan.workflow.models import StepInstance
from tests import formdata
from tests.factories import login
from tests.test_worksheets import HX, answer, driver, sheet_url


@pytest.fixture
def joint4(world, app: Flask) -> str:
    with app.app_context():
        driver(world).own_steps(3, 3)
    return sheet_url(world, 4, "samen")


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def test_bar_lists_missing_required_questions_and_completes_on_the_worksheet(world, app: Flask) -> None:
    lib = _client(app, world.emails["lib_a"])
    url = sheet_url(world, 1, "bibliotheek")
    page = lib.get(url).get_data(as_text=True)
    bar = formdata.by_id(page, "sheet-bar")
    assert bar is not None
    text = " ".join("".join(bar.itertext()).split())
    assert "0 van 2 verplichte vragen ingevuld" in text
    links = [a.get("href") for a in bar.iter(f"{formdata.NS}a")]
    assert links == ["#vraag-why", "#vraag-aims"]
    buttons = [" ".join("".join(b.itertext()).split()) for b in bar.iter(f"{formdata.NS}button")]
    assert buttons == ["Stap 1 afronden"]
    # Pressing it now explains what is missing, back on the worksheet.
    refused = lib.post(f"/samenwerkingen/{world.ids['partnership_a']}/actie", follow_redirects=True,
                       data={"kind": "complete", "step": 1, "slot": "library", "next": "sheet"})
    body = refused.get_data(as_text=True)
    assert refused.request.path == url and "Nog niet ingevuld: Waarom wil je (meer) met ouders samenwerken?" in body
    lib.post(f"{url}/vraag/why", data={"q-why": "Omdat het werkt.", "v-why": 0}, headers=HX)
    lib.post(f"{url}/vraag/aims", data={"q-aims": "trust", "q-aims--present": "1", "v-aims": 0}, headers=HX)
    text = " ".join("".join(formdata.by_id(lib.get(url).get_data(as_text=True), "sheet-bar").itertext()).split())
    assert "2 van 2 verplichte vragen ingevuld" in text and "Nog te doen" not in text
    done = lib.post(f"/samenwerkingen/{world.ids['partnership_a']}/actie", follow_redirects=True,
                    data={"kind": "complete", "step": 1, "slot": "library", "next": "sheet"})
    assert done.request.path == url
    body = done.get_data(as_text=True)
    assert "Stap 1 is afgerond" in body and formdata.by_id(body, "sheet-bar") is None


def test_bar_names_the_row_that_misses_a_required_column(world, app: Flask) -> None:
    with app.app_context():
        driver(world).own_steps(1, 0)
        driver(world).fill("library", 2, "library", {"current_activities": [
            {"id": "a1", "cells": {"activity": "Voorlezen"}}, {"id": "a2", "cells": {"parents_reached": 3}}]})
    lib = _client(app, world.emails["lib_a"])
    bar = formdata.by_id(lib.get(sheet_url(world, 2, "bibliotheek")).get_data(as_text=True), "sheet-bar")
    text = " ".join("".join(bar.itertext()).split())
    assert "rij 2 mist: Activiteit" in text


def test_editing_an_approved_step_warns_first_and_tells_the_partner(world, app: Flask, joint4: str) -> None:
    with app.app_context():
        d = driver(world)
        d.fill_joint(4)
        d.act("childcare", Action("sign_off", 4, "joint"))
    lib = _client(app, world.emails["lib_a"])
    page = lib.get(joint4).get_data(as_text=True)
    warning = formdata.by_id(page, "approval-warning")
    assert warning is not None and "Opvang A heeft deze stap al goedgekeurd" in "".join(warning.itertext())
    with app.app_context():
        outbox().clear()
    version = answer(app, "consultation").version if answer(app, "consultation") else 0
    saved = lib.post(f"{joint4}/vraag/consultation", data={"q-consultation": "Elke week even bellen.",
                                                          "v-consultation": version}, headers=HX)
    assert saved.status_code == 200
    with app.app_context():
        instance = db.session.scalar(select(StepInstance).where(StepInstance.step == 4))
        assert instance.signoffs == []
        notes = db.session.scalars(select(Notification).where(Notification.title.like("%goedkeuring van stap 4%")))
        assert len(notes.all()) == 2  # both members of the childcare organisation
        mails = [m for m in outbox() if "goedkeuring van stap 4 is vervallen" in m.subject]
        assert {m.to for m in mails} == {world.emails["cc_a"], world.emails["cc_a_member"]}
    assert formdata.by_id(lib.get(joint4).get_data(as_text=True), "approval-warning") is None


def test_action_on_the_partnership_page_updates_round_and_activity_without_reload(world, app: Flask) -> None:
    with app.app_context():
        d = driver(world)
        d.through(8)
    lib = _client(app, world.emails["lib_a"])
    response = lib.post(f"/samenwerkingen/{world.ids['partnership_a']}/actie", headers=HX,
                        data={"kind": "start_new_cycle"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    label = formdata.by_id(body, "round-label")
    assert label is not None and label.get("hx-swap-oob") == "true" and "Ronde 2" in "".join(label.itertext())
    activity = formdata.by_id(body, "activity")
    assert activity is not None and activity.get("hx-swap-oob") == "true"
    # The newest activity is round 2 opening step 1 again.
    assert " ".join("".join(activity.itertext()).split()).startswith("Activiteit Stap 1 staat open")
    with app.app_context():
        assert workflow.current_cycle(driver(world).p).number == 2


def _poll(client: FlaskClient, url: str, page: str):
    """One poll of the change feed with what ``page`` would send."""
    from tests.test_change_feed import params
    query = {**params(page), "signed": formdata.by_id(page, "sheet-signed").get("value")}
    return client.get(f"{url}/wijzigingen", query_string=query, headers=HX)


def test_an_open_worksheet_hears_of_the_partners_approval_and_its_withdrawal(world, app: Flask,
                                                                             joint4: str) -> None:
    with app.app_context():
        driver(world).fill_joint(4)
    lib = _client(app, world.emails["lib_a"])
    page = lib.get(joint4).get_data(as_text=True)
    assert _poll(lib, joint4, page).status_code == 204
    assert "".join(formdata.by_id(page, "approval-notice").itertext()).strip() == ""
    with app.app_context():
        driver(world).act("childcare", Action("sign_off", 4, "joint"))
    # No answer changed, yet the open page is told: the warning above the questions, the
    # bar's note, and what it sends with the next poll.
    news = _poll(lib, joint4, page)
    assert news.status_code == 200
    body = news.get_data(as_text=True)
    warning = formdata.by_id(body, "approval-warning")
    assert warning is not None and "Opvang A heeft deze stap al goedgekeurd" in "".join(warning.itertext())
    bar = " ".join("".join(formdata.by_id(body, "sheet-bar").itertext()).split())
    assert "Opvang A heeft deze stap al goedgekeurd" in bar and "Stap 4 goedkeuren" in bar
    assert formdata.by_id(body, "sheet-signed").get("value") == "childcare"
    heard = page.replace('name="signed" value=""', 'name="signed" value="childcare"')
    assert _poll(lib, joint4, heard).status_code == 204
    # The partner takes it back: the warning goes, at the next poll.
    with app.app_context():
        driver(world).act("childcare", Action("withdraw_sign_off", 4, "joint"))
    withdrawn = _poll(lib, joint4, heard).get_data(as_text=True)
    assert formdata.by_id(withdrawn, "approval-warning") is None
    assert formdata.by_id(withdrawn, "approval-notice") is not None
    assert "heeft deze stap al goedgekeurd" not in withdrawn
    assert formdata.by_id(withdrawn, "sheet-signed").get("value") == ""


def test_completing_the_last_private_step_asks_first_on_the_worksheet_and_the_partnership_page(
        world, app: Flask) -> None:
    """Step 3's completion shows the organisation's answers of steps 1-3 to the partner,
    which cannot be taken back: both of its buttons ask; steps 1 and 2 do not."""
    with app.app_context():
        driver(world).own_steps(2, 0)
    lib = _client(app, world.emails["lib_a"])
    bar = formdata.by_id(lib.get(sheet_url(world, 3, "bibliotheek")).get_data(as_text=True), "sheet-bar")
    form = next(bar.iter(f"{formdata.NS}form"))
    assert form.get("data-confirm") == ("Stap 3 afronden? Daarna ziet Opvang A jullie antwoorden van stap 1 tot en "
                                        "met 3. Dat kun je niet ongedaan maken.")
    page = lib.get(f"/samenwerkingen/{world.ids['partnership_a']}").get_data(as_text=True)
    asks = [f.get("hx-confirm") for f in formdata.parse(page).iter(f"{formdata.NS}form")
            if f.get("hx-confirm") and "afronden" in f.get("hx-confirm")]
    assert asks == ["Stap 3 afronden? Daarna ziet Opvang A jullie antwoorden van stap 1 tot en met 3. "
                    "Dat kun je niet ongedaan maken."]
    cc = _client(app, world.emails["cc_a"])
    first = formdata.by_id(cc.get(sheet_url(world, 1, "kinderopvang")).get_data(as_text=True), "sheet-bar")
    assert all(f.get("data-confirm") is None for f in first.iter(f"{formdata.NS}form"))
