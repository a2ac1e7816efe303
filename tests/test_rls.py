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
#: Tables scoped by an organisation rather than a partnership column: each needs a policy too.
SCOPED_TABLES = ("partnerships", "region_requests")


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
        scoped.update(SCOPED_TABLES)
        protected = set(db.session.scalars(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relrowsecurity AND EXISTS "
            "(SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname)")))
    assert len(scoped) >= 13
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


def test_a_region_request_is_seen_by_its_branch_and_its_regions_coordinators(world, app: Flask) -> None:
    from stappenplan.organisations import services
    from stappenplan.organisations.models import Region
    from tests.factories import make_org, make_user

    with app.app_context():
        lib_c = make_org("Bibliotheek C", "library")
        admin = make_user(lib_c, "admin@bieb-c.nl")
        region_a = db.session.scalar(db.select(Region).where(Region.public_id == world.ids["region_a"]))
        services.request_region(admin, region_a)
        db.session.commit()
        ids = dict(db.session.execute(text("SELECT name, id FROM organisations")).all())
    assert _count_as_app(app, "region_requests", "", "on") == 1
    assert _count_as_app(app, "region_requests", str(ids["Bibliotheek C"])) == 1
    assert _count_as_app(app, "region_requests", str(ids["Coördinatie A"])) == 1
    assert _count_as_app(app, "region_requests", str(ids["Coördinatie B"])) == 0
    assert _count_as_app(app, "region_requests", str(ids["Bibliotheek A"])) == 0
    assert _count_as_app(app, "region_requests", "") == 0


def test_region_requests_work_under_row_level_security(world, newcomer_rls) -> None:
    """Asking, seeing and accepting go through the policies of the new table."""
    rls_app = newcomer_rls
    library = rls_app.test_client()
    login(library, "admin@bieb-c.nl")
    assert library.post("/organisatie/regio", data={"region": world.ids["region_a"]}).status_code == 302
    assert "Aanvraag in behandeling" in library.get("/organisatie/regio").get_data(as_text=True)
    other = rls_app.test_client()
    login(other, world.emails["coord_b"])
    assert "Bibliotheek C" not in other.get("/regio/aanvragen").get_data(as_text=True)
    coordinator = rls_app.test_client()
    login(coordinator, world.emails["coord_a"])
    listing = coordinator.get("/regio/aanvragen").get_data(as_text=True)
    assert "Bibliotheek C" in listing
    import re

    request_id = re.search(r'id="aanvraag-([^"]+)"', listing).group(1)
    assert other.post(f"/regio/aanvragen/{request_id}/aannemen").status_code == 404
    assert coordinator.post(f"/regio/aanvragen/{request_id}/aannemen").status_code == 302
    assert "Je vestiging doet mee in Regio A" in library.get("/organisatie/regio").get_data(as_text=True)


@pytest.fixture
def newcomer_rls(world, app: Flask) -> Flask:
    from tests.factories import make_org, make_user

    with app.app_context():
        make_user(make_org("Bibliotheek C", "library"), "admin@bieb-c.nl")
        db.session.commit()
    return make_app(DB_APP_ROLE=ROLE)
