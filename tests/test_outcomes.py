"""The coordinator's outcome figures: each figure computed by hand from test data and
compared with the page; unknown numbers never count as 0; scoped to the region."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.coordination import outcomes
from stappenplan.extensions import db, local_today
from stappenplan.practice import services as practice
from stappenplan.workflow.engine import Action
from tests.factories import driver as _driver
from tests.factories import login

TODAY = local_today()
FUTURE = (TODAY + timedelta(days=60)).isoformat()
LAST_YEAR = TODAY.year - 1
#: Step 6's agreed plan: what the activities are (the plan) ...
ROWS = [
    {"id": "r1", "cells": {"activity": "Voorleesochtend", "date": f"{TODAY.year}-01-15"}},
    {"id": "r2", "cells": {"activity": "Koffieochtend"}},
    {"id": "r3", "cells": {"activity": "Liedjesmiddag", "date": f"{LAST_YEAR}-11-01"}},
    {"id": "r4", "cells": {"activity": "Bibliotheekbezoek", "date": FUTURE}},
]
#: ... and what happened (practice, kept afterwards without reopening step 6).
HAPPENED = {
    # held this year, with numbers
    "r1": {"status": "held", "date": f"{TODAY.year}-01-15", "parents": "10", "children": "12"},
    # last year: parents unknown
    "r3": {"status": "held", "date": f"{LAST_YEAR}-11-01", "children": "3"},
    # planned: not held, not counted (a number filled in early counts for nothing)
    "r4": {"status": "planned", "date": FUTURE, "parents": "99"},
}


def _prepare(app: Flask, world) -> None:
    with app.app_context():
        d = _driver(world)
        d.through(5)
        d.fill_joint(6)
        d.fill("library", 6, "joint", {"activities": ROWS})
        d.act("library", Action("sign_off", 6, "joint"))
        d.act("childcare", Action("sign_off", 6, "joint"))
        for record in practice.records_of(d.p):
            if record.source_row in HAPPENED:
                outcome = practice.update(record, d.users["childcare"], "childcare", HAPPENED[record.source_row],
                                          record.version)
                assert outcome.ok, outcome.errors
            elif record.source_row == "r2":
                # held, no date: only records from before practice can be so (migration 0016);
                # it counts in its round, in no year; children unknown
                record.status, record.parents = "held", 4
        d.finish_joint(7)
        d.fill("library", 8, "joint", {"goal_progress": {"goal-1": {"value": 4, "remark": ""},
                                                         "goal-2": {"value": 2, "remark": ""}}})


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _section(html: str, heading_id: str) -> str:
    return " ".join(html.split(f'id="{heading_id}"')[1].split("</section>")[0].split())


def _figure(section: str, label: str) -> str:
    match = re.search(rf"<dt>{label}</dt><dd>(.*?)</dd>", section.replace("> <", "><"))
    assert match, label
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_figures_of_a_year_are_counted_as_by_hand(world, app: Flask) -> None:
    _prepare(app, world)
    coordinator = _client(app, world.emails["coord_a"])
    html = coordinator.get("/regio/resultaten").get_data(as_text=True)
    year = _section(html, "h-year")
    assert _figure(year, "Activiteiten gehouden") == "1"  # r1 only: r2 has no date, r3 was last year
    assert _figure(year, "Ouders bereikt") == "10"
    assert _figure(year, "Kinderen bereikt") == "12"
    assert _figure(year, "Rondes afgerond") == "0"
    # The goal scores saved this year, only those given, each as "how often × which score".
    assert "1× cijfer 2</span>, <span class=\"score-chip\">1× cijfer 4" in year
    assert "cijfer 1" not in year.split("van 1")[0]
    assert "van 1 (nog niet begonnen) tot 5 (helemaal bereikt)" in year
    last = _section(coordinator.get(f"/regio/resultaten?jaar={LAST_YEAR}").get_data(as_text=True), "h-year")
    assert _figure(last, "Activiteiten gehouden") == "1"  # r3
    assert _figure(last, "Ouders bereikt") == "onbekend"  # nothing filled in: never 0
    assert _figure(last, "Kinderen bereikt") == "3"
    assert "nog geen cijfers" in last


def test_figures_per_round_and_the_unknown_numbers(world, app: Flask) -> None:
    _prepare(app, world)
    html = _client(app, world.emails["coord_a"]).get("/regio/resultaten").get_data(as_text=True)
    rounds = _section(html, "h-rounds")
    row = rounds.split("Ronde 1")[1].split("</tr>")[0]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    # partnerships, completed, activities (r1, r2, r3), parents 10 + 4 (r3 unknown), children 12 + 3 (r2 unknown)
    assert cells[:3] == ["1", "0", "3"]
    assert cells[3] == "14 (bij 1 activiteit onbekend)"
    assert cells[4] == "15 (bij 1 activiteit onbekend)"
    assert "1 gehouden activiteit heeft geen datum" in _section(html, "h-how")
    branches = _section(html, "h-branches")
    assert "Bibliotheek A" in branches and "Bibliotheek B" not in branches


def test_the_service_counts_the_same_in_three_queries(world, app: Flask) -> None:
    _prepare(app, world)
    from sqlalchemy import event

    with app.app_context():
        org_id = db.session.scalar(select(User).where(User.email == world.emails["coord_a"])).membership.organisation_id
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            figures = outcomes.compute(org_id, TODAY.year, TODAY)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert len(statements) == 3
        assert figures.region.activities == 1 and figures.undated == 1
        assert (figures.region.parents.total, figures.region.parents.unknown) == (10, 0)
        assert dict(figures.rounds)[1].activities == 3


def test_outcomes_are_the_regions_own(world, app: Flask) -> None:
    _prepare(app, world)
    other = _client(app, world.emails["coord_b"]).get("/regio/resultaten").get_data(as_text=True)
    assert "Bibliotheek A" not in other and _figure(_section(other, "h-year"), "Activiteiten gehouden") == "0"
    assert _client(app, world.emails["lib_a"]).get("/regio/resultaten").status_code in (403, 404)
    # A branch of another region in the filter: ignored with a message, the region's own figures shown.
    lib_b = world.ids["lib_b"]
    odd = _client(app, world.emails["coord_a"]).get(f"/regio/resultaten?vestiging={lib_b}&jaar=abc")
    html = odd.get_data(as_text=True)
    assert odd.status_code == 200 and "hoort niet bij jullie regio" in html
    assert _figure(_section(html, "h-year"), "Activiteiten gehouden") == "1"


def test_every_branch_counts_everywhere_and_a_year_only_its_partnerships(world, app: Flask) -> None:
    """A branch that joined the region without a partnership yet is counted the same on
    the start page, the outcomes, the yearly report and the overview; a year counts only
    the partnerships that existed in it."""
    from stappenplan.organisations.models import Region, RegionMembership
    from tests.factories import make_org

    with app.app_context():
        region = db.session.scalar(select(Region).where(Region.public_id == world.ids["region_a"]))
        db.session.add(RegionMembership(region=region, library=make_org("Bibliotheek Nieuw", "library")))
        db.session.commit()
    coordinator = _client(app, world.emails["coord_a"])
    start = " ".join(coordinator.get("/start").get_data(as_text=True).split())
    assert "1 samenwerking · 2 vestigingen" in start
    html = coordinator.get("/regio/resultaten").get_data(as_text=True)
    branches = _section(html, "h-branches")
    assert "Bibliotheek A" in branches and "Bibliotheek Nieuw" in branches
    new_row = branches.split("Bibliotheek Nieuw")[1].split("</tr>")[0]
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", new_row)][:2] == ["0", "0"]
    report = " ".join(coordinator.get("/regio/jaarverslag").get_data(as_text=True).split())
    assert "<dt>Vestigingen</dt><dd>2</dd>" in report
    assert "2 vestigingen doen mee" in " ".join(coordinator.get("/regio").get_data(as_text=True).split())
    # The partnership was made this year: last year had none.
    last = coordinator.get(f"/regio/resultaten?jaar={LAST_YEAR}").get_data(as_text=True)
    a_row = _section(last, "h-branches").split("Bibliotheek A")[1].split("</tr>")[0]
    assert re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", a_row)[0]).strip() == "0"
    this = coordinator.get("/regio/resultaten").get_data(as_text=True)
    a_row = _section(this, "h-branches").split("Bibliotheek A")[1].split("</tr>")[0]
    assert re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", a_row)[0]).strip() == "1"
