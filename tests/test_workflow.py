"""The workflow persisted: transitions with audit events, the timeline page, new cycles."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.audit.models import AuditEvent
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow import services as workflow
from stappenplan.workflow.engine import Action, ActionRefused
from stappenplan.workflow.models import Cycle, SignOff, StepInstance
from stappenplan.workflow.plan_loader import latest_version
from stappenplan.worksheets.models import Answer
from tests.factories import driver as _driver
from tests.factories import login, make_partnership


def _status(partnership: Partnership, step: int, slot: str) -> str:
    cycle = workflow.current_cycle(partnership)
    return db.session.scalar(select(StepInstance.status).where(
        StepInstance.cycle_id == cycle.id, StepInstance.step == step, StepInstance.slot == slot))


def test_new_partnership_opens_step_one_for_both(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        assert _status(d.p, 1, "library") == "open" and _status(d.p, 1, "childcare") == "open"
        assert _status(d.p, 2, "library") == "locked" and _status(d.p, 4, "joint") == "locked"
        kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.partnership_id == d.p.id)).all()
        assert kinds.count("workflow.step_opened") == 2


def test_complete_requires_answers_and_writes_one_event_per_transition(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        try:
            d.act("library", Action("complete", 1, "library"))
        except ActionRefused as refusal:
            assert {q.key for q in refusal.missing} == {"why", "aims"}
        else:
            raise AssertionError("completing without answers must be refused")
        before = db.session.scalar(select(func.count(AuditEvent.id)))
        d.fill("library", 1, "library", {"why": "Omdat het kan.", "aims": ["trust"]})
        edit_events = db.session.scalar(select(func.count(AuditEvent.id))) - before
        assert edit_events == 0  # an edit without a transition writes no workflow event
        d.act("library", Action("complete", 1, "library"))
        events = db.session.scalars(
            select(AuditEvent.kind).where(AuditEvent.partnership_id == d.p.id).order_by(AuditEvent.id)
        ).all()
        assert events[-2:] == ["workflow.step_completed", "workflow.step_opened"]
        assert _status(d.p, 2, "library") == "open" and _status(d.p, 2, "childcare") == "locked"


def test_joint_step_completes_with_both_signoffs_and_edit_withdraws(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.own_steps(3, 3)
        assert _status(d.p, 4, "joint") == "open"
        d.fill_joint(4)
        d.act("library", Action("sign_off", 4, "joint"))
        assert db.session.scalar(select(func.count(SignOff.id))) == 1
        # an edit by the childcare organisation withdraws the library's sign-off
        d.fill("childcare", 4, "joint", {"target_parents": "Alle ouders van de peutergroep."})
        assert db.session.scalar(select(func.count(SignOff.id))) == 0
        kinds = db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id.desc()).limit(1)).all()
        assert kinds == ["workflow.sign_off_withdrawn"]
        d.act("library", Action("sign_off", 4, "joint"))
        d.act("childcare", Action("sign_off", 4, "joint"))
        assert _status(d.p, 4, "joint") == "completed" and _status(d.p, 5, "joint") == "open"


def test_step_five_is_completed_by_childcare(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(4)
        d.fill_joint(5)
        try:
            d.act("library", Action("complete", 5, "joint"))
        except ActionRefused as refusal:
            assert "kinderopvang" in refusal.message
        else:
            raise AssertionError("the library may not complete step 5")
        d.act("childcare", Action("complete", 5, "joint"))
        assert _status(d.p, 6, "joint") == "open"


def test_reopen_needs_admin_and_reason(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.own_steps(2, 0)
        member = db.session.scalar(select(User).where(User.email == world.emails["lib_a_member"]))
        try:
            workflow.perform(d.p, member, "library", Action("reopen", 1, "library"), reason="typfout")
        except ActionRefused:
            pass
        else:
            raise AssertionError("a member may not reopen")
        try:
            d.act("library", Action("reopen", 1, "library"))
        except ActionRefused as refusal:
            assert "reden" in refusal.message
        else:
            raise AssertionError("reopening needs a reason")
        workflow.perform(d.p, d.users["library"], "library", Action("reopen", 1, "library"), reason="Aanvulling")
        assert _status(d.p, 1, "library") == "open"
        assert _status(d.p, 3, "library") == "open"  # later open steps stay open
        event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        assert event.kind == "workflow.step_reopened" and event.detail["reason"] == "Aanvulling"


def test_the_reason_for_reopening_an_own_step_stays_with_its_side(world, app: Flask) -> None:
    """It may quote the step's content: the partner and the coordinator read only that the
    step was reopened; a joint step's reason is for both."""
    with app.app_context():
        d = _driver(world)
        d.own_steps(2, 0)
        workflow.perform(d.p, d.users["library"], "library", Action("reopen", 1, "library"),
                         reason="Ons geheime antwoord klopte niet")
    url = f"/samenwerkingen/{world.ids['partnership_a']}"
    pages = {}
    for who in ("lib_a", "cc_a", "coord_a"):
        client = app.test_client()
        login(client, world.emails[who])
        pages[who] = client.get(url).get_data(as_text=True) + client.get("/start").get_data(as_text=True)
    assert "Ons geheime antwoord klopte niet" in pages["lib_a"]
    for who in ("cc_a", "coord_a"):
        assert "Ons geheime antwoord klopte niet" not in pages[who]
    assert "heropende stap 1 (de bibliotheek)" in pages["cc_a"]


def test_step_eight_closes_cycle_and_new_cycle_starts_with_drafts(world, app: Flask) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(8)
        cycle = workflow.current_cycle(d.p)
        assert cycle.closed_at is not None and cycle.number == 1
        d.act("childcare", Action("start_new_cycle"))
        new = workflow.current_cycle(d.p)
        assert new.number == 2 and new.closed_at is None
        assert _status(d.p, 1, "library") == "open" and _status(d.p, 4, "joint") == "locked"
        drafts = db.session.scalars(
            select(Answer).join(StepInstance).where(StepInstance.cycle_id == new.id)
        ).all()
        assert drafts and all(a.draft for a in drafts)
        keys = {a.question for a in drafts}
        assert "why" in keys and "shared_goals" in keys
        assert "conversations" not in keys  # conversation records never carry over
        assert db.session.scalar(select(func.count(Cycle.id)).where(Cycle.partnership_id == d.p.id)) == 2


def test_running_partnership_keeps_its_plan_version(world, app: Flask) -> None:
    """New partnerships start on the newest version; one that started on version 1 keeps
    answering to it (only its library admin's explicit upgrade moves it)."""
    with app.app_context():
        d = _driver(world)
        assert workflow.current_cycle(d.p).plan_version == latest_version() == 2
        library, childcare, lib = d.p.library, d.p.childcare, d.users["library"]
        db.session.delete(d.p)
        db.session.flush()
        old = make_partnership(library, childcare, lib, plan_version=1)
        db.session.commit()
        cycle = workflow.current_cycle(old)
        assert cycle.plan_version == 1 and workflow.plan_for(cycle).version == 1
        assert workflow.plan_for(cycle).step(1).question("low_literacy_knowledge")


def test_timeline_page_shows_exactly_the_allowed_actions(world, app: Flask) -> None:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    url = f"/samenwerkingen/{world.ids['partnership_a']}"
    page = client.get(url).get_data(as_text=True)
    assert "Begin met het waarom" in page and "Doel van deze stap" in page
    assert "Stap 1 afronden" in page
    assert "Stap 2 afronden" not in page and "goedkeuren" not in page.lower().replace("goedgekeurd", "")
    # Refused completion via htmx: the timeline partial lists what is missing.
    response = client.post(url + "/actie", data={"kind": "complete", "step": "1", "slot": "library"},
                           headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert "Nog niet ingevuld" in body and "Waarom wil je" in body
    coordinator = app.test_client()
    login(coordinator, world.emails["coord_a"])
    page = coordinator.get(url).get_data(as_text=True)
    assert "Alleen lezen" in page and "afronden" not in page
    assert coordinator.post(url + "/actie", data={"kind": "complete", "step": "1"}).status_code == 404


def test_action_form_rejects_nonsense(world, app: Flask) -> None:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    url = f"/samenwerkingen/{world.ids['partnership_a']}/actie"
    for data in ({"kind": "explode"}, {"kind": "complete", "step": "99"}, {"kind": "complete", "step": "x"},
                 {"kind": "complete", "step": "1", "slot": "mars"}, {}):
        response = client.post(url, data=data)
        assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.kind == "workflow.step_completed")) == 0


def test_partnership_page_renders_for_every_demo_state(app: Flask) -> None:
    from stappenplan import demo

    with app.app_context():
        demo.seed()
        ids = db.session.scalars(select(Partnership.public_id)).all()
    for email in ("bibliotheek@demo.stappenplan.nl", "culemborg@demo.stappenplan.nl",
                  "opvang@demo.stappenplan.nl", "coordinator@demo.stappenplan.nl"):
        client = app.test_client()
        login(client, email, demo.PASSWORD)
        home = client.get("/start").get_data(as_text=True)
        for pid in ids:
            if pid in home:
                page = client.get(f"/samenwerkingen/{pid}")
                assert page.status_code == 200
                assert re.search(r"Ronde [12]", page.get_data(as_text=True))


def _main_actions(page: str) -> list[str]:
    """The texts of the page's primary buttons and links (its main actions)."""
    return [" ".join(re.sub(r"<[^>]+>", " ", m).split())
            for m in re.findall(r'<(?:a|button)[^>]*class="[^"]*btn--primary[^"]*"[^>]*>(.*?)</(?:a|button)>',
                                page, flags=re.S)]


def test_partnership_page_has_one_main_action_to_the_next_step_and_a_progress_bar(world, app: Flask) -> None:
    url = f"/samenwerkingen/{world.ids['partnership_a']}"
    client = app.test_client()
    login(client, world.emails["lib_a"])
    page = client.get(url).get_data(as_text=True)
    assert _main_actions(page) == ["Ga verder met stap 1 : Begin met het waarom"]
    assert f'href="{url}/stap/1/bibliotheek"' in page.split("Ga verder met stap 1")[0].rsplit("<a", 1)[1]
    assert re.search(r'<label for="plan-progress">0 van 8 stappen afgerond</label>\s*'
                     r'<progress id="plan-progress" max="8" value="0">', page)
    with app.app_context():
        _driver(world).own_steps(3, 3)
    page = client.get(url).get_data(as_text=True)
    [action] = _main_actions(page)
    assert action.startswith("Ga verder met stap 4 : ")
    assert "3 van 8 stappen afgerond" in page and '<progress id="plan-progress" max="8" value="3">' in page
    # "Doel en voor wie" is closed for every step: the page leads with the one action.
    assert page.count('<details class="step__about">') == 5 and "step__about\" open" not in page
    # A coordinator reads along: no main action.
    coordinator = app.test_client()
    login(coordinator, world.emails["coord_a"])
    page = coordinator.get(url).get_data(as_text=True)
    assert _main_actions(page) == [] and "3 van 8 stappen afgerond" in page


def test_edit_asks_the_engine_before_the_writer_runs_and_settles_only_a_change(world, app: Flask) -> None:
    """``workflow.edit`` is the one entry for changing a step's content: a refused edit
    never reaches the writer; a write that changed nothing voids no sign-off and audits
    nothing; a change voids the partner's approval, audited, in the same call."""
    with app.app_context():
        d = _driver(world)
        d.own_steps(3, 3)
        d.fill_joint(4)
        d.act("library", Action("sign_off", 4, "joint"))
        db.session.commit()
        calls: list[str] = []

        def writer(changed: bool):
            def write() -> workflow.Written[str]:
                calls.append("write")
                return workflow.Written("done", changed=changed)
            return write

        events_before = db.session.scalar(select(func.count(AuditEvent.id)))
        assert workflow.edit(d.p, d.users["childcare"], "childcare", 4, "joint", writer(False)) == "done"
        assert db.session.scalar(select(func.count(SignOff.id))) == 1  # nothing changed: the approval stands
        assert db.session.scalar(select(func.count(AuditEvent.id))) == events_before

        assert workflow.edit(d.p, d.users["childcare"], "childcare", 4, "joint", writer(True)) == "done"
        assert db.session.scalar(select(func.count(SignOff.id))) == 0
        assert db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id.desc()).limit(1)).all() == [
            "workflow.sign_off_withdrawn"]
        db.session.commit()

        calls.clear()
        for party, step, slot in (("library", 5, "joint"), ("childcare", 1, "library"), ("library", 9, "joint")):
            try:
                workflow.edit(d.p, d.users[party], party, step, slot, writer(True))
            except (ActionRefused, KeyError):
                pass
            else:  # pragma: no cover - the assertion below names the case
                raise AssertionError(f"{party} edited step {step}/{slot}")
        assert calls == [], "a refused edit must not reach the writer"


def test_the_workflow_learns_about_answers_only_through_the_installed_store(world, app: Flask) -> None:
    """What the workflow knows of answers (filled in, carried over) comes from the store
    the app factory installed: with another store, the workflow sees other answers."""
    with app.app_context():
        d = _driver(world)
        instance = db.session.scalar(select(StepInstance).where(StepInstance.step == 1,
                                                               StepInstance.slot == "library"))
        defn = workflow.plan_for(instance.cycle)
        required = [q.key for q in defn.step(1).questions if q.required]

        class Everything:
            def values(self, ids):
                return [(instance.id, key, "ingevuld") for key in required if instance.id in ids]

            def carry_over(self, copies, user_id):  # pragma: no cover - not asked here
                raise AssertionError

        real = workflow._answer_store
        try:
            workflow.install_answer_store(Everything())
            state = workflow.load_state(instance.cycle)
            assert state.steps[(1, "library")].answered == frozenset(required)
        finally:
            workflow.install_answer_store(real)
        assert workflow.load_state(instance.cycle).steps[(1, "library")].answered == frozenset()
        assert d.p is not None
