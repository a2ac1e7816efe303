"""Row-level security on PostgreSQL, the second line of defence behind access.py."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text

from stappenplan import rls
from stappenplan.extensions import db
from tests.conftest import make_app
from tests.factories import PASSWORD, login
from tests.test_worksheets import _support_counts

pytestmark = pytest.mark.postgres

ROLE = "stappenplan_app"
SCOPE_COLUMNS = ("partnership_id", "cycle_id", "step_instance_id", "answer_id", "thread_id", "comment_id")
#: Tables scoped by an organisation rather than a partnership column: each needs a policy too.
SCOPED_TABLES = ("partnerships", "region_requests")
#: The application's own login role, as production has it (README, "Row-level security"): no
#: superuser, no BYPASSRLS, a member of the application role. The tests under row-level
#: security log in as it, so RESET ROLE gives nothing back.
WEB = "stappenplan_web"


def secured_app() -> Flask:
    """The application as production runs it: logged in as WEB, with DB_APP_ROLE."""
    from sqlalchemy.engine import make_url

    from tests.conftest import DATABASE_URL

    owner = make_app()
    with owner.app_context():
        db.session.execute(text(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{WEB}') THEN "
            f"CREATE ROLE {WEB} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; END IF; END $$"))
        db.session.execute(text(f"GRANT {ROLE} TO {WEB}"))
        db.session.commit()
        db.engine.dispose()
    url = make_url(DATABASE_URL).set(username=WEB).render_as_string(hide_password=False)
    return make_app(SQLALCHEMY_DATABASE_URI=url, DB_APP_ROLE=ROLE)


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
    return secured_app()


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


def _bypass(app: Flask, bypass: str) -> str:
    """"on": the app's own bypass value (what its system tasks send); anything else as given."""
    return rls.bypass_token(app) if bypass == "on" else bypass


def _count_as_app(app: Flask, table: str, org: str, bypass: str = "") -> int:
    bypass = _bypass(app, bypass)
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
    return secured_app()
# --- per role: what a coordinator and a library may read and write (migration 0013) -------------

#: Tables a coordination organisation may write: its own actions are audited (and
#: pseudonymised when its account goes), it marks its own notifications as read.
COORDINATOR_WRITES = {"audit_events", "notifications", "invitation_sends", "theme_snapshots",
                      # it decides the requests to join its regions, and reminds stalled partnerships
                      "region_requests", "reminders"}
#: Tables with a ``question`` column: step 5's records and the comments on them are the
#: childcare organisation's only.
QUESTION_TABLES = {"answers", "comment_threads"}
#: Also a ``question`` column, but no content: which field someone is typing in.
QUESTION_NO_CONTENT = {"presence"}
KINDS = ("library", "childcare", "coordination")


@pytest.fixture
def step5_app(world, app: Flask) -> Flask:
    """Partnership A in step 5 with six conversation records (and a comment on them);
    partnership B with both organisations halfway their own step 1 (nothing shared)."""
    from stappenplan.accounts.models import User
    from stappenplan.demo import Driver
    from stappenplan.partnerships.models import Partnership
    from stappenplan.worksheets import comments, services

    with app.app_context():
        def driver(key: str) -> Driver:
            public_id = world.ids[f"partnership_{key}"]
            p = db.session.scalar(db.select(Partnership).where(Partnership.public_id == public_id))
            lib = db.session.scalar(db.select(User).where(User.email == world.emails[f"lib_{key}"]))
            cc = db.session.scalar(db.select(User).where(User.email == world.emails[f"cc_{key}"]))
            return Driver(p, lib, cc)

        a = driver("a")
        a.through(4)
        a.fill_joint(5)
        comments.add_comment(services.load_sheet(a.p, "childcare", 5, "joint"), a.users["childcare"],
                             "conversations", "Gezin C wil graag een taalcafé.", [])
        driver("b").own_steps(0, 0)
    return secured_app()


def _org_ids(app: Flask) -> dict[str, str]:
    with app.app_context():
        return {name: str(i) for name, i in db.session.execute(text("SELECT name, id FROM organisations")).all()}


def _as(app: Flask, org: str, sql: str, params: dict | None = None, bypass: str = "") -> list:
    """Run ``sql`` as the application role for ``org`` (rolled back): the rows, or the rowcount."""
    bypass = _bypass(app, bypass)
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(text(f'SET ROLE "{ROLE}"'))
        conn.execute(text("SELECT set_config('app.org_id', :o, true), set_config('app.bypass', :b, true)"),
                     {"o": org, "b": bypass})
        try:
            result = conn.execute(text(sql), params or {})
            return list(result.all()) if result.returns_rows else [result.rowcount]
        finally:
            conn.rollback()


ANSWERS_OF = ("SELECT a.id FROM answers a JOIN step_instances si ON si.id = a.step_instance_id "
              "WHERE {where}")
RECORDS = ANSWERS_OF.format(where="a.question = 'conversations'")
OWN_STEPS = ANSWERS_OF.format(where="si.slot <> 'joint'")
JOINT = ANSWERS_OF.format(where="si.slot = 'joint' AND a.question <> 'conversations'")


def test_coordinator_scope_reads_no_records_and_no_own_steps(step5_app: Flask, app: Flask) -> None:
    ids = _org_ids(app)
    everything = {name: len(_as(app, "", sql, bypass="on")) for name, sql in
                  (("records", RECORDS), ("own", OWN_STEPS), ("joint", JOINT))}
    assert everything["records"] == 1 and everything["own"] > 0 and everything["joint"] > 0
    record = _as(app, "", RECORDS, bypass="on")[0][0]
    revisions = "SELECT id FROM answer_revisions WHERE answer_id = :id"
    assert _as(app, "", revisions, {"id": record}, bypass="on")
    for coordinator in ("Coördinatie A", "Coördinatie B"):
        org = ids[coordinator]
        assert _as(app, org, RECORDS) == [], "a coordinator must not read step 5's records"
        assert _as(app, org, OWN_STEPS) == [], "a coordinator must not read steps 1-3 (shared or not)"
        assert _as(app, org, revisions, {"id": record}) == []
        assert _as(app, org, "SELECT id FROM comment_threads WHERE question = 'conversations'") == []
    # What the plan page shows: the open shared steps of its own region only.
    assert len(_as(app, ids["Coördinatie A"], JOINT)) == everything["joint"]
    assert _as(app, ids["Coördinatie B"], JOINT) == []
    assert _as(app, ids["Coördinatie A"], "SELECT count(*) FROM answer_revisions")[0][0] > 0


def test_coordinator_scope_writes_no_answers(step5_app: Flask, app: Flask) -> None:
    from sqlalchemy.exc import ProgrammingError

    ids = _org_ids(app)
    coordinator = ids["Coördinatie A"]
    target = _as(app, "", JOINT + " ORDER BY a.id LIMIT 1", bypass="on")[0][0]
    changed = "UPDATE answers SET value = '\"overschreven\"' WHERE id = :id"
    assert _as(app, coordinator, changed, {"id": target}) == [0]
    assert _as(app, coordinator, "UPDATE answers SET draft = draft") == [0]
    assert _as(app, coordinator, "DELETE FROM answers") == [0]
    assert _as(app, coordinator, "DELETE FROM answer_revisions") == [0]
    with pytest.raises(ProgrammingError, match="row-level security"):
        _as(app, coordinator, "INSERT INTO answers (step_instance_id, question, value, version, instance_seq, "
                              "draft, updated_at) SELECT step_instance_id, 'nieuw', '\"x\"', 1, 0, false, now() "
                              "FROM answers WHERE id = :id", {"id": target})
    # The same statements do work for the partners (the policies are per role, not a blanket).
    assert _as(app, ids["Bibliotheek A"], changed, {"id": target}) == [1]
    assert _as(app, ids["Opvang A"], changed, {"id": target}) == [1]


def test_library_scope_never_reads_step_5_records(step5_app: Flask, app: Flask) -> None:
    from sqlalchemy.exc import ProgrammingError

    ids = _org_ids(app)
    library, childcare = ids["Bibliotheek A"], ids["Opvang A"]
    assert _as(app, library, RECORDS) == []
    record = _as(app, "", RECORDS, bypass="on")[0][0]
    revisions = "SELECT id FROM answer_revisions WHERE answer_id = :id"
    assert _as(app, library, revisions, {"id": record}) == []
    assert _as(app, library, "SELECT id FROM comment_threads WHERE question = 'conversations'") == []
    thread = _as(app, "", "SELECT id FROM comment_threads WHERE question = 'conversations'", bypass="on")[0][0]
    comments = "SELECT id FROM comments WHERE thread_id = :t"
    assert _as(app, library, comments, {"t": thread}) == []
    assert len(_as(app, childcare, comments, {"t": thread})) == 1
    # The rest of step 5 is the library's to read, and the lead's records are the lead's.
    assert len(_as(app, library, "SELECT a.id FROM answers a JOIN step_instances si ON si.id = a.step_instance_id "
                                 "WHERE si.step = 5")) >= 1
    assert len(_as(app, childcare, RECORDS)) == 1
    assert len(_as(app, childcare, revisions, {"id": record})) >= 1
    assert len(_as(app, childcare, "SELECT id FROM comment_threads WHERE question = 'conversations'")) == 1
    # Writing records is no way around it either.
    step5 = _as(app, "", "SELECT step_instance_id FROM answers WHERE question = 'conversations'", bypass="on")[0][0]
    assert _as(app, library, "UPDATE answers SET value = '[]' WHERE question = 'conversations'") == [0]
    with pytest.raises(ProgrammingError, match="row-level security"):
        _as(app, library, "INSERT INTO comment_threads (public_id, step_instance_id, question, created_at) "
                          "VALUES ('x1', :i, 'conversations', now())", {"i": step5})


def _tally_sql(app: Flask, org: str, instance: int, minimum: int, options: list[str],
               question: str = "conversations") -> tuple:
    return tuple(_as(app, org, "SELECT conversations, counts FROM record_tally(:i, :q, :m, :o)",
                     {"i": instance, "q": question, "m": minimum, "o": options})[0])


def test_record_tally_gives_counts_only_from_the_minimum_and_only_in_reach(step5_app: Flask, app: Flask) -> None:
    from stappenplan.workflow.answers import tally_records
    from stappenplan.workflow.plan_loader import get_definition
    from stappenplan.worksheets.tally import options_of

    ids = _org_ids(app)
    question = get_definition(1).step(5).question("conversations")
    instance, value = _as(app, "", "SELECT step_instance_id, value FROM answers WHERE question = 'conversations'",
                          bypass="on")[0]
    options = options_of(question)
    expected = {f"{column}:{option.key}": n for column, counts in tally_records(question, value).items()
                for option, n in counts}
    assert sum(expected.values()) > 0
    for org in ("Bibliotheek A", "Opvang A", "Coördinatie A"):
        assert _tally_sql(app, ids[org], instance, 5, options) == (6, expected), org
        assert _tally_sql(app, ids[org], instance, 7, options) == (6, None), "below the minimum: no counts"
    for org in ("Bibliotheek B", "Opvang B", "Coördinatie B"):
        assert _tally_sql(app, ids[org], instance, 1, options) == (0, None), f"{org}: out of reach"
    assert _tally_sql(app, "", instance, 1, options) == (0, None), "no scope: nothing"
    # Only for the records: no counting other answers, not even when the minimum is lowered.
    assert _tally_sql(app, ids["Bibliotheek A"], instance, 1, ["approach:x"], question="approach") == (0, None)
    assert _tally_sql(app, ids["Bibliotheek A"], instance, 0, options)[1] == expected


def test_every_table_and_role_is_covered_by_the_role_policies(app: Flask) -> None:
    """New tables must be placed: every table under row-level security either refuses
    coordinator writes or is named in COORDINATOR_WRITES; every table with answers to
    questions keeps the childcare-only questions to childcare."""
    with app.app_context():
        protected = set(db.session.scalars(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity")))
        policies: dict[str, set[tuple[str, str, str]]] = {}
        for table, name, permissive, cmd in db.session.execute(text(
                "SELECT tablename, policyname, permissive, cmd FROM pg_policies WHERE schemaname = 'public'")):
            policies.setdefault(table, set()).add((name, permissive, cmd))
        with_question = set(db.session.scalars(text(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'question' AND table_name IN (SELECT tablename FROM pg_tables "
            "WHERE schemaname = 'public')")))
    assert COORDINATOR_WRITES <= protected
    for table in sorted(protected):
        assert ("tenant_scope", "PERMISSIVE", "ALL") in policies[table], table
        if table in COORDINATOR_WRITES:
            continue
        for cmd in ("INSERT", "UPDATE", "DELETE"):
            assert (f"role_coordinator_{cmd.lower()}", "RESTRICTIVE", cmd) in policies[table], \
                f"{table}: coordinators may {cmd}; add it to the policies or to COORDINATOR_WRITES"
    assert with_question - protected == set()
    assert with_question == QUESTION_TABLES | QUESTION_NO_CONTENT, "a new table with answers: protect it"
    for table in with_question:
        assert ("role_coordinator_read", "RESTRICTIVE", "SELECT") in policies[table], table
    for table in QUESTION_TABLES:
        assert ("role_childcare_only", "RESTRICTIVE", "ALL") in policies[table], table


def test_childcare_only_questions_match_the_plan_definitions(app: Flask) -> None:
    """The database knows the childcare-only questions by key: every plan version's
    ``visible_to: childcare`` question is one, and no other question shares its key."""
    from stappenplan.workflow.plan_loader import PLANS_DIR, get_definition

    versions = sorted(int(p.stem[1:]) for p in PLANS_DIR.glob("v*.yaml") if p.stem[1:].isdigit())
    assert versions
    expected: dict[str, bool] = {}
    for version in versions:
        for step in get_definition(version).steps:
            for question in step.questions:
                assert question.visible_to in (None, "childcare"), "only childcare-only questions are known"
                private = question.visible_to == "childcare"
                assert expected.setdefault(question.key, private) == private, question.key
    assert any(expected.values())
    with app.app_context():
        for key, private in expected.items():
            assert db.session.scalar(text("SELECT app_childcare_only(:k)"), {"k": key}) is private, key


def test_every_table_and_role_under_row_level_security(step5_app: Flask, app: Flask) -> None:
    """Behaviour, table by table and organisation kind by kind: a coordinator changes no
    row of the tables it only reads (the partners can), and nobody without a scope does."""
    ids = _org_ids(app)
    orgs = {"library": ids["Bibliotheek A"], "childcare": ids["Opvang A"], "coordination": ids["Coördinatie A"]}
    with app.app_context():
        protected = sorted(db.session.scalars(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity")))
    checked = set()
    for table in protected:
        rows = _as(app, "", f"SELECT count(*) FROM {table}", bypass="on")[0][0]
        if not rows:
            continue
        for kind in KINDS:
            visible = _as(app, orgs[kind], f"SELECT count(*) FROM {table}")[0][0]
            updated = _as(app, orgs[kind], f"UPDATE {table} SET id = id")[0]
            deleted = _as(app, orgs[kind], f"DELETE FROM {table}")[0]
            if kind == "coordination" and table not in COORDINATOR_WRITES:
                if table == "invitations":  # its own member invitations only
                    assert updated == deleted == _as(app, orgs[kind], f"SELECT count(*) FROM {table} "
                                                                      "WHERE partnership_id IS NULL")[0][0]
                    continue
                assert (updated, deleted) == (0, 0), f"a coordinator changes {table}"
                checked.add(table)
            else:
                assert updated == visible and deleted <= visible, (table, kind)
        assert _as(app, "", f"UPDATE {table} SET id = id")[0] == 0, f"no scope changes {table}"
    assert {"partnerships", "cycles", "step_instances", "sign_offs", "answers", "answer_revisions",
            "comment_threads", "comments"} <= checked


# --- the application under the role policies, for every kind of organisation --------------------


def _plan_counts(page: str) -> list[str]:
    """The theme counts of the plan document (the table rows after "Aantal keer")."""
    import re

    start = page.find("Aantal keer")
    assert start > 0, "the plan shows no theme counts"
    counts = re.findall(r"<td[^>]*>\s*(\d+)\s*</td>", page[start:start + 6000])
    assert counts, "no numbers after the heading"
    return counts


def _clients(world, plain: Flask, secured: Flask, who: str):
    a, b = plain.test_client(), secured.test_client()
    login(a, world.emails[who])
    login(b, world.emails[who])
    return a, b


def test_coordinator_pages_work_under_the_role_policies(world, step5_app: Flask, app: Flask) -> None:
    """Every page a coordinator has, with the same content as without row-level
    security; a coordinator sees no single partnership's theme counts (disclosure.py)."""
    plain, secured = _clients(world, app, step5_app, "coord_a")
    p = f"/samenwerkingen/{world.ids['partnership_a']}"
    pages = ["/start", "/regio", f"/regio/vestiging/{world.ids['lib_a']}", p, f"{p}/activiteit", f"{p}/plan",
             f"{p}/stap/4/samen", f"{p}/stap/5/samen", f"{p}/stap/4/samen/vraag/shared_goals/geschiedenis",
             f"{p}/stap/4/samen/vraag/shared_goals/opmerkingen", f"{p}/stap/5/samen/wijzigingen?seq=0",
             "/meldingen", "/account/meldingen", "/account"]
    for url in pages:
        expected, got = plain.get(url), secured.get(url)
        assert (got.status_code, expected.status_code) == (200, 200), url
        assert "Gezin A" not in got.get_data(as_text=True), url
    sheet, document = f"{p}/stap/5/samen", f"{p}/plan"
    for page in (secured.get(sheet).get_data(as_text=True), plain.get(sheet).get_data(as_text=True),
                 secured.get(document).get_data(as_text=True)):
        assert _support_counts(page) == {} and "Aantal keer" not in page
    pdf = secured.get(f"{document}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    exported = secured.get("/regio/export.csv")
    assert exported.status_code == 200 and exported.data == plain.get("/regio/export.csv").data
    # What a coordinator does write: its notifications, preferences, the audit trail (the export).
    from stappenplan.accounts.models import User
    from stappenplan.notifications.models import Notification

    with app.app_context():
        me = db.session.scalar(db.select(User).where(User.email == world.emails["coord_a"]))
        me_id = me.id
        notes = [Notification(user_id=me.id, kind="reminder", title=f"Melding {n}", link="/regio") for n in (1, 2)]
        db.session.add_all(notes)
        db.session.commit()
        first = notes[0].public_id
    assert secured.get(f"/meldingen/{first}").status_code == 302
    assert secured.post("/meldingen/alles-gelezen").status_code == 302
    with app.app_context():
        unread = "SELECT count(*) FROM notifications WHERE read_at IS NULL AND user_id = :me"
        assert db.session.scalar(text(unread), {"me": me_id}) == 0
        assert db.session.scalar(text("SELECT count(*) FROM notifications WHERE read_at IS NULL")) > 0, \
            "the partners' notifications are theirs to read"
        assert db.session.scalar(text("SELECT count(*) FROM audit_events WHERE kind = 'coordination.export'")) == 2
    chosen = {"step_opened": "off", "signoff": "digest", "mention": "direct", "reminder": "direct"}
    assert secured.post("/account/meldingen", data=chosen).status_code == 302
    # Own steps stay out of reach, as before.
    assert secured.get(f"{p}/stap/1/bibliotheek").status_code == 404


def test_partners_work_in_step_5_under_the_role_policies(world, step5_app: Flask, app: Flask) -> None:
    """The library sees the counts but no record, childcare sees both, and both can
    still write and finish step 5 with the role policies in force."""
    p = f"/samenwerkingen/{world.ids['partnership_a']}"
    sheet, document = f"{p}/stap/5/samen", f"{p}/plan"
    for who in ("lib_a", "cc_a"):
        plain, secured = _clients(world, app, step5_app, who)
        page = secured.get(sheet).get_data(as_text=True)
        counts = _support_counts(page)
        assert counts and counts == _support_counts(plain.get(sheet).get_data(as_text=True)), who
        assert ("Gezin A" in page) is (who == "cc_a"), who
        assert _plan_counts(secured.get(document).get_data(as_text=True)) == \
            _plan_counts(plain.get(document).get_data(as_text=True))
    lib = step5_app.test_client()
    login(lib, world.emails["lib_a"])
    with app.app_context():
        version = db.session.scalar(text("SELECT version FROM answers WHERE question = 'learned'"))
    saved = lib.post(f"{sheet}/vraag/learned", data={"q-learned": "Voorlezen kwam vaak terug.", "v-learned": version},
                     headers={"HX-Request": "true"})
    assert saved.status_code == 200, saved.get_data(as_text=True)[:300]
    cc = step5_app.test_client()
    login(cc, world.emails["cc_a"])
    done = cc.post(f"{p}/actie", data={"kind": "complete", "step": "5", "slot": "joint"}, follow_redirects=True)
    assert done.status_code == 200
    assert lib.get(f"{p}/stap/6/samen").status_code == 200, "step 5 completed, step 6 open"


def test_coordinator_manages_its_own_organisation_under_the_role_policies(world, step5_app: Flask, app: Flask) -> None:
    """The coordinator's own writes outside the partnerships keep working: a colleague
    invited and joining, the data export, the account and the organisation deleted."""
    import re

    from stappenplan.mail import outbox

    coordinator = step5_app.test_client()
    login(coordinator, world.emails["coord_a"])
    assert coordinator.post("/organisatie/leden/uitnodigen",
                            data={"email": "collega@regio-a.nl", "role": "admin"}).status_code == 302
    with step5_app.app_context():
        body = [m for m in outbox() if m.to == "collega@regio-a.nl"][-1].body
    link = re.search(r"http://[^\s]+(/uitnodiging/[^\s]+)", body).group(1)
    secret = "sterk-wachtwoord-8"
    colleague = step5_app.test_client()
    assert colleague.post(link, data={"name": "Collega", "password": secret, "confirm": secret}).status_code == 302
    export = coordinator.post("/organisatie/gegevens/export.json")
    assert export.status_code == 200 and "Gezin" not in export.get_data(as_text=True)
    assert coordinator.post("/account/verwijderen", data={"password": PASSWORD}).status_code == 302
    with app.app_context():
        users = "SELECT count(*) FROM users WHERE email = :e"
        assert db.session.scalar(text(users), {"e": world.emails["coord_a"]}) == 0
        assert db.session.scalar(text("SELECT count(*) FROM audit_events WHERE actor_pseudonym IS NOT NULL")) > 0
    assert colleague.get("/regio").status_code == 200
    gone = colleague.post("/organisatie/verwijderen", data={"confirm": "Coördinatie A"})
    assert gone.status_code == 302, gone.get_data(as_text=True)[:300]
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM organisations WHERE name = 'Coördinatie A'")) == 0
        assert db.session.scalar(text("SELECT count(*) FROM answers")) > 0, "the partnerships stay"


def test_library_deletes_its_organisation_records_included_under_the_role_policies(
        world, step5_app: Flask, app: Flask) -> None:
    """Deleting the organisation takes the partnership with it, also the records the
    library cannot read (the foreign keys cascade past the policies)."""
    library = step5_app.test_client()
    login(library, world.emails["lib_a"])
    export = library.post("/organisatie/gegevens/export.json")
    assert export.status_code == 200 and "Gezin" not in export.get_data(as_text=True)
    gone = library.post("/organisatie/verwijderen", data={"confirm": "Bibliotheek A"})
    assert gone.status_code == 302, gone.get_data(as_text=True)[:300]
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM answers WHERE question = 'conversations'")) == 0
        left = db.session.execute(text("SELECT DISTINCT p.public_id FROM answer_revisions r "
                                       "JOIN answers a ON a.id = r.answer_id "
                                       "JOIN step_instances si ON si.id = a.step_instance_id "
                                       "JOIN cycles c ON c.id = si.cycle_id "
                                       "JOIN partnerships p ON p.id = c.partnership_id")).scalars().all()
        assert left == [world.ids["partnership_b"]], "only partnership B's work is left"
def test_idle_change_feed_under_row_level_security(world, rls_app: Flask) -> None:
    """The feed's one-statement check runs under the policies too: the partner's quiet
    poll is 204 after the scope and one statement (which also checks the session); an
    outsider still gets 404."""
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
    assert len(statements) == 2, statements  # the scope (with the claimed organisation), the probe
    assert "set_config('app.org_id'" in statements[0] and "viewer.session_version" in statements[1]
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


def test_the_database_defends_itself_against_its_own_role(step5_app: Flask, app: Flask) -> None:
    """Logged in as the application's login role (not the owner, no superuser), every way
    out of the policies is closed: setting app.bypass, RESET ROLE, SET ROLE to the owner,
    replacing app_bypass(), switching a table's policies off, or asking the tally functions
    for a lower minimum than the floor."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    from stappenplan.workflow.plan_loader import get_definition
    from stappenplan.worksheets.tally import options_of

    ids = _org_ids(app)
    options = options_of(get_definition(1).step(5).question("conversations"))
    instance, records = _as(app, "", "SELECT step_instance_id, value FROM answers WHERE question = 'conversations'",
                            bypass="on")[0]
    assert len(records) >= 5
    with app.app_context():  # three conversations only: below the floor of five
        db.session.execute(text("UPDATE answers SET value = CAST(:v AS json) WHERE step_instance_id = :i "
                                "AND question = 'conversations'"),
                           {"v": __import__("json").dumps(records[:3]), "i": instance})
        db.session.commit()
    web = create_engine(step5_app.config["SQLALCHEMY_DATABASE_URI"])
    assert web.url.username == WEB

    def attempt(org: str, *statements: str, params: dict | None = None):
        with web.connect() as conn:
            conn.execute(text("SELECT set_config('app.org_id', :o, true)"), {"o": org})
            result = None
            for statement in statements:
                result = conn.execute(text(statement), params or {})
            rows = result.all() if result is not None and result.returns_rows else None
            conn.rollback()
            return rows

    count_records = "SELECT count(*) FROM answers WHERE question = 'conversations'"
    coordinator, library = ids["Coördinatie A"], ids["Bibliotheek A"]
    assert attempt(ids["Opvang A"], count_records)[0][0] == 1  # the owner of the records reads them
    # 1. app.bypass set by the role itself: ignored (only the app's secret value counts).
    for value in ("on", "true", "1"):
        assert attempt(coordinator, f"SELECT set_config('app.bypass', '{value}', true)", count_records)[0][0] == 0
        assert attempt("", f"SELECT set_config('app.bypass', '{value}', true)",
                       "SELECT count(*) FROM partnerships")[0][0] == 0
    # 2. RESET ROLE: back to the login role, which the policies bind just the same.
    assert attempt(coordinator, "RESET ROLE", count_records)[0][0] == 0
    assert attempt("", "RESET ROLE", "SELECT count(*) FROM partnerships")[0][0] == 0
    # 3. Becoming the owner, replacing the guard, switching the policies off: refused.
    for statement in ("SET ROLE postgres",
                      "CREATE OR REPLACE FUNCTION app_bypass() RETURNS boolean LANGUAGE sql AS $$ SELECT true $$",
                      "CREATE OR REPLACE FUNCTION app_theme_floor(kind text) RETURNS integer LANGUAGE sql "
                      "AS $$ SELECT 1 $$",
                      "ALTER TABLE answers DISABLE ROW LEVEL SECURITY",
                      "DROP POLICY role_childcare_only ON answers"):
        with pytest.raises(DBAPIError):
            attempt(coordinator, statement)
    # 4. The tally functions never count below the floor, whatever minimum is asked for.
    tally = "SELECT conversations, counts FROM record_tally(:i, 'conversations', :m, :o)"
    conversations, counts = attempt(library, tally, params={"i": instance, "m": 1, "o": options})[0]
    assert conversations == 3 and counts is None
    region = "SELECT conversations, partnerships, counts FROM region_tally('conversations', 1, 1, :o, NULL)"
    conversations, partnerships, counts = attempt(coordinator, region, params={"o": options})[0]
    assert (conversations, partnerships, counts) == (3, 1, None)
    web.dispose()


def test_readyz_says_when_the_guard_does_not_know_this_apps_secret(app: Flask) -> None:
    """A new SECRET_KEY without ``flask db-guard``: the app's system tasks would be refused by
    the database, so the server is not ready; after db-guard (run by the owner) it is."""
    secured = secured_app()
    assert secured.test_client().get("/readyz").status_code == 200
    rotated = secured_app()
    rotated.config["SECRET_KEY"] = "another-secret"
    response = rotated.test_client().get("/readyz")
    assert response.status_code == 503 and "flask db-guard" in response.get_json()["reason"]
    owner = make_app(SECRET_KEY="another-secret")
    result = owner.test_cli_runner().invoke(args=["db-guard"])
    assert result.exit_code == 0, result.output
    assert rotated.test_client().get("/readyz").status_code == 200
    assert secured.test_client().get("/readyz").status_code == 503  # the old secret no longer opens it
    assert make_app().test_cli_runner().invoke(args=["db-guard"]).exit_code == 0  # back, for the other tests


def test_a_prepared_partnership_is_accepted_declined_and_moved_under_row_level_security(
        world, rls_app: Flask) -> None:
    """Invited organisations on the platform accept from the start page, decline, and an
    address that joined another organisation meanwhile takes the prepared partnership
    along - each under the policies, as the invited organisation."""
    import re

    from stappenplan.partnerships.models import Invitation, Partnership

    def client_of(email: str):
        client = rls_app.test_client()
        login(client, email)
        return client

    library_b = client_of(world.emails["lib_b"])
    assert library_b.post("/samenwerkingen/uitnodigen", data={
        "emails": f"{world.emails['cc_a']}, Opvang A", "situation": "2"}).status_code == 302
    childcare_a = client_of(world.emails["cc_a"])
    home = childcare_a.get("/start").get_data(as_text=True)
    [inv_id] = re.findall(r'action="/uitnodigingen/ontvangen/([\w-]+)/accepteren"', home)
    accepted = childcare_a.post(f"/uitnodigingen/ontvangen/{inv_id}/accepteren")
    assert accepted.status_code == 302 and "/samenwerkingen/" in accepted.headers["Location"]
    assert childcare_a.get(accepted.headers["Location"]).status_code == 200
    # Declining: childcare B declines library A's invitation; the prepared one is gone.
    library_a = client_of(world.emails["lib_a"])
    assert library_a.post("/samenwerkingen/uitnodigen", data={
        "emails": f"{world.emails['cc_b']}, Opvang B", "situation": "2"}).status_code == 302
    childcare_b = client_of(world.emails["cc_b"])
    [declined] = re.findall(r'action="/uitnodigingen/ontvangen/([\w-]+)/afslaan"',
                            childcare_b.get("/start").get_data(as_text=True))
    assert childcare_b.post(f"/uitnodigingen/ontvangen/{declined}/afslaan").status_code == 302
    with rls_app.app_context(), rls.system_write():
        inv = db.session.scalar(db.select(Invitation).where(Invitation.public_id == declined))
        assert inv.state == "declined" and inv.partnership_id is None
        assert db.session.scalar(db.select(db.func.count(Partnership.id)).where(
            Partnership.awaiting_org_id.is_not(None))) == 0
