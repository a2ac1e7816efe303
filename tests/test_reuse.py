"""Reuse across partnerships: an own step starts from the same organisation's answers of
that step in another of its partnerships, and nothing of a partner travels with them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.audit.models import AuditEvent
from stappenplan.demo import Driver
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow.engine import Action
from stappenplan.workflow.models import StepInstance
from stappenplan.worksheets import reuse
from stappenplan.worksheets.models import Answer, AnswerRevision
from tests.factories import PASSWORD, login, make_org, make_partnership, make_user
from tests.test_query_counts import counted, executed

LIB_WHY = "Bieb A: lezen begint thuis"
LIB_AIMS = ["parents_reading"]
CC_WHY = "Opvang A: alleen voor onze eigen groepen"


@dataclass
class Setup:
    source: str  # library A & childcare A (answers written)
    target: str  # library A & childcare C (empty)
    cc_c: str  # e-mail of childcare C's admin


def _multi_option(app: Flask) -> list[str]:
    from stappenplan.workflow.plan_loader import get_definition, latest_version

    with app.app_context():
        aims = next(q for q in get_definition(latest_version()).step(1).questions if q.key == "aims")
        return [aims.options[0].key]


@pytest.fixture
def setup(world, app: Flask) -> Setup:
    """Library A writes step 1 with childcare A, who writes its own step 1 too; library A
    also partners with childcare C, where step 1 is still empty."""
    aims = _multi_option(app)
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        lib = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        cc = db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))
        driver = Driver(p, lib, cc)
        driver.fill("library", 1, "library", {"why": LIB_WHY, "aims": aims, "benefit_children": "Meer woorden"})
        driver.fill("childcare", 1, "childcare", {"why": CC_WHY, "aims": aims})
        cc_c = make_org("Opvang C", "childcare")
        user_c = make_user(cc_c, "admin@opvang-c.nl")
        target = make_partnership(lib.organisation, cc_c, lib)
        db.session.commit()
        return Setup(p.public_id, target.public_id, user_c.email)


def _url(partnership: str, step: int = 1, slot: str = "bibliotheek") -> str:
    return f"/samenwerkingen/{partnership}/stap/{step}/{slot}"


def _library(app: Flask, world) -> FlaskClient:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    return client


def _answers(app: Flask, partnership: str, step: int, slot: str) -> dict[str, object]:
    with app.app_context():
        rows = db.session.execute(
            select(Answer.question, Answer.value).join(StepInstance, StepInstance.id == Answer.step_instance_id)
            .join(StepInstance.cycle).join(Partnership)
            .where(Partnership.public_id == partnership, StepInstance.step == step, StepInstance.slot == slot)).all()
    return dict(rows)


def test_the_own_step_offers_the_other_partnership_with_its_count(setup: Setup, world, app: Flask) -> None:
    page = _library(app, world).get(_url(setup.target)).get_data(as_text=True)
    assert "Begin vanuit een andere samenwerking" in page
    assert f'<option value="{setup.source}">Opvang A (3 vragen beantwoord)</option>' in page, page
    assert "Bekijk wat er wordt overgenomen" in page
    # Not on the source itself when the target has nothing, nor for the partner, nor on a joint step.
    assert "Begin vanuit een andere samenwerking" not in _library(app, world).get(_url(setup.source)).get_data(
        as_text=True)
    partner = app.test_client()
    login(partner, world.emails["cc_a"])
    assert "Begin vanuit" not in partner.get(_url(setup.source, 1, "kinderopvang")).get_data(as_text=True)


def test_preview_then_copy_takes_only_the_organisations_own_answers(setup: Setup, world, app: Flask) -> None:
    client = _library(app, world)
    preview = client.get(f"{_url(setup.target)}/overnemen?van={setup.source}")
    assert preview.status_code == 200
    text = preview.get_data(as_text=True)
    assert LIB_WHY in text and "Wordt ingevuld" in text and CC_WHY not in text
    assert 'name="csrf_token"' in text and "Overnemen" in text
    copied = client.post(f"{_url(setup.target)}/overnemen", data={"van": setup.source})
    assert copied.status_code == 302 and copied.headers["Location"].endswith("?overgenomen=1#overgenomen")
    page = client.get(copied.headers["Location"]).get_data(as_text=True)
    assert "3 antwoorden overgenomen uit de samenwerking met Opvang A." in page
    assert re.search(r'id="overgenomen" tabindex="-1" autofocus', page)
    assert "Overgenomen uit de samenwerking met Opvang A op" in page and "Alle antwoorden zijn nog gelijk." in page
    target = _answers(app, setup.target, 1, "library")
    assert target["why"] == LIB_WHY and target["benefit_children"] == "Meer woorden"
    # Childcare A's own answers stay where they are: nothing of them in partnership C.
    assert _answers(app, setup.target, 1, "childcare") == {}
    with app.app_context():
        values = [str(v) for v in db.session.scalars(select(Answer.value))]
        assert sum(CC_WHY in v for v in values) == 1
        kinds = set(db.session.scalars(select(AnswerRevision.kind).join(Answer).join(StepInstance).join(
            StepInstance.cycle).join(Partnership).where(Partnership.public_id == setup.target)))
        assert kinds == {"reuse"}
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == reuse.AUDIT_KIND))
        assert event is not None and event.detail["step"] == 1 and event.detail["partner"] == "Opvang A"
    home = client.get(f"/samenwerkingen/{setup.target}").get_data(as_text=True)
    assert "nam de antwoorden van stap 1 over uit de samenwerking met Opvang A" in home


def test_the_worksheet_tells_which_answers_differ_since(setup: Setup, world, app: Flask) -> None:
    client = _library(app, world)
    client.post(f"{_url(setup.target)}/overnemen", data={"van": setup.source})
    saved = client.post(f"{_url(setup.target)}/vraag/why", data={"q-why": "Eigen woorden voor C", "v-why": 1},
                        headers={"HX-Request": "true"})
    assert saved.status_code == 200
    page = client.get(_url(setup.target)).get_data(as_text=True)
    assert "1 vraag wijkt inmiddels af." in page
    assert page.count("Wijkt af van de samenwerking met Opvang A") == 1
    # The preview shows the answer that would be replaced.
    preview = client.get(f"{_url(setup.target)}/overnemen?van={setup.source}").get_data(as_text=True)
    assert "Wordt vervangen" in preview and "1 antwoord in dit werkblad wordt vervangen." in preview


def test_the_partner_sees_nothing_of_it_until_step_3_is_completed(setup: Setup, world, app: Flask) -> None:
    _library(app, world).post(f"{_url(setup.target)}/overnemen", data={"van": setup.source})
    partner = app.test_client()
    login(partner, setup.cc_c)
    assert partner.get(_url(setup.target)).status_code == 404
    assert partner.get(f"{_url(setup.target)}/overnemen?van={setup.source}").status_code == 404
    overview = partner.get(f"/samenwerkingen/{setup.target}").get_data(as_text=True)
    assert "Opvang A" not in overview and LIB_WHY not in overview
    assert "Opvang A" not in partner.get("/start").get_data(as_text=True)


@pytest.mark.parametrize("who, path, source", [
    ("lib_a", "target:1:kinderopvang", "source"),  # the partner's slot
    ("lib_a", "target:4:samen", "source"),  # a joint step (not open either)
    ("lib_a", "target:1:bibliotheek", "target"),  # itself
    ("lib_a", "target:1:bibliotheek", "partnership_b"),  # another organisation's partnership
    ("lib_a", "target:1:bibliotheek", "nonsense"),
    ("lib_a", "target:2:bibliotheek", "source"),  # step 2 is not open here, and has no answers there
    ("cc_a", "source:1:bibliotheek", "target"),  # childcare A on library A's step
    ("lib_b", "target:1:bibliotheek", "source"),  # an outsider
    ("coord_a", "target:1:bibliotheek", "source"),  # a coordinator reads, never copies
])
def test_anything_but_the_own_editable_slot_from_an_own_source_is_404(setup: Setup, world, app: Flask, who: str,
                                                                      path: str, source: str) -> None:
    names = {"source": setup.source, "target": setup.target, "partnership_b": world.ids["partnership_b"],
             "nonsense": "x" * 20}
    partnership, step, slot = path.split(":")
    client = app.test_client()
    login(client, world.emails[who])
    url = f"{_url(names[partnership], int(step), slot)}/overnemen"
    assert client.get(f"{url}?van={names[source]}").status_code == 404
    assert client.post(url, data={"van": names[source]}).status_code == 404
    assert _answers(app, setup.target, 1, "library") == {}


def test_a_completed_step_is_not_copied_into(setup: Setup, world, app: Flask) -> None:
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == setup.target))
        lib = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        driver = Driver(p, lib, lib)
        driver.fill("library", 1, "library", {"why": "Al klaar", "aims": _multi_option(app)})
        driver.act("library", Action("complete", 1, "library"))
        db.session.commit()
    client = _library(app, world)
    assert client.get(f"{_url(setup.target)}/overnemen?van={setup.source}").status_code == 404
    assert client.post(f"{_url(setup.target)}/overnemen", data={"van": setup.source}).status_code == 404
    assert "Begin vanuit" not in client.get(_url(setup.target)).get_data(as_text=True)


def test_a_source_in_the_partners_slot_or_a_joint_step_is_never_offered(setup: Setup, world, app: Flask) -> None:
    """Childcare A (partner of library A only) has no other partnership: its worksheet
    offers nothing, though library A's answers of step 1 exist in partnership A."""
    with app.app_context():
        cc = db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))
        lib_d = make_org("Bibliotheek D", "library")
        other = make_partnership(lib_d, cc.organisation, make_user(lib_d, "admin@bieb-d.nl"))
        db.session.commit()
        other_id = other.public_id
    partner = app.test_client()
    login(partner, world.emails["cc_a"])
    page = partner.get(_url(other_id, 1, "kinderopvang")).get_data(as_text=True)
    assert re.search(r"Bibliotheek A \(2 vragen beantwoord\)", page)
    preview = partner.get(f"{_url(other_id, 1, 'kinderopvang')}/overnemen?van={setup.source}").get_data(
        as_text=True)
    assert CC_WHY in preview and LIB_WHY not in preview


def test_no_source_chosen_goes_back_to_the_choice(setup: Setup, world, app: Flask) -> None:
    client = _library(app, world)
    response = client.get(f"{_url(setup.target)}/overnemen")
    assert response.status_code == 302 and response.headers["Location"].endswith("#hergebruik")


def test_csrf_is_required(setup: Setup, world, csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    page = client.get("/inloggen").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/inloggen", data={"email": world.emails["lib_a"], "password": PASSWORD,
                                   "csrf_token": token})
    response = client.post(f"{_url(setup.target)}/overnemen", data={"van": setup.source})
    assert response.status_code in (400, 403)
    assert _answers(csrf_app, setup.target, 1, "library") == {}


def test_the_own_step_page_reads_the_panel_in_one_statement_whatever_the_partners(
        setup: Setup, world, app: Flask) -> None:
    client = _library(app, world)
    url = _url(setup.target)

    def count() -> int:
        client.get(url)
        with counted(app) as statements:
            assert client.get(url).status_code == 200
        return len(statements)

    small = count()
    with app.app_context():
        lib = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        for i in range(12):
            cc = make_org(f"Opvang extra {i:02d}", "childcare")
            extra = make_partnership(lib.organisation, cc, lib)
            Driver(extra, lib, lib).fill("library", 1, "library", {"why": f"Waarom {i}"})
        db.session.commit()
    assert count() == small
    page = client.get(url).get_data(as_text=True)
    assert page.count("vraag beantwoord") == 12 and "Opvang A (3 vragen beantwoord)" in page
    runs = []
    for _ in range(2):
        with executed(app) as elements:
            client.get(url)
        runs.append([id(e) for e in elements])
    assert runs[0] == runs[1], "a statement was built anew"


def _complete_own_steps(app: Flask, partnership: str, email: str, keep: str) -> None:
    """Library A finishes steps 1-3 of ``partnership``, keeping its answer to ``keep``."""
    from stappenplan import demo_content as content

    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == partnership))
        lib = db.session.scalar(select(User).where(User.email == email))
        driver = Driver(p, lib, lib)
        for step in (1, 2, 3):
            answers = {k: v for k, v in content.OWN["library"][step].items() if not (step == 1 and k == keep)}
            driver.fill("library", step, "library", answers)
            driver.act("library", Action("complete", step, "library"))
        db.session.commit()


@pytest.mark.postgres
def test_reuse_keeps_partners_apart_under_row_level_security(setup: Setup, world, app: Flask) -> None:
    """Library A copies from its partnership with childcare A into the one with childcare C
    as the restricted application role: only its own answers arrive, and childcare C sees
    them only once library A completed step 3."""
    from tests.test_rls import secured_app

    secured = secured_app()
    client = secured.test_client()
    login(client, world.emails["lib_a"])
    assert "Opvang A (3 vragen beantwoord)" in client.get(_url(setup.target)).get_data(as_text=True)
    preview = client.get(f"{_url(setup.target)}/overnemen?van={setup.source}").get_data(as_text=True)
    assert LIB_WHY in preview and CC_WHY not in preview
    assert client.post(f"{_url(setup.target)}/overnemen", data={"van": setup.source}).status_code == 302
    assert _answers(app, setup.target, 1, "library")["why"] == LIB_WHY
    assert _answers(app, setup.target, 1, "childcare") == {}
    partner = secured.test_client()
    login(partner, setup.cc_c)
    assert partner.get(_url(setup.target)).status_code == 404
    assert partner.get(f"{_url(setup.target)}/overnemen?van={setup.source}").status_code == 404
    assert "Opvang A" not in partner.get(f"/samenwerkingen/{setup.target}").get_data(as_text=True)
    _complete_own_steps(app, setup.target, world.emails["lib_a"], keep="why")
    shared = partner.get(_url(setup.target))
    assert shared.status_code == 200
    text = shared.get_data(as_text=True)
    assert LIB_WHY in text and CC_WHY not in text
    # What the library copied from, and from whom, stays with the library.
    assert "Overgenomen uit" not in text and "Opvang A" not in text and "Begin vanuit" not in text
    assert "Opvang A" not in partner.get(f"/samenwerkingen/{setup.target}").get_data(as_text=True)


def test_the_partner_reads_the_shared_answers_but_not_where_they_came_from(setup: Setup, world,
                                                                           app: Flask) -> None:
    _library(app, world).post(f"{_url(setup.target)}/overnemen", data={"van": setup.source})
    _complete_own_steps(app, setup.target, world.emails["lib_a"], keep="why")
    partner = app.test_client()
    login(partner, setup.cc_c)
    text = partner.get(_url(setup.target)).get_data(as_text=True)
    assert LIB_WHY in text and CC_WHY not in text
    assert "Overgenomen uit" not in text and "Opvang A" not in text
    assert "Opvang A" not in partner.get(f"/samenwerkingen/{setup.target}").get_data(as_text=True)
