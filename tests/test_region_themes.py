"""Region-wide themes from step 5: counted by hand over the region, shown only from the
threshold on and from two partnerships on (never one partnership's themes, not even as
a branch); the same under row-level security."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from stappenplan.accounts.models import User
from stappenplan.demo import Driver
from stappenplan.extensions import db
from stappenplan.organisations.models import Organisation, Region, RegionMembership
from stappenplan.partnerships.models import Partnership
from tests.factories import login, make_org, make_partnership, make_user

A_RECORDS = [["reading_aloud"], ["reading_aloud", "own_literacy"], ["learning_dutch"]]
C_RECORDS = [["reading_aloud"], ["digital_skills"], ["own_literacy"]]
# By hand, over both partnerships (6 conversations):
EXPECTED = {"Voorlezen": 3, "Eigen lezen en schrijven": 2, "Nederlands leren": 1, "Digitale vaardigheden": 1,
            "Taalontwikkeling": 0, "Opvoeding": 0}


def _records(wishes: list[list[str]], prefix: str) -> list[dict]:
    return [{"id": f"{prefix}{i}", "cells": {"label": f"Gezin {prefix.upper()}{i}", "support_wishes": w}}
            for i, w in enumerate(wishes, start=1)]


@pytest.fixture
def two_branches(world, app: Flask) -> dict[str, str]:
    """Partnership A (library A) and a partnership of library C, both in region A, in step 5."""
    with app.app_context():
        lib_c = make_org("Bibliotheek C", "library")
        cc_c = make_org("Opvang C", "childcare")
        lib_user, cc_user = make_user(lib_c, "admin@bieb-c.nl"), make_user(cc_c, "admin@opvang-c.nl")
        region_a = db.session.scalar(select(Region).where(Region.public_id == world.ids["region_a"]))
        db.session.add(RegionMembership(region=region_a, library=lib_c))
        p_c = make_partnership(lib_c, cc_c, lib_user)
        db.session.commit()
        p_a = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        users = {u.email: u for u in db.session.scalars(select(User))}
        for p, lib, cc, wishes, prefix in (
            (p_a, users[world.emails["lib_a"]], users[world.emails["cc_a"]], A_RECORDS, "a"),
            (p_c, lib_user, cc_user, C_RECORDS, "c"),
        ):
            d = Driver(p, lib, cc)
            d.through(4)
            d.fill("childcare", 5, "joint", {"conversations": _records(wishes, prefix)})
        db.session.commit()
        return {"lib_c": lib_c.public_id}


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _themes(html: str) -> dict[str, int]:
    section = html.split('id="h-themes"')[1].split("</section>")[0]
    return {label: int(n) for label, n in re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)</td>',
                                                      section)}


def test_region_themes_are_counted_over_all_partnerships(two_branches, world, app: Flask) -> None:
    html = _client(app, world.emails["coord_a"]).get("/regio/resultaten").get_data(as_text=True)
    assert "6 gesprekken in alle rondes samen." in html
    counts = _themes(html)
    for label, n in EXPECTED.items():
        assert counts[label] == n, label
    # Names in the records never reach the coordinator.
    assert "Gezin A1" not in html and "Gezin C1" not in html


def test_no_figure_below_the_threshold_and_none_for_a_branch(two_branches, world, app: Flask) -> None:
    coordinator = _client(app, world.emails["coord_a"])
    one = coordinator.get(f"/regio/resultaten?vestiging={two_branches['lib_c']}").get_data(as_text=True)
    assert "3 gesprekken in alle rondes samen." in one
    assert "tonen we alleen voor de hele regio, niet per vestiging" in one
    assert _themes(one) == {}
    app.config["THEME_MIN_CONVERSATIONS"] = 7
    region = coordinator.get("/regio/resultaten").get_data(as_text=True)
    assert "Te weinig gesprekken om te tonen" in region and _themes(region) == {}


def test_one_partnerships_themes_are_never_shown_not_even_as_a_branch(two_branches, world, app: Flask) -> None:
    """Enough conversations, but all from one partnership (the only one of branch C):
    that would be one partnership's themes, which coordinators may not read."""
    app.config["THEME_MIN_CONVERSATIONS"] = 3
    coordinator = _client(app, world.emails["coord_a"])
    for branch in (two_branches["lib_c"], world.ids["lib_a"]):  # no branch shows themes, big or small
        one = coordinator.get(f"/regio/resultaten?vestiging={branch}").get_data(as_text=True)
        assert "tonen we alleen voor de hele regio" in one and _themes(one) == {}
    # The region as a whole has two partnerships behind its counts; with three required, none.
    assert _themes(coordinator.get("/regio/resultaten").get_data(as_text=True))["Voorlezen"] == 3
    app.config["THEME_MIN_PARTNERSHIPS"] = 3
    region = coordinator.get("/regio/resultaten").get_data(as_text=True)
    assert "ten minste 3 samenwerkingen" in region and _themes(region) == {}
    # The yearly report (the whole region) likewise.
    report = coordinator.get("/regio/jaarverslag").get_data(as_text=True)
    themes = report.split('id="rep-themes"')[1].split("</section>")[0]
    assert "Te weinig samenwerkingen om te tonen" in themes and "Voorlezen" not in themes


def test_another_region_sees_none_of_these_conversations(two_branches, world, app: Flask) -> None:
    html = _client(app, world.emails["coord_b"]).get("/regio/resultaten").get_data(as_text=True)
    assert "0 gesprekken in alle rondes samen." in html


@pytest.mark.postgres
def test_region_themes_under_row_level_security(two_branches, world, app: Flask) -> None:
    """The coordinator cannot read a record, yet gets the same counts through region_tally;
    a library or childcare scope gets nothing from the function."""
    from tests.test_rls import secured_app

    rls_app = secured_app()
    html = _client(rls_app, world.emails["coord_a"]).get("/regio/resultaten").get_data(as_text=True)
    counts = _themes(html)
    for label, n in EXPECTED.items():
        assert counts[label] == n, label
    with app.app_context():
        ids = dict(db.session.execute(text("SELECT name, id FROM organisations")).all())
    for org in ("Coördinatie A", "Bibliotheek A", "Opvang A"):
        with app.app_context(), db.engine.connect() as conn:
            conn.execute(text('SET ROLE "stappenplan_app"'))
            conn.execute(text("SELECT set_config('app.org_id', :o, true)"), {"o": str(ids[org])})
            assert conn.execute(text("SELECT count(*) FROM answers WHERE question = 'conversations'")
                                ).scalar() == (1 if org == "Opvang A" else 0)  # one answer holds the records
            row = conn.execute(text("SELECT conversations, partnerships, counts FROM region_tally('conversations', "
                                    "5, 2, ARRAY['support_wishes:reading_aloud'], NULL)")).one()
            # One branch, one partnership: enough conversations (3 of 3), but no counts.
            branch = conn.execute(text("SELECT conversations, partnerships, counts FROM region_tally("
                                       "'conversations', 3, 2, ARRAY['support_wishes:reading_aloud'], :lib)"),
                                  {"lib": ids["Bibliotheek C"]}).one()
            if org == "Coördinatie A":
                assert row.conversations == 6 and row.partnerships == 2
                assert row.counts == {"support_wishes:reading_aloud": 3}
                assert branch.conversations == 3 and branch.partnerships == 1 and branch.counts is None
            else:
                assert row.conversations == 0 and row.counts is None and branch.counts is None
            conn.rollback()


def _add(app: Flask, world, partnership: str, wishes: list[list[str]], prefix: str) -> None:
    """More conversations for a partnership (its childcare organisation writes them)."""
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == partnership))
        users = {u.membership.organisation_id: u for u in db.session.scalars(select(User)) if u.membership}
        d = Driver(p, users[p.library_id], users[p.childcare_id])
        from stappenplan.worksheets import services as worksheets

        sheet = worksheets.load_sheet(p, "childcare", 5, "joint")
        current = worksheets.answers_for(sheet.instance)["conversations"].value
        d.fill("childcare", 5, "joint", {"conversations": current + _records(wishes, prefix)})
        db.session.commit()


def test_one_new_conversation_never_changes_the_regions_figure(two_branches, world, app: Flask) -> None:
    """The region's counts are published from a snapshot: a new conversation, or several
    from one partnership, leave them as they were; five more from two partnerships renew them."""
    app.config["THEME_MIN_CONVERSATIONS"] = 5
    coordinator = _client(app, world.emails["coord_a"])
    first = _themes(coordinator.get("/regio/resultaten").get_data(as_text=True))
    assert {label: first[label] for label in EXPECTED} == EXPECTED
    _add(app, world, world.ids["partnership_a"], [["upbringing"]], "x")
    page = coordinator.get("/regio/resultaten").get_data(as_text=True)
    assert _themes(page) == first and "7 gesprekken in alle rondes samen." in page
    assert "Deze aantallen gaan over 6 van de 7 gesprekken." in page
    _add(app, world, world.ids["partnership_a"], [["upbringing"]] * 5, "y")  # many, but one partnership
    assert _themes(coordinator.get("/regio/resultaten").get_data(as_text=True)) == first
    with app.app_context():
        p_c = db.session.scalar(select(Partnership).where(Partnership.library_id == db.session.scalar(
            select(Organisation.id).where(Organisation.public_id == two_branches["lib_c"]))))
        c_id = p_c.public_id
    _add(app, world, c_id, [["upbringing"]], "z")  # now the change lies in two partnerships
    renewed = _themes(coordinator.get("/regio/resultaten").get_data(as_text=True))
    assert renewed["Opvoeding"] == 7 and renewed["Voorlezen"] == 3
    report = coordinator.get("/regio/jaarverslag").get_data(as_text=True)
    assert "13 gesprekken in alle rondes samen." in report


def test_a_librarys_overview_changes_only_in_steps_and_a_coordinator_sees_none(world, app: Flask) -> None:
    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        users = {u.email: u for u in db.session.scalars(select(User))}
        d = Driver(p, users[world.emails["lib_a"]], users[world.emails["cc_a"]])
        d.through(4)
        d.fill("childcare", 5, "joint", {"conversations": _records([["reading_aloud"]] * 5, "a")})
        db.session.commit()
    library = _client(app, world.emails["lib_a"])
    url = f"/samenwerkingen/{world.ids['partnership_a']}/stap/5/samen"

    def counts() -> dict[str, int]:
        page = library.get(url).get_data(as_text=True)
        tally = page.split('id="tally"')[1].split("</section>")[0]
        return {label: int(n) for label, n in re.findall(
            r'<span class="bars__label">([^<]+)</span>.*?<span class="bars__n">(\d+) keer</span>', tally, re.S)}

    first = counts()
    assert first["Voorlezen"] == 5
    _add(app, world, world.ids["partnership_a"], [["own_literacy"]], "b")  # who just spoke with whom...
    assert counts() == first  # ...learns nothing from the overview
    assert "Dit overzicht telt 5 van de 6 gesprekken." in library.get(url).get_data(as_text=True)
    plan = " ".join(library.get(f"/samenwerkingen/{world.ids['partnership_a']}/plan").get_data(as_text=True).split())
    assert "Dit overzicht telt 5 van de 6 gesprekken." in plan
    _add(app, world, world.ids["partnership_a"], [["own_literacy"]] * 4, "c")
    renewed = counts()
    assert renewed["Eigen lezen en schrijven"] == 5 and renewed["Voorlezen"] == 5
    coordinator = _client(app, world.emails["coord_a"])
    for path in (url, f"/samenwerkingen/{world.ids['partnership_a']}/plan"):
        page = coordinator.get(path).get_data(as_text=True)
        assert 'id="tally"' not in page and "Overzicht van de gesprekken met ouders" not in page
        assert "bars__n" not in page and "Aantal keer" not in page
