"""Moving a running partnership from plan version 1 to 2: nothing is lost, nothing reopens.

Through the services (as the library admin's page and ``flask plan upgrade`` call them)
and through the pages the partners read: the preview, the plan with its "uit versie 1"
answers, the notification, the AVG export and the coordinator's versions in use.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from stappenplan.audit.models import AuditEvent
from stappenplan.extensions import db
from stappenplan.notifications.models import Notification
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow import services as workflow
from stappenplan.workflow import upgrading
from stappenplan.workflow.engine import Action
from stappenplan.workflow.models import Cycle
from stappenplan.worksheets.models import Answer, AnswerRevision, CommentThread
from tests.factories import driver, login, make_partnership

WHERE = "In het jaarplan van de opvang."
MONEY = "Uit het budget voor ouderbetrokkenheid."


def _v1_partnership_through_7(app: Flask, world) -> str:
    """World partnership A moved onto version 1 and worked through step 7 (agreed), with
    answers to the questions version 2 renames, merges and retires."""
    with app.app_context():
        d = driver(world)
        cycle = workflow.current_cycle(d.p)
        assert cycle.plan_version == 2  # new partnerships start on the newest version
        library, childcare = d.p.library, d.p.childcare
        db.session.delete(d.p)
        db.session.flush()
        p = make_partnership(library, childcare, d.users["library"], plan_version=1)
        db.session.flush()
        world.ids["partnership_a"] = p.public_id
        d = driver(world)
        d.own_steps(3, 3)
        for step in (4, 5, 6):
            d.finish_joint(step)
        d.fill_joint(7)
        d.fill("library", 7, "joint", {"recorded_where": WHERE, "funding": MONEY})
        d.act("library", Action("sign_off", 7, "joint"))
        d.act("childcare", Action("sign_off", 7, "joint"))
        db.session.commit()
        return p.public_id


def _answers(app: Flask, public_id: str) -> dict[tuple[int, str, str], object]:
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == public_id))
        cycle = workflow.current_cycle(p)
        by_id = {i.id: i for i in workflow.instances_of(cycle)}
        return {(by_id[i].step, by_id[i].slot, k): v for i, k, v in workflow.answers_of(list(by_id))}


def _upgrade(app: Flask, public_id: str) -> None:
    """Move the partnership to the newest version as ``flask plan upgrade`` does (no actor)."""
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == public_id))
        upgrading.upgrade(p, None)
        db.session.commit()


def _state(app: Flask, public_id: str):
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == public_id))
        cycle = workflow.current_cycle(p)
        return {(i.step, i.slot): (i.status, i.content_version, sorted((s.party, s.content_version)
                                                                       for s in i.signoffs))
                for i in workflow.instances_of(cycle)}


def test_upgrade_keeps_every_answer_status_and_approval(world, app: Flask) -> None:
    public_id = _v1_partnership_through_7(app, world)
    before = _answers(app, public_id)
    state = _state(app, public_id)
    assert before[(1, "library", "low_literacy_knowledge")]
    assert before[(6, "joint", "taalhuis_route")]
    assert state[(7, "joint")][0] == "completed"

    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == public_id))
        lib = driver(world).users["library"]
        preview = upgrading.plan_upgrade(p)
        assert preview is not None and not preview.done
        db.session.rollback()
        report = upgrading.upgrade(p, lib)
        db.session.commit()
        assert report is not None and report.done and (report.from_version, report.to_version) == (1, 2)

    after = _answers(app, public_id)
    assert _state(app, public_id) == state, "statuses, content versions and approvals stay as they were"
    for (step, slot, key), value in before.items():
        if key == "taalhuis_route":
            assert after[(step, slot, "taalhuis_handover")] == value
            assert (step, slot, key) not in after  # renamed: the same answer under its new key
        elif key in ("recorded_where", "funding"):
            assert after[(step, slot, key)] == value  # the sources stay where they were
            assert value in after[(step, slot, "embedding")]
        else:
            assert after[(step, slot, key)] == value, key  # retired ones included: nothing deleted
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == public_id))
        cycle = workflow.current_cycle(p)
        assert (cycle.plan_version, cycle.upgraded_from, p.plan_version) == (2, 1, 2)
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.partnership_id == p.id,
                                                             AuditEvent.kind == "workflow.plan_upgraded")).all()
        assert len(events) == 1 and events[0].detail["from"] == 1 and events[0].detail["to"] == 2
        # The renamed answer keeps its history; the merged one starts with an "upgrade" revision.
        renamed = db.session.scalar(select(Answer).where(Answer.question == "taalhuis_handover"))
        assert renamed is not None and db.session.scalar(
            select(AnswerRevision).where(AnswerRevision.answer_id == renamed.id)) is not None
        merged = db.session.scalar(select(Answer).where(Answer.question == "embedding"))
        kinds = db.session.scalars(select(AnswerRevision.kind).where(AnswerRevision.answer_id == merged.id)).all()
        assert kinds == ["upgrade"]
        # Idempotent: a second run finds the round on version 2 and changes nothing.
        assert upgrading.upgrade(p, None) is None
        db.session.commit()
        assert db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.kind == "workflow.plan_upgraded").order_by(AuditEvent.id.desc())) == events[0].id
    assert _answers(app, public_id) == after


def test_the_partner_is_told_and_the_pages_show_version_2_and_the_old_answers(world, app: Flask) -> None:
    public_id = _v1_partnership_through_7(app, world)
    lib, cc, other = app.test_client(), app.test_client(), app.test_client()
    login(lib, world.emails["lib_a"])
    login(cc, world.emails["cc_a"])
    login(other, world.emails["lib_b"])
    show = lib.get(f"/samenwerkingen/{public_id}").get_data(as_text=True)
    assert "Er is een nieuwe versie van het stappenplan: versie 2." in show
    assert f"/samenwerkingen/{public_id}/planversie" in show

    preview = lib.get(f"/samenwerkingen/{public_id}/planversie")
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert "Bijwerken naar versie 2" in page
    assert "Nieuwe vragen" in page and "Niet meer gevraagd" in page
    assert "1 antwoord krijgt de nieuwe vraag." in page or "antwoorden krijgen de nieuwe vraag" in page
    # The summary's figures, counted here from the stored answers: 3 move (a rename, a
    # merge of two), 2 retired (both organisations' step 1), the rest stay.
    stored = [v for v in _answers(app, public_id).values() if v is not None]
    assert (f"Voor jullie samenwerking: {len(stored) - 5} antwoorden blijven bij dezelfde vraag staan, 3 gaan naar "
            "een vraag met een nieuwe naam en 2 blijven leesbaar als ‘Uit versie 1’.") in _plain(page)
    # The childcare organisation may read it, not act on it; another tenant gets nothing.
    cc_page = cc.get(f"/samenwerkingen/{public_id}/planversie").get_data(as_text=True)
    assert "Bijwerken naar versie 2" not in cc_page and "Een beheerder van de bibliotheek kiest" in cc_page
    assert cc.post(f"/samenwerkingen/{public_id}/planversie").status_code == 404
    assert other.get(f"/samenwerkingen/{public_id}/planversie").status_code == 404
    assert other.post(f"/samenwerkingen/{public_id}/planversie").status_code == 404
    assert _state(app, public_id)[(7, "joint")][0] == "completed"
    with app.app_context():
        assert db.session.scalar(select(Cycle.plan_version).join(Partnership).where(
            Partnership.public_id == public_id)) == 1

    done = lib.post(f"/samenwerkingen/{public_id}/planversie", follow_redirects=True)
    assert done.status_code == 200
    assert "Het plan is bijgewerkt naar versie 2." in done.get_data(as_text=True)

    with app.app_context():
        notes = db.session.scalars(select(Notification).where(
            Notification.dedupe_key.like("plan-upgraded:%"))).all()
        told = {n.user_id for n in notes}
        assert told and all(n.link.endswith(f"/samenwerkingen/{public_id}/planversie") for n in notes)
    cc_after = cc.get(f"/samenwerkingen/{public_id}/planversie").get_data(as_text=True)
    assert "Wat er veranderde in versie 2" in cc_after
    plan = cc.get(f"/samenwerkingen/{public_id}/plan").get_data(as_text=True)
    assert "Versie 2" in plan and "bijgewerkt van versie 1" in plan
    # The library's retired step-1 answer is readable "uit versie 1" (shared after step 3).
    assert "Uit versie 1" in plan
    retired_text = _answers(app, public_id)[(1, "library", "low_literacy_knowledge")]
    assert _plain(retired_text) in _plain(plan)
    assert "Deze samenwerking werkt al" in lib.post(f"/samenwerkingen/{public_id}/planversie",
                                                     follow_redirects=True).get_data(as_text=True)


def _plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", str(html))).replace("&#39;", "'")


def test_a_new_round_after_a_version_1_round_starts_on_version_2_with_the_answers_moved(world, app: Flask) -> None:
    public_id = _v1_partnership_through_7(app, world)
    with app.app_context():
        d = driver(world)
        d.finish_joint(8)
        d.act("library", Action("start_new_cycle"))
        db.session.commit()
    after = _answers(app, public_id)
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == public_id))
        cycle = workflow.current_cycle(p)
        assert cycle.number == 2 and cycle.plan_version == 2 and cycle.upgraded_from is None
    assert after[(6, "joint", "taalhuis_handover")]
    assert WHERE in after[(7, "joint", "embedding")] and MONEY in after[(7, "joint", "embedding")]
    assert (1, "library", "low_literacy_knowledge") not in after  # retired: not asked in the new round


def test_comments_follow_a_renamed_question(world, app: Flask) -> None:
    public_id = _v1_partnership_through_7(app, world)
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == public_id))
        six = next(i for i in workflow.instances_of(workflow.current_cycle(p)) if i.step == 6)
        db.session.add(CommentThread(step_instance_id=six.id, question="taalhuis_route"))
        db.session.commit()
        upgrading.upgrade(p, None)
        db.session.commit()
        keys = set(db.session.scalars(select(CommentThread.question).where(CommentThread.step_instance_id == six.id)))
        assert "taalhuis_handover" in keys and "taalhuis_route" not in keys


def test_the_avg_export_holds_the_answers_version_2_no_longer_asks(world, app: Flask) -> None:
    import json

    public_id = _v1_partnership_through_7(app, world)
    retired = _answers(app, public_id)[(1, "library", "low_literacy_knowledge")]
    _upgrade(app, public_id)
    lib = app.test_client()
    login(lib, world.emails["lib_a"])
    data = json.loads(lib.post("/organisatie/gegevens/export.json").get_data(as_text=True))
    rounds = [r for p in data["samenwerkingen"] if p["kinderopvang"] == "Opvang A" for r in p["rondes"]]
    assert rounds[-1]["planversie"] == 2 and rounds[-1]["bijgewerkt_van_versie"] == 1
    step_1 = next(s for s in rounds[-1]["stappen"] if s["stap"] == 1 and s["werkblad"] == "library")
    assert step_1["antwoorden_uit_versie_1"] == {"low_literacy_knowledge": retired}
    # The childcare organisation's export holds none of the library's own step 1.
    cc = app.test_client()
    login(cc, world.emails["cc_a"])
    assert retired not in cc.post("/organisatie/gegevens/export.json").get_data(as_text=True)


def test_flask_plan_upgrade_dry_run_then_for_real_then_nothing(world, app: Flask) -> None:
    public_id = _v1_partnership_through_7(app, world)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["plan", "upgrade", "--to", "2", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{public_id} Bibliotheek A – Opvang A: zou gaan van versie 1 naar 2" in dry.output
    assert "stap 6: 1 antwoord naar een nieuwe vraag (samen: taalhuis_route → taalhuis_handover)" in dry.output
    assert "stap 7: 2 antwoorden naar een nieuwe vraag (samen: recorded_where+funding → embedding)" in dry.output
    assert ("stap 1: 2 antwoorden leesbaar als 'uit versie 1' (bibliotheek: low_literacy_knowledge, "
            "kinderopvang: low_literacy_knowledge)") in dry.output
    assert "staat al op versie 2" in dry.output  # partnership B started on version 2
    assert "1 samenwerking(en) zouden worden bijgewerkt, 1 stond(en) al op versie 2." in dry.output
    with app.app_context():
        assert db.session.scalar(select(Cycle.plan_version).join(Partnership).where(
            Partnership.public_id == public_id)) == 1
    real = runner.invoke(args=["plan", "upgrade", "--to", "2", "--partnership", public_id])
    assert real.exit_code == 0, real.output
    assert "ging van versie 1 naar 2" in real.output and "1 samenwerking(en) bijgewerkt" in real.output
    again = runner.invoke(args=["plan", "upgrade", "--to", "2"])
    assert "0 samenwerking(en) bijgewerkt, 2 stond(en) al op versie 2." in again.output
    assert runner.invoke(args=["plan", "upgrade", "--to", "7"]).exit_code != 0
    assert "bestaat niet" in runner.invoke(args=["plan", "upgrade", "--partnership", "onbekend"]).output


@pytest.fixture
def plans_with_a_required_step_4_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The plan directory with a version 2 that adds a required question to step 4."""
    from stappenplan.workflow import localize, plan_loader

    for name in ("v1.yaml", "v1.en.yaml", "v2.en.yaml"):
        shutil.copy(plan_loader.PLANS_DIR / name, tmp_path / name)
    data = yaml.safe_load((plan_loader.PLANS_DIR / "v2.yaml").read_text(encoding="utf-8"))
    data["steps"][3]["questions"].append({"key": "parents_signed", "type": "text", "required": True,
                                          "label": "Wat hebben de ouders mee afgesproken?"})
    (tmp_path / "v2.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    def clear() -> None:
        plan_loader.get_definition.cache_clear()
        localize.load_overlay.cache_clear()
        upgrading.added_keys.cache_clear()

    monkeypatch.setattr(plan_loader, "PLANS_DIR", tmp_path)
    monkeypatch.setattr(localize, "PLANS_DIR", tmp_path)
    clear()
    yield
    clear()


def test_a_new_required_question_in_a_completed_step_is_new_and_does_not_reopen_it(
        plans_with_a_required_step_4_question, world, app: Flask) -> None:
    public_id = _v1_partnership_through_7(app, world)
    state = _state(app, public_id)
    assert state[(4, "joint")][0] == "completed"
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == public_id))
        report = upgrading.upgrade(p, None)
        db.session.commit()
        step_4 = next(s for s in report.steps if s.number == 4)
        assert step_4.new_required_in_completed == ["parents_signed"]
    assert _state(app, public_id) == state  # still completed, both approvals on the same content
    lib = app.test_client()
    login(lib, world.emails["lib_a"])
    sheet = lib.get(f"/samenwerkingen/{public_id}/stap/4/samen").get_data(as_text=True)
    block = sheet[sheet.index('id="vraag-parents_signed"'):]
    block = block[:block.index("</section>")]
    assert "Nieuw in versie 2" in block
    assert "Nieuw in versie 2" not in sheet[:sheet.index('id="vraag-parents_signed"')].split(
        'id="vraag-parents_role"')[0]  # questions of version 1 are not marked
    # Step 8 (open) can still be worked on: the new question does not block what follows.
    assert _state(app, public_id)[(8, "joint")][0] == "open"


def test_the_worksheet_keeps_answers_version_2_no_longer_asks_readable_with_their_history(world, app: Flask) -> None:
    public_id = _v1_partnership_through_7(app, world)
    retired = _answers(app, public_id)[(1, "library", "low_literacy_knowledge")]
    _upgrade(app, public_id)
    lib, cc, other = app.test_client(), app.test_client(), app.test_client()
    login(lib, world.emails["lib_a"])
    login(cc, world.emails["cc_a"])
    login(other, world.emails["lib_b"])
    url = f"/samenwerkingen/{public_id}/stap/1/bibliotheek"
    for client in (lib, cc):  # the library's step 1 is shared with the partner after step 3
        page = client.get(url).get_data(as_text=True)
        box = page[page.index('id="uit-eerdere-versie"'):]
        assert "Uit versie 1" in box and _plain(retired) in _plain(box)
        assert 'name="low_literacy_knowledge"' not in page  # readable, not editable
    history = lib.get(f"{url}/vraag/low_literacy_knowledge/geschiedenis")
    assert history.status_code == 200
    text = history.get_data(as_text=True)
    assert _plain(retired) in _plain(text) and "herstellen" not in text
    assert lib.post(f"{url}/vraag/low_literacy_knowledge/herstellen", data={"revision": "1"}).status_code == 404
    assert other.get(f"{url}/vraag/low_literacy_knowledge/geschiedenis").status_code == 404
    assert lib.get(f"{url}/vraag/no_such_question/geschiedenis").status_code == 404
    # The merged answer's history says where it came from.
    merged = lib.get(f"/samenwerkingen/{public_id}/stap/7/samen/vraag/embedding/geschiedenis").get_data(as_text=True)
    assert "bij het bijwerken naar een nieuwe versie van het stappenplan" in merged
