"""Overview pages run a constant number of SQL queries, whatever the number of partnerships."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import Select, event, select
from sqlalchemy.sql.dml import UpdateBase

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from tests.factories import login, make_org, make_partnership, make_user

TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I)


@contextmanager
def _listening(app: Flask, name: str, listener: Callable[..., None]) -> Iterator[None]:
    with app.app_context():
        engine = db.engine
    event.listen(engine, name, listener)
    try:
        yield
    finally:
        event.remove(engine, name, listener)


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        # Transaction control (SQLite's explicit BEGIN, savepoints) is not a query.
        if not TRANSACTION_CONTROL.match(statement):
            statements.append(statement)

    with _listening(app, "before_cursor_execute", before):
        yield statements


def _grow(app: Flask, library_email: str, childcare_email: str, total: int) -> None:
    with app.app_context():
        lib_user = db.session.scalar(select(User).where(User.email == library_email))
        library = lib_user.organisation
        childcare = db.session.scalar(select(User).where(User.email == childcare_email)).organisation
        existing = db.session.execute(
            select(db.func.count()).select_from(db.metadata.tables["partnerships"])
            .where(db.metadata.tables["partnerships"].c.library_id == library.id)).scalar()
        for i in range(existing, total):
            cc = make_org(f"Opvang {i:03d}", "childcare")
            make_partnership(library, cc, lib_user)
        # the childcare organisation partners with more libraries too
        existing_cc = db.session.execute(
            select(db.func.count()).select_from(db.metadata.tables["partnerships"])
            .where(db.metadata.tables["partnerships"].c.childcare_id == childcare.id)).scalar()
        for i in range(existing_cc, total):
            lib = make_org(f"Bieb {i:03d}", "library")
            make_partnership(lib, childcare, make_user(lib, f"bieb{i}@x.nl"))
        db.session.commit()


def _queries(app: Flask, email: str, url: str) -> int:
    client = app.test_client()
    login(client, email)
    client.get(url)  # warm-up (caches, first-time lookups)
    with counted(app) as statements:
        response = client.get(url)
    assert response.status_code == 200
    return len(statements)


def test_home_pages_use_a_constant_number_of_queries(world, app: Flask) -> None:
    counts: dict[str, list[int]] = {"library": [], "childcare": [], "partnership": []}
    for total in (5, 200):
        _grow(app, world.emails["lib_a"], world.emails["cc_a"], total)
        counts["library"].append(_queries(app, world.emails["lib_a"], "/start"))
        counts["childcare"].append(_queries(app, world.emails["cc_a"], "/start"))
        counts["partnership"].append(
            _queries(app, world.emails["lib_a"], f"/samenwerkingen/{world.ids['partnership_a']}"))
    for page, (small, large) in counts.items():
        assert small == large, f"{page}: {small} queries for 5 partnerships, {large} for 200"
    # Budgets (transaction control not counted): the start page's activity list reuses the
    # partnerships the page loaded already instead of reading them again, and the summaries
    # read the step instances with their sign-offs in one statement.
    # A library's page has one more: whether the branch is in a region (or asked), to offer
    # the request to a branch outside any region.
    assert counts["library"][0] <= 9 and counts["childcare"][0] <= 8, counts
    # The partnership page: one more since practice (its glance, one statement for any number).
    assert counts["partnership"][0] <= 9, counts


def test_autosave_and_worksheet_stay_within_their_statement_budget(world, app: Flask) -> None:
    """The busiest requests: an autosave (every few seconds per editing person) and the
    worksheet page. Budgets from bench/README.md; a new query here costs every save."""
    from stappenplan.demo import Driver
    from stappenplan.partnerships.models import Partnership

    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        lib_user = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        cc_user = db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))
        Driver(p, lib_user, cc_user).own_steps(3, 3)
    client = app.test_client()
    login(client, world.emails["lib_a"])
    url = f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen"
    headers = {"HX-Request": "true"}
    assert client.post(f"{url}/vraag/target_parents", data={"q-target_parents": "Eerste", "v-target_parents": 0},
                       headers=headers).status_code == 200
    with counted(app) as statements:
        saved = client.post(f"{url}/vraag/target_parents",
                            data={"q-target_parents": "Tweede", "v-target_parents": 1}, headers=headers)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert 'value="2"' in saved.get_data(as_text=True)
    # user, partnership with its cycle (locked), step instances with their sign-offs,
    # answer, content version, compare-and-swap, revision; the cycle's last activity was
    # written by the first save a moment ago (workflow.services.ACTIVITY_GRANULARITY)
    assert len(statements) <= 7, statements
    assert not any(s.lstrip().upper().startswith("UPDATE CYCLES") for s in statements), statements
    assert _queries(app, world.emails["lib_a"], url) <= 9
    # the partnership page: + 1 for practice at a glance (practice.glance)
    assert _queries(app, world.emails["lib_a"], f"/samenwerkingen/{world.ids['partnership_a']}") <= 8
    # a coordinator's region was checked by the statement that found the partnership
    assert _queries(app, world.emails["coord_a"], url) <= 8
    assert _queries(app, world.emails["coord_a"], f"/samenwerkingen/{world.ids['partnership_a']}") <= 8


@contextmanager
def executed(app: Flask) -> Iterator[list[object]]:
    """The statement objects the app executes (not their SQL): a statement built once and
    kept is the same object on every request."""
    elements: list[object] = []

    def before(conn, clauseelement, multiparams, params, execution_options) -> None:
        if isinstance(clauseelement, Select | UpdateBase):  # not SAVEPOINT and its kind
            elements.append(clauseelement)

    with _listening(app, "before_execute", before):
        yield elements


def test_the_busiest_requests_run_statements_built_once(world, app: Flask) -> None:
    """The worksheet page, the partnership page, both start pages, the dashboard and an
    autosave build none of their statements anew: each is kept with bind parameters
    (a statement built per request cost ~0.1-0.2 ms more Python than running a kept one;
    docs/deployment.md). Two requests in a row must execute the very same objects."""
    from stappenplan.demo import Driver
    from stappenplan.partnerships.models import Partnership

    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        lib_user = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        cc_user = db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))
        Driver(p, lib_user, cc_user).own_steps(3, 3)
    sheet = f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen"
    partnership = f"/samenwerkingen/{world.ids['partnership_a']}"
    requests = [("lib_a", sheet), ("lib_a", partnership), ("lib_a", "/start"), ("cc_a", "/start"),
                ("cc_a", sheet), ("coord_a", sheet), ("coord_a", partnership), ("coord_a", "/regio")]
    # The dashboard's region-wide figures are kept for a while in production (and their
    # statements built on a miss only); the page's own statements are checked here.
    app.config["DASHBOARD_CACHE_SECONDS"] = 60
    for who, url in requests:
        client = app.test_client()
        login(client, world.emails[who])
        assert client.get(url).status_code == 200  # warm-up: the first request builds them
        runs = []
        for _ in range(2):
            with executed(app) as elements:
                assert client.get(url).status_code == 200
            runs.append([id(e) for e in elements])
        assert len(runs[0]) >= 5, (who, url, runs)
        assert runs[0] == runs[1], f"{who} {url}: a statement was built anew"
    client = app.test_client()
    login(client, world.emails["lib_a"])
    runs = []
    for version in range(3):
        with executed(app) as elements:
            saved = client.post(f"{sheet}/vraag/target_parents", headers={"HX-Request": "true"},
                                data={"q-target_parents": f"Versie {version + 1}", "v-target_parents": version})
        assert saved.status_code == 200 and f'value="{version + 1}"' in saved.get_data(as_text=True)
        runs.append([id(e) for e in elements])
    assert len(runs[1]) >= 6 and runs[1] == runs[2], runs


def test_practice_pages_use_a_constant_number_of_statements_as_practice_grows(world, app: Flask) -> None:
    """The practice page, its live feed, the plan page and the partnership page: the same
    number of statements with 2 records as with 60 (activities, actions, added ones)."""
    from stappenplan.demo import Driver
    from stappenplan.partnerships.models import Partnership
    from stappenplan.practice import services as practice

    with app.app_context():
        p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        lib_user = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        cc_user = db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))
        Driver(p, lib_user, cc_user).through(7)
        db.session.commit()
    base = f"/samenwerkingen/{world.ids['partnership_a']}"
    pages = {"practice": f"{base}/praktijk", "feed": f"{base}/praktijk/nieuws?sinds=0", "plan": f"{base}/plan",
             "partnership": base, "step 8": f"{base}/stap/8/samen"}
    counts: dict[str, list[int]] = {name: [] for name in pages}
    for extra in (0, 60):
        with app.app_context():
            p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
            lib_user = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
            for i in range(extra):
                practice.add_activity(p, lib_user, "library", {"title": f"Activiteit {i}", "status": "held",
                                                               "date": "2026-01-02", "parents": str(i)})
            db.session.commit()
        for name, url in pages.items():
            counts[name].append(_queries(app, world.emails["lib_a"], url))
    for name, (few, many) in counts.items():
        assert few == many, f"{name}: {few} statements with few records, {many} with 60 more"
    assert counts["practice"][0] <= 12 and counts["feed"][0] <= 12, counts
