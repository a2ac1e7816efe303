"""Row-level security on PostgreSQL, the second line of defence behind access.py."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text

from stappenplan import rls
from stappenplan.extensions import db
from tests.conftest import make_app
from tests.factories import login

pytestmark = pytest.mark.postgres

ROLE = "stappenplan_app"
SCOPE_COLUMNS = ("partnership_id", "cycle_id", "step_instance_id", "answer_id", "thread_id", "comment_id")


@pytest.fixture
def rls_app(world, app: Flask) -> Flask:  # world is built by the owner first
    from stappenplan.accounts.models import User
    from stappenplan.demo import Driver
    from stappenplan.partnerships.models import Partnership

    with app.app_context():
        p = db.session.scalar(db.select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        lib = db.session.scalar(db.select(User).where(User.email == world.emails["lib_a"]))
        cc = db.session.scalar(db.select(User).where(User.email == world.emails["cc_a"]))
        Driver(p, lib, cc).own_steps(3, 3)
    return make_app(DB_APP_ROLE=ROLE)


def test_every_partnership_scoped_table_has_a_policy(app: Flask) -> None:
    with app.app_context():
        scoped = set(db.session.scalars(text(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = ANY(:cols)"), {"cols": list(SCOPE_COLUMNS)}))
        scoped.add("partnerships")
        protected = set(db.session.scalars(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relrowsecurity AND EXISTS "
            "(SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname)")))
    assert len(scoped) >= 12
    assert scoped - protected == set(), f"tables without row-level security: {sorted(scoped - protected)}"


def test_app_role_cannot_bypass(app: Flask) -> None:
    with app.app_context():
        row = db.session.execute(text("SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = :r"),
                                 {"r": ROLE}).one()
    assert row == (False, False)


def _count_as_app(app: Flask, table: str, org: str, bypass: str = "") -> int:
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(text(f'SET ROLE "{ROLE}"'))
        conn.execute(text("SELECT set_config('app.org_id', :o, true), set_config('app.bypass', :b, true)"),
                     {"o": org, "b": bypass})
        count = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        conn.rollback()
        return count


def test_policies_show_only_the_organisations_rows(world, rls_app: Flask, app: Flask) -> None:
    with app.app_context():
        ids = dict(db.session.execute(text("SELECT name, id FROM organisations")).all())
    for table in ("partnerships", "cycles", "step_instances", "answers", "answer_revisions"):
        everything = _count_as_app(app, table, "", "on")
        assert everything > 0
        mine = _count_as_app(app, table, str(ids["Bibliotheek A"]))
        other = _count_as_app(app, table, str(ids["Bibliotheek B"]))
        assert 0 < mine < everything or table != "partnerships" or mine == 1
        assert _count_as_app(app, table, "") == 0, f"{table}: no scope must show nothing"
        assert mine + other <= everything
    # Library B sees no answers at all: partnership B has none, and A's are out of reach.
    assert _count_as_app(app, "answers", str(ids["Bibliotheek B"])) == 0
    # The coordinator of region A sees partnership A through the region.
    assert _count_as_app(app, "partnerships", str(ids["Coördinatie A"])) == 1


def test_application_works_under_row_level_security(world, rls_app: Flask) -> None:
    assert rls.enabled(rls_app)
    client = rls_app.test_client()
    login(client, world.emails["lib_a"])
    home = client.get("/start").get_data(as_text=True)
    assert "Opvang A" in home
    url = f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen"
    assert client.get(url).status_code == 200
    response = client.post(f"{url}/vraag/target_parents", data={"q-target_parents": "Onder RLS", "v-target_parents": 0},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    outsider = rls_app.test_client()
    login(outsider, world.emails["lib_b"])
    assert outsider.get(url).status_code == 404
    coordinator = rls_app.test_client()
    login(coordinator, world.emails["coord_a"])
    assert coordinator.get(f"/samenwerkingen/{world.ids['partnership_a']}").status_code == 200
    # A new organisation accepting an invitation acts for itself within the same request.
    invite = client.post("/samenwerkingen/uitnodigen", data={"emails": "nieuw@opvang.nl, Nieuwe Opvang",
                                                              "situation": "2"})
    assert invite.status_code == 302
    from stappenplan.mail import outbox

    with rls_app.app_context():
        link = [m for m in outbox() if m.to == "nieuw@opvang.nl"][-1].body
    import re

    path = re.search(r"http://[^/\s]+(/uitnodiging/\S+)", link).group(1)
    secret = "sterk-wachtwoord-9"
    accepted = rls_app.test_client().post(path, data={"org_name": "Nieuwe Opvang", "name": "Nina",
                                                      "password": secret, "confirm": secret})
    assert accepted.status_code == 302


def test_idle_change_feed_under_row_level_security(world, rls_app: Flask) -> None:
    """The feed's one-statement check runs under the policies too: the partner's quiet
    poll is 204 after the scope, the user and one statement; an outsider still gets 404."""
    import re

    from tests.test_query_counts import counted

    client = rls_app.test_client()
    login(client, world.emails["cc_a"])
    url = f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen"
    page = client.get(url).get_data(as_text=True)
    query = {"seq": re.search(r'name="seq" value="(\d+)"', page).group(1),
             "presence": re.search(r'name="presence" value="([^"]*)"', page).group(1), "status": "open"}
    assert client.get(f"{url}/wijzigingen", query_string=query).status_code == 204
    with counted(rls_app) as statements:
        assert client.get(f"{url}/wijzigingen", query_string=query).status_code == 204
    assert len(statements) <= 3, statements  # the scope (with the claimed organisation), the user, the probe
    outsider = rls_app.test_client()
    login(outsider, world.emails["cc_b"])
    assert outsider.get(f"{url}/wijzigingen", query_string=query).status_code == 404


def _scopes(statements: list[tuple[str, object]]) -> list[str]:
    """The organisation each set_config in ``statements`` put on the transaction."""
    return [params["org"] for sql, params in statements if "set_config('app.org_id'" in sql]  # type: ignore[index]


@pytest.fixture
def with_parameters(rls_app: Flask):
    """Statements and their parameters, as the database receives them."""
    from contextlib import contextmanager

    from sqlalchemy import event

    @contextmanager
    def capture():
        seen: list[tuple[str, object]] = []
        with rls_app.app_context():
            engine = db.engine

        def before(conn, cursor, statement, parameters, context, executemany) -> None:
            seen.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", before)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", before)

    return capture


def test_the_session_claims_the_organisation_and_the_loader_checks_it(world, rls_app: Flask,
                                                                     with_parameters) -> None:
    """One set_config per request: the transaction starts with the organisation the user
    loader confirmed last time. A claim that is no longer true is replaced before anything
    else is read: a member moved to another organisation sees only that one's partnerships,
    a removed member is anonymous and acts for no organisation."""
    from sqlalchemy import delete, select

    from stappenplan.accounts.models import User
    from stappenplan.organisations.models import Membership, Organisation

    client = rls_app.test_client()
    login(client, world.emails["lib_a_member"])
    with rls_app.app_context():
        lib_a = db.session.scalar(select(Organisation.id).where(Organisation.public_id == world.ids["lib_a"]))
        lib_b = db.session.scalar(select(Organisation.id).where(Organisation.public_id == world.ids["lib_b"]))
    client.get("/start")
    with with_parameters() as seen:
        home = client.get("/start").get_data(as_text=True)
    assert "Opvang A" in home
    assert _scopes(seen) == [str(lib_a)], seen
    with rls_app.app_context(), rls.system():  # moved to library B (same session version)
        user_id = db.session.scalar(select(User.id).where(User.email == world.emails["lib_a_member"]))
        db.session.execute(db.update(Membership).where(Membership.user_id == user_id).values(organisation_id=lib_b))
        db.session.commit()
    with with_parameters() as seen:
        moved = client.get("/start").get_data(as_text=True)
    assert "Opvang B" in moved and "Opvang A" not in moved
    assert _scopes(seen) == [str(lib_a), str(lib_b)], seen
    with with_parameters() as seen:
        client.get("/start")
    assert _scopes(seen) == [str(lib_b)], "the new organisation is the claim from now on"
    with rls_app.app_context(), rls.system():  # removed from the organisation
        db.session.execute(delete(Membership).where(Membership.user_id == user_id))
        db.session.commit()
    with with_parameters() as seen:
        gone = client.get(f"/samenwerkingen/{world.ids['partnership_b']}")
    assert gone.status_code == 302 and "/inloggen" in gone.headers["Location"]
    assert _scopes(seen) == [str(lib_b), ""], seen
