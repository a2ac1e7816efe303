"""Practice: what happens with the agreed plan, kept without reopening a step.

Records are made when steps 6 and 7 are agreed; both organisations keep them up at any
time (versioned, merged per field, audited); the approvals stay; the coordinator's
figures count them once, in the year of their date, whatever a new round copies.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.audit.models import AuditEvent
from stappenplan.coordination import outcomes
from stappenplan.extensions import db, local_today
from stappenplan.partnerships.models import Partnership
from stappenplan.practice import services as practice
from stappenplan.practice.models import PracticeRecord, PracticeRevision
from stappenplan.workflow import services as workflow
from stappenplan.workflow.engine import Action
from stappenplan.workflow.models import SignOff, StepInstance
from tests.factories import driver as _driver
from tests.factories import login

HX = {"HX-Request": "true"}
TODAY = local_today()


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _agreed(app: Flask, world, last: int = 7) -> None:
    """Partnership A through step ``last`` (demo content: two activities, two actions)."""
    with app.app_context():
        _driver(world).through(last)


def _records(app: Flask, world, kind: str | None = None) -> list[PracticeRecord]:
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        found = [r for r in practice.records_of(p) if kind is None or r.kind == kind]
        db.session.expunge_all()
        return found


def _url(world, suffix: str = "") -> str:
    return f"/samenwerkingen/{world.ids['partnership_a']}/praktijk{suffix}"


def _form(record: PracticeRecord, **changes: str) -> dict[str, str]:
    """What the card's form sends: the record's values, its version and base, with changes."""
    values = {name: ("" if value is None else (value.isoformat() if isinstance(value, date) else str(value)))
              for name, value in record.values().items()}
    data = {**values, "version": str(record.version), **{f"base_{k}": v for k, v in values.items()}}
    data.update(changes)
    return data


def _approvals(app: Flask, world) -> list[tuple[int, str, str]]:
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        cycle = workflow.current_cycle(p)
        return sorted(db.session.execute(
            select(StepInstance.step, StepInstance.status, SignOff.party)
            .join(SignOff, SignOff.step_instance_id == StepInstance.id, isouter=True)
            .where(StepInstance.cycle_id == cycle.id, StepInstance.slot == "joint")).all())


def test_agreeing_steps_six_and_seven_makes_the_records_of_practice(world, app: Flask) -> None:
    _agreed(app, world, 5)
    assert _records(app, world) == []
    with app.app_context():
        d = _driver(world)
        d.fill_joint(6)
        d.act("library", Action("sign_off", 6, "joint"))
        assert practice.records_of(d.p) == []  # one approval is no agreement
        d.act("childcare", Action("sign_off", 6, "joint"))
    activities = _records(app, world, "activity")
    assert [(r.source_row, r.title, r.status, r.version) for r in activities] == [
        ("act-1", "Voorleesochtend voor ouders en peuters", "planned", 1),
        ("act-2", "Liedjesmiddag", "planned", 1)]
    assert activities[0].date == TODAY - timedelta(days=14)
    assert _records(app, world, "action") == []
    with app.app_context():
        _driver(world).finish_joint(7)
    actions = _records(app, world, "action")
    assert [(r.source_row, r.who) for r in actions] == [("plan-1", "Bibliotheek"), ("plan-2", "Locatiemanager")]
    with app.app_context():
        revisions = db.session.scalars(select(PracticeRevision.kind)).all()
        assert revisions and set(revisions) <= {"plan", "edit"}


def test_both_keep_practice_up_and_no_step_is_reopened_or_approval_touched(world, app: Flask) -> None:
    _agreed(app, world)
    before = _approvals(app, world)
    assert ("completed" in {status for step, status, _party in before if step in (6, 7)})
    planned = next(r for r in _records(app, world, "activity") if r.source_row == "act-2")
    cc = _client(app, world.emails["cc_a"])
    held_on = (TODAY - timedelta(days=1)).isoformat()
    response = cc.post(_url(world, f"/{planned.public_id}"), headers=HX,
                       data=_form(planned, status="held", date=held_on, parents="7", children="9",
                                  note="Veel vaders kwamen mee."))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert f'id="praktijk-{planned.public_id}"' in body and "Opgeslagen: Liedjesmiddag." in body
    action = next(r for r in _records(app, world, "action") if r.source_row == "plan-2")
    lib = _client(app, world.emails["lib_a"])
    assert lib.post(_url(world, f"/{action.public_id}"), data=_form(action, status="done")).status_code == 302
    assert _approvals(app, world) == before  # no step reopened, every approval still there
    # As the browser reads it after a reload: the radio "Geweest" checked, the numbers in their fields.
    page = lib.get(_url(world)).get_data(as_text=True)
    card = page.split(f'id="praktijk-{planned.public_id}"')[1].split("</article>")[0]
    assert 'value="held" checked' in card
    assert 'name="parents" type="text" inputmode="numeric" autocomplete="off" value="7"' in card
    assert "Veel vaders kwamen mee." in card
    action_card = page.split(f'id="praktijk-{action.public_id}"')[1].split("</article>")[0]
    assert '<option value="done" selected>Klaar</option>' in action_card
    with app.app_context():
        kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("practice.%"))).all()
        assert kinds.count("practice.updated") >= 2
    activity = " ".join(lib.get(f"/samenwerkingen/{world.ids['partnership_a']}").get_data(as_text=True).split())
    assert "werkte de praktijk bij: Liedjesmiddag" in activity


def test_the_coordinators_figures_move_by_exactly_one_activity_and_seven_parents(world, app: Flask) -> None:
    _agreed(app, world)
    with app.app_context():
        org_id = db.session.scalar(select(User).where(User.email == world.emails["coord_a"])).membership.organisation_id
        before = outcomes.compute(org_id, TODAY.year, TODAY).region
        by_hand = db.session.execute(select(func.count(), func.sum(PracticeRecord.parents)).where(
            PracticeRecord.kind == "activity", PracticeRecord.status == "held",
            PracticeRecord.date >= date(TODAY.year, 1, 1))).one()
        assert (before.activities, before.parents.total) == (by_hand[0], by_hand[1] or 0)
    planned = next(r for r in _records(app, world, "activity") if r.source_row == "act-2")
    _client(app, world.emails["cc_a"]).post(_url(world, f"/{planned.public_id}"), data=_form(
        planned, status="held", date=TODAY.isoformat(), parents="7", children=""))
    with app.app_context():
        after = outcomes.compute(org_id, TODAY.year, TODAY).region
    assert after.activities == before.activities + 1
    assert after.parents.total == before.parents.total + 7
    assert after.children.unknown == before.children.unknown + 1  # left empty: unknown, never 0


def test_bad_input_gets_a_clear_message_and_loses_nothing(world, app: Flask) -> None:
    _agreed(app, world)
    planned = next(r for r in _records(app, world, "activity") if r.source_row == "act-2")
    cc = _client(app, world.emails["cc_a"])
    cases = [
        ({"status": "held", "date": ""}, "Vul de datum in waarop de activiteit was."),
        ({"status": "held", "date": (TODAY + timedelta(days=3)).isoformat()}, "nog in de toekomst"),
        ({"parents": "-2"}, "Vul een heel getal in van 0 tot en met 100.000."),
        ({"children": "veel"}, "Vul een getal in."),
        ({"date": "31-02-2026"}, "Dit is geen geldige datum."),
        ({"status": "weg"}, "Kies een van de gegeven mogelijkheden."),
        ({"note": "a\x00b"}, "stuurteken"),
    ]
    for changes, message in cases:
        response = cc.post(_url(world, f"/{planned.public_id}"), headers=HX,
                           data=_form(planned, **{"note": "Mijn aantekening", **changes}))
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and message in body, (changes, body[:300])
        if "note" not in changes:
            assert "Mijn aantekening" in body  # what was typed is shown again
    assert _records(app, world, "activity")[1].version == planned.version  # nothing was saved
    # The same without JavaScript: the page again, with the message, and a 422.
    plain = cc.post(_url(world, f"/{planned.public_id}"), data=_form(planned, parents="-1"))
    assert plain.status_code == 422 and "Vul een heel getal in" in plain.get_data(as_text=True)


def test_two_saves_at_once_merge_per_field_and_clash_only_on_the_same_field(world, app: Flask) -> None:
    _agreed(app, world)
    record = next(r for r in _records(app, world, "activity") if r.source_row == "act-2")
    lib, cc = _client(app, world.emails["lib_a"]), _client(app, world.emails["cc_a"])
    assert cc.post(_url(world, f"/{record.public_id}"), data=_form(record, parents="5")).status_code == 302
    # The library's form still holds the old version: it changed another field, which merges.
    assert lib.post(_url(world, f"/{record.public_id}"), data=_form(record, children="4")).status_code == 302
    merged = next(r for r in _records(app, world, "activity") if r.source_row == "act-2")
    assert (merged.parents, merged.children, merged.version) == (5, 4, record.version + 2)
    # Both changed the same field: a conflict that shows theirs and keeps mine.
    response = lib.post(_url(world, f"/{record.public_id}"), headers=HX, data=_form(record, parents="6"))
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "zette hier intussen:" in body and "<strong>5</strong>" in body
    assert 'name="parents" type="text" inputmode="numeric" autocomplete="off" value="6"' in body
    assert f'name="version" value="{merged.version}"' in body  # saving again decides
    again = lib.post(_url(world, f"/{record.public_id}"), data=_form(merged, parents="6"))
    assert again.status_code == 302
    assert next(r for r in _records(app, world, "activity") if r.source_row == "act-2").parents == 6
    history = lib.get(_url(world, f"/{record.public_id}/geschiedenis"), headers=HX).get_data(as_text=True)
    assert history.count("<li>") >= 4 and "Aantal ouders: 6" in history and "Aantal kinderen: 4" in history


def test_an_activity_that_was_not_planned_is_added_and_counted(world, app: Flask) -> None:
    _agreed(app, world)
    cc = _client(app, world.emails["cc_a"])
    bad = cc.post(_url(world, "/nieuw"), headers=HX, data={"title": "", "status": "held", "date": ""})
    assert bad.status_code == 422 and "Geef de activiteit een naam." in bad.get_data(as_text=True)
    assert bad.headers["HX-Retarget"] == "#praktijk-toevoegen"
    response = cc.post(_url(world, "/nieuw"), headers=HX, data={
        "title": "Spontane voorleesmiddag", "status": "held", "date": TODAY.isoformat(), "parents": "3",
        "children": "5", "note": ""})
    assert response.status_code == 200 and "Niet uit het plan" in response.get_data(as_text=True)
    added = [r for r in _records(app, world, "activity") if not r.planned]
    assert [(r.title, r.status, r.parents) for r in added] == [("Spontane voorleesmiddag", "held", 3)]


def test_agreeing_step_six_again_brings_the_records_in_line_and_keeps_what_happened(world, app: Flask) -> None:
    _agreed(app, world)
    held = next(r for r in _records(app, world, "activity") if r.source_row == "act-1")
    assert held.status == "held" and held.parents == 6  # the demo kept it
    with app.app_context():
        d = _driver(world)
        workflow.perform(d.p, d.users["library"], "library", Action("reopen", 6, "joint"), reason="Nieuwe activiteit")
        d.fill("library", 6, "joint", {"activities": [
            {"id": "act-2", "cells": {"activity": "Liedjesmiddag met ouders",
                                      "date": (TODAY + timedelta(days=30)).isoformat()}},
            {"id": "act-3", "cells": {"activity": "Taalcafé"}},
        ]})
        d.act("library", Action("sign_off", 6, "joint"))
        d.act("childcare", Action("sign_off", 6, "joint"))
    records = {r.source_row: r for r in _records(app, world, "activity")}
    assert set(records) == {"act-1", "act-2", "act-3"}
    assert not records["act-1"].in_plan and records["act-1"].status == "held" and records["act-1"].parents == 6
    assert records["act-2"].title == "Liedjesmiddag met ouders" and records["act-2"].in_plan
    assert records["act-2"].date == TODAY + timedelta(days=30)  # nobody kept it up yet: the plan's date
    assert records["act-3"].status == "planned"


def test_a_held_activity_of_round_one_counts_once_in_every_output(world, app: Flask) -> None:
    """Round 2 copies step 6's rows as drafts; the facts stay with round 1 and count once."""
    _agreed(app, world, 8)
    with app.app_context():
        d = _driver(world)
        d.act("library", Action("start_new_cycle"))
        d.through(5)
        d.fill("library", 6, "joint", {})  # round 2's step 6 is open, with last round's rows as drafts
        p = d.p
        assert workflow.current_cycle(p).number == 2
        org_id = db.session.scalar(select(User).where(User.email == world.emails["coord_a"])).membership.organisation_id
        held = db.session.scalars(select(PracticeRecord).where(PracticeRecord.status == "held")).all()
        assert len(held) == 1  # by hand: one activity took place (act-1, with 6 parents and 8 children)
        figures = outcomes.compute(org_id, TODAY.year, TODAY)
        assert (figures.region.activities, figures.region.parents.total, figures.region.children.total) == (1, 6, 8)
        assert dict(figures.rounds).get(2) is None or dict(figures.rounds)[2].activities == 0
    coordinator = _client(app, world.emails["coord_a"])
    page = " ".join(coordinator.get("/regio/resultaten").get_data(as_text=True).split())
    assert "<dt>Activiteiten gehouden</dt><dd>1</dd>" in page and "<dt>Ouders bereikt</dt><dd>6</dd>" in page
    report = " ".join(coordinator.get("/regio/jaarverslag").get_data(as_text=True).split())
    assert re.search(r"Activiteiten gehouden</dt>\s*<dd>1</dd>", report)
    from io import BytesIO

    from openpyxl import load_workbook
    from pypdf import PdfReader

    pdf = " ".join(" ".join(p.extract_text() for p in PdfReader(
        BytesIO(coordinator.get("/regio/jaarverslag.pdf").data)).pages).split())
    assert "Activiteiten gehouden 1" in pdf and "Ouders bereikt 6" in pdf and "Kinderen bereikt 8" in pdf
    workbook = load_workbook(BytesIO(coordinator.get("/regio/jaarverslag.xlsx").data))
    cells = {row[0]: row[1] for row in workbook.worksheets[0].iter_rows(values_only=True) if row and row[0]}
    assert cells["Activiteiten gehouden"] == 1 and cells["Ouders bereikt"] == 6
    # Round 2's own practice starts empty; round 1's is under "Eerdere rondes".
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PracticeRecord)
                                 .where(PracticeRecord.cycle_id == workflow.current_cycle(p).id)) == 0
    practice_page = _client(app, world.emails["lib_a"]).get(_url(world)).get_data(as_text=True)
    assert "Eerdere rondes" in practice_page and "Zodra jullie stap 6 samen hebben goedgekeurd" in practice_page


def test_coordinators_read_practice_and_outsiders_get_nothing(world, app: Flask) -> None:
    _agreed(app, world)
    record = _records(app, world, "activity")[0]
    coordinator = _client(app, world.emails["coord_a"])
    page = coordinator.get(_url(world)).get_data(as_text=True)
    assert "Alleen lezen" in page and "Voorleesochtend" in page and 'class="practice-form"' not in page
    assert coordinator.post(_url(world, f"/{record.public_id}"), data=_form(record, parents="1")).status_code == 404
    results = " ".join(coordinator.get("/regio/resultaten").get_data(as_text=True).split())
    assert 'id="h-practice"' in results and "Bibliotheek A" in results.split('id="h-practice"')[1]
    for email in (world.emails["coord_b"], world.emails["lib_b"], world.emails["cc_b"]):
        other = _client(app, email)
        assert other.get(_url(world)).status_code == 404
        assert other.get(_url(world, f"/{record.public_id}/geschiedenis")).status_code == 404
        assert other.post(_url(world, f"/{record.public_id}"), data=_form(record, parents="1")).status_code == 404
    # Another partnership's record through this partnership's address: 404 as well.
    with app.app_context():
        b = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_b"]))
    lib_b = _client(app, world.emails["lib_b"])
    assert lib_b.get(f"/samenwerkingen/{b.public_id}/praktijk/{record.public_id}/geschiedenis").status_code == 404
    assert _records(app, world, "activity")[0].version == record.version


def test_the_live_feed_says_nothing_until_the_partner_changes_something(world, app: Flask) -> None:
    _agreed(app, world)
    lib, cc = _client(app, world.emails["lib_a"]), _client(app, world.emails["cc_a"])
    page = lib.get(_url(world)).get_data(as_text=True)
    seq = int(re.search(r'data-seq="(\d+)"', page).group(1))
    assert lib.get(_url(world, f"/nieuws?sinds={seq}"), headers=HX).status_code == 204
    record = next(r for r in _records(app, world, "action") if r.source_row == "plan-2")
    cc.post(_url(world, f"/{record.public_id}"), data=_form(record, status="in_progress"))
    news = lib.get(_url(world, f"/nieuws?sinds={seq}"), headers=HX)
    body = news.get_data(as_text=True)
    assert news.status_code == 200
    assert f'id="praktijk-{record.public_id}"' in body and "hx-swap-oob=true" in body
    assert '<option value="in_progress" selected>Bezig</option>' in body
    assert f'sinds={seq + 1}' in body and "heeft 1 onderdeel bijgewerkt" in body
    # The partner adds an activity: it is added at the end of the list.
    cc.post(_url(world, "/nieuw"), data={"title": "Extra", "status": "planned", "date": "", "note": ""})
    added = lib.get(_url(world, f"/nieuws?sinds={seq + 1}"), headers=HX).get_data(as_text=True)
    assert 'hx-swap-oob="beforeend:#praktijk-lijst-activity"' in added and "Extra" in added


def test_step_eight_starts_from_practice_and_the_partnership_page_shows_it_at_a_glance(world, app: Flask) -> None:
    _agreed(app, world, 7)
    lib = _client(app, world.emails["lib_a"])
    sheet = " ".join(lib.get(f"/samenwerkingen/{world.ids['partnership_a']}/stap/8/samen").get_data(as_text=True)
                     .split())
    assert "Wat er deze ronde gebeurde" in sheet
    assert "1 activiteit geweest: 6 ouders, 8 kinderen" in sheet
    assert "Zes ouders kwamen. Samen een boek kiezen werkte goed." in sheet
    assert "0 van 2 acties klaar" in sheet
    overview = " ".join(lib.get(f"/samenwerkingen/{world.ids['partnership_a']}").get_data(as_text=True).split())
    assert "0 van 2 acties klaar" in overview and "1 activiteit geweest in" in overview
    assert "volgende activiteit" in overview


@pytest.mark.parametrize("who", ["lib_a", "coord_a"])
def test_the_plan_shows_practice_beside_the_agreed_plan(world, app: Flask, who: str) -> None:
    _agreed(app, world)
    plan = " ".join(_client(app, world.emails[who]).get(
        f"/samenwerkingen/{world.ids['partnership_a']}/plan").get_data(as_text=True).split())
    assert "In de praktijk: wat er met de activiteiten gebeurde" in plan
    assert "In de praktijk: hoe ver de acties zijn" in plan
    section = plan.split("In de praktijk: wat er met de activiteiten gebeurde")[1].split("</section>")[0]
    assert "Voorleesochtend voor ouders en peuters" in section and ">6<" in section


@pytest.mark.postgres
def test_practice_works_under_row_level_security_and_stays_in_its_tenant(world, app: Flask) -> None:
    """With the application role (row-level security): both partners keep practice, the
    coordinator reads it and writes none of it, and the other tenant sees no row of it."""
    from sqlalchemy import text

    from tests.test_rls import _as, _org_ids, secured_app

    _agreed(app, world)
    secured = secured_app()
    record = next(r for r in _records(app, world, "activity") if r.source_row == "act-2")
    cc = _client(secured, world.emails["cc_a"])
    assert cc.get(_url(world)).status_code == 200
    saved = cc.post(_url(world, f"/{record.public_id}"), headers=HX,
                    data=_form(record, status="held", date=TODAY.isoformat(), parents="3"))
    assert saved.status_code == 200, saved.get_data(as_text=True)[:500]
    lib = _client(secured, world.emails["lib_a"])
    assert lib.get(_url(world, "/nieuws?sinds=0"), headers=HX).status_code == 200
    assert lib.post(_url(world, "/nieuw"), data={"title": "Extra", "status": "planned"}).status_code == 302
    assert lib.post("/account/agenda").status_code == 302
    address = re.search(r'id="agenda-adres" type="text" readonly value="[^"]*?(/agenda/[^"]+)"',
                        lib.get("/account").get_data(as_text=True)).group(1)
    feed = secured.test_client().get(address)
    assert feed.status_code == 200 and b"SUMMARY:Activiteit: Liedjesmiddag" in feed.data
    coordinator = _client(secured, world.emails["coord_a"])
    assert "Liedjesmiddag" in coordinator.get(_url(world)).get_data(as_text=True)
    assert coordinator.get("/regio/resultaten").status_code == 200
    ids = _org_ids(app)
    everything = _as(app, "", "SELECT count(*) FROM practice_records", bypass="on")[0][0]
    assert everything >= 5
    assert _as(app, ids["Coördinatie A"], "SELECT count(*) FROM practice_records")[0][0] == everything
    for table in ("practice_records", "practice_revisions"):
        assert _as(app, ids["Coördinatie A"], f"UPDATE {table} SET id = id")[0] == 0
        for outsider in ("Bibliotheek B", "Opvang B", "Coördinatie B"):
            assert _as(app, ids[outsider], f"SELECT count(*) FROM {table}")[0][0] == 0, (table, outsider)
    with app.app_context():
        assert db.session.scalar(text("SELECT parents FROM practice_records WHERE public_id = :p"),
                                 {"p": record.public_id}) == 3


def test_practice_counts_as_activity_for_the_stalled_list(world, app: Flask) -> None:
    """A partnership whose plan is agreed and that keeps practice is not "stilgevallen"."""
    from datetime import datetime

    from stappenplan.workflow.models import Cycle

    _agreed(app, world)
    with app.app_context():
        long_ago = datetime.now() - timedelta(days=60)
        db.session.execute(Cycle.__table__.update().values(last_activity_at=long_ago))
        db.session.commit()
    from stappenplan.partnerships.summary import summaries

    def stalled() -> bool:
        with app.app_context():
            p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
            return summaries([p])[0].stalled

    assert stalled()
    record = next(r for r in _records(app, world, "action") if r.source_row == "plan-2")
    _client(app, world.emails["cc_a"]).post(_url(world, f"/{record.public_id}"), data=_form(record, note="Gestart"))
    assert not stalled()


def test_a_coordinator_sees_practice_per_partnership_of_a_branch(world, app: Flask) -> None:
    _agreed(app, world)
    coordinator = _client(app, world.emails["coord_a"])
    page = " ".join(coordinator.get(f"/regio/resultaten?vestiging={world.ids['lib_a']}").get_data(as_text=True)
                    .split())
    practice_part = page.split('id="h-practice"')[1].split("</section>")[0]
    assert "Bibliotheek A &amp; Opvang A" in practice_part
    row = practice_part.split("Bibliotheek A &amp; Opvang A")[1].split("</tr>")[0]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    assert cells == ["0 van 2", "0", "1"]  # the demo: no action done yet, none overdue, act-1 held
