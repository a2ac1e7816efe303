"""AVG: export, deletion with the cascade of docs/privacy.md, retention, audit log page."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.audit.models import AuditEvent
from stappenplan.extensions import db, utcnow
from stappenplan.organisations.models import Organisation
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow import services as workflow
from stappenplan.worksheets.models import Answer, AnswerRevision, Comment
from tests.factories import PASSWORD, login
from tests.factories import driver as _driver


def test_export_contains_own_data_only(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.own_steps(3, 2)
        d.fill("childcare", 3, "childcare", {"other_value": "Geheim van de opvang"})
    client = app.test_client()
    login(client, world.emails["lib_a"])
    response = client.post("/organisatie/gegevens/export.json")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["organisatie"]["naam"] == "Bibliotheek A"
    assert {m["email"] for m in data["leden"]} == {world.emails["lib_a"], world.emails["lib_a_member"]}
    text = json.dumps(data, ensure_ascii=False)
    assert "We zien dat veel ouders" in text  # own step 1
    assert "Geheim van de opvang" not in text  # the partner's own step
    member = app.test_client()
    login(member, world.emails["lib_a_member"])
    assert member.post("/organisatie/gegevens/export.json").status_code == 403


def test_delete_account_keeps_work_as_deleted_user(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.own_steps(3, 3)
        member = db.session.scalar(select(User).where(User.email == world.emails["cc_a_member"]))
        d.users["childcare"] = member
        d.fill("childcare", 4, "joint", {"target_parents": "Door het lid geschreven"})
        from stappenplan.worksheets import comments, services

        comments.add_comment(services.load_sheet(d.p, "childcare", 4, "joint"), member, "target_parents",
                             "Opmerking van het lid", [])
    client = app.test_client()
    login(client, world.emails["cc_a_member"])
    wrong = client.post("/account/verwijderen", data={"password": "verkeerd-wachtwoord"})
    assert "Dit is niet je wachtwoord" in wrong.get_data(as_text=True)
    assert client.post("/account/verwijderen", data={"password": PASSWORD}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == world.emails["cc_a_member"])) is None
        answer = db.session.scalar(select(Answer).where(Answer.question == "target_parents"))
        assert answer.value == "Door het lid geschreven" and answer.updated_by_id is None
        comment = db.session.scalar(select(Comment))
        assert comment.body == "Opmerking van het lid" and comment.author_id is None
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.actor_pseudonym.like("gebruiker-%"))) >= 1
    lib = app.test_client()
    login(lib, world.emails["lib_a"])
    history = lib.get(f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen/vraag/target_parents/geschiedenis")
    assert "verwijderde gebruiker" in history.get_data(as_text=True)


def test_last_admin_cannot_delete_account(world, app: Flask) -> None:
    client = app.test_client()
    login(client, world.emails["cc_a"])
    response = client.post("/account/verwijderen", data={"password": PASSWORD})
    assert "laatste beheerder" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == world.emails["cc_a"])) is not None


def test_delete_organisation_cascades_as_documented(world, app: Flask) -> None:
    with app.app_context():
        _driver(world).own_steps(1, 1)
    client = app.test_client()
    login(client, world.emails["cc_a"])
    wrong = client.post("/organisatie/verwijderen", data={"confirm": "Opvang"})
    assert wrong.status_code == 422 and "precies over" in wrong.get_data(as_text=True)
    assert client.post("/organisatie/verwijderen", data={"confirm": "Opvang A"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Organisation).where(Organisation.name == "Opvang A")) is None
        assert db.session.scalar(select(User).where(User.email == world.emails["cc_a"])) is None
        assert db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"])) \
            is None
        library = db.session.scalar(select(Organisation).where(Organisation.name == "Bibliotheek A"))
        assert library is not None
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "partner_deleted",
                                                          AuditEvent.organisation_id == library.id)) is not None
        # the other tenant is untouched
        assert db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_b"]))
        from stappenplan.mail import outbox

        assert any("heeft Stappenplan verlaten" in m.subject for m in outbox())


def test_step5_records_are_purged_after_retention(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(8)
        cycle = workflow.current_cycle(d.p)
        record = db.session.scalar(select(Answer).where(Answer.question == "conversations"))
        assert record.value
        learned = db.session.scalar(select(Answer.value).where(Answer.question == "learned"))
        cycle.closed_at = utcnow() - timedelta(days=200)
        db.session.commit()
    runner = app.test_cli_runner()
    assert "Gespreksverslagen verwijderd: 0." in runner.invoke(args=["purge-records"]).output  # not yet 12 months
    with app.app_context():
        cycle = workflow.current_cycle(_driver(world).p)
        cycle.closed_at = utcnow() - timedelta(days=400)
        db.session.commit()
    assert "Gespreksverslagen verwijderd: 1." in runner.invoke(args=["purge-records"]).output
    with app.app_context():
        record = db.session.scalar(select(Answer).where(Answer.question == "conversations"))
        assert record.value is None
        assert db.session.scalar(select(func.count(AnswerRevision.id)).where(
            AnswerRevision.answer_id == record.id)) == 0
        assert db.session.scalar(select(Answer.value).where(Answer.question == "learned")) == learned


def test_audit_log_page(world, app: Flask) -> None:
    with app.app_context():
        _driver(world).own_steps(2, 0)
    client = app.test_client()
    login(client, world.emails["lib_a"])
    page = client.get("/organisatie/logboek").get_data(as_text=True)
    assert "rondde stap 1 af" in page and "Admin" in page
    filtered = client.get("/organisatie/logboek?soort=leden").get_data(as_text=True)
    assert "rondde stap 1 af" not in filtered
    assert client.get("/organisatie/logboek?pagina=-1&soort=<x>").status_code == 200
    member = app.test_client()
    login(member, world.emails["lib_a_member"])
    assert member.get("/organisatie/logboek").status_code == 403
    other = app.test_client()
    login(other, world.emails["lib_b"])
    assert "rondde stap 1 af" not in other.get("/organisatie/logboek").get_data(as_text=True)


def test_every_recorded_event_reads_as_dutch_in_the_log(world, app: Flask) -> None:
    """Each kind of event the code records has a sentence (``describe.text_for`` or the
    log's labels), so the log never shows an internal code; downloads are named."""
    import re
    from pathlib import Path

    from stappenplan.activity.describe import text_for
    from stappenplan.activity.log import LABELS

    source = "\n".join(p.read_text() for p in Path("stappenplan").rglob("*.py"))
    kinds = set(re.findall(r'\brecord\(\s*"([a-z_.]+)"', source))
    kinds |= {f"workflow.{k}" for k in re.findall(r'Event\(\s*"([a-z_]+)"', source)}
    assert {"coordination.export", "plan_exported", "member_invited", "workflow.signed_off"} <= kinds
    with app.test_request_context():
        for kind in sorted(kinds):
            detail = {"step": 1, "cycle": 1, "number": 2, "rows": 2, "format": "csv"}
            described = text_for(AuditEvent(kind=kind, detail=detail))
            assert described or kind in LABELS, kind
    client = app.test_client()
    login(client, world.emails["coord_a"])
    assert client.get("/regio/export.csv").status_code == 200
    page = " ".join(client.get("/organisatie/logboek").get_data(as_text=True).split())
    assert "downloadde het regio-overzicht" in page and "coordination.export" not in page


def test_the_log_says_whose_role_changed_and_not_who_opened_a_step(world, app: Flask) -> None:
    from stappenplan.organisations import services as organisations

    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        member = db.session.scalar(select(User).where(User.email == world.emails["lib_a_member"]))
        organisations.change_role(admin, member.membership, "admin", None)
        name = member.name
        db.session.commit()
        _driver(world).own_steps(1, 0)  # completing step 1 opens step 2
        db.session.commit()
    client = app.test_client()
    login(client, world.emails["lib_a"])
    page = " ".join(client.get("/organisatie/logboek").get_data(as_text=True).split())
    assert f"maakte {name} beheerder" in page
    opened = re.search(r"<td>([^<]*)</td><td>Stap 2 staat open", page)
    assert opened is not None and opened.group(1) == "—"  # the system's doing, nobody's
