"""The idle change feed's fast path: one statement after the session check, the same access
rules as sheet_or_404, and presence that still shows up within one poll."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login import login_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from werkzeug.exceptions import NotFound

from stappenplan import access
from stappenplan import demo_content as content
from stappenplan.accounts.models import User
from stappenplan.extensions import db, utcnow
from stappenplan.organisations.models import Membership, RegionMembership
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow.engine import Action
from stappenplan.workflow.models import Cycle, SignOff, StepInstance
from stappenplan.worksheets import feed
from stappenplan.worksheets.models import Presence
from tests.factories import login
from tests.test_query_counts import counted
from tests.test_worksheets import driver, sheet_url

HX = {"HX-Request": "true"}
SEQ = re.compile(r'id="sheet-seq" name="seq" value="(\d+)"')
SIG = re.compile(r'id="presence-sig" name="presence" value="([^"]*)"')


def client_for(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def params(page: str, status: str = "open") -> dict[str, str]:
    """What the page's script sends with each poll."""
    return {"seq": SEQ.search(page).group(1), "presence": SIG.search(page).group(1), "editing": "",  # type: ignore[union-attr]
            "status": status}


@pytest.fixture
def step4(world, app: Flask) -> str:
    with app.app_context():
        driver(world).own_steps(3, 3)
    return sheet_url(world, 4, "samen")


def test_idle_feed_is_one_statement_with_the_session_check(world, app: Flask, step4: str) -> None:
    cc = client_for(app, world.emails["cc_a"])
    query = params(cc.get(step4).get_data(as_text=True))
    first = cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX)
    assert first.status_code == 204 and first.headers["ETag"]
    with counted(app) as idle:
        quiet = cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX)
    assert quiet.status_code == 204
    # The worksheet with its presence, and the session check (user, session version,
    # membership) in the same statement: the user is not loaded first.
    assert len(idle) == 1, idle
    assert "viewer.session_version" in idle[0] and "memberships" in idle[0]
    with counted(app) as conditional:
        unchanged = cc.get(f"{step4}/wijzigingen", query_string=query,
                           headers={**HX, "If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == first.headers["ETag"]
    assert len(conditional) == 1, conditional
    # A coordinator (read-only, no presence row of their own) is answered the same way.
    coord = client_for(app, world.emails["coord_a"])
    coord_query = params(coord.get(step4).get_data(as_text=True))
    with counted(app) as coordinator:
        assert coord.get(f"{step4}/wijzigingen", query_string=coord_query, headers=HX).status_code == 204
    assert len(coordinator) == 1, coordinator


def test_a_change_ends_the_304_and_brings_the_news(world, app: Flask, step4: str) -> None:
    cc = client_for(app, world.emails["cc_a"])
    lib = client_for(app, world.emails["lib_a"])
    lib.get(step4)
    page = cc.get(step4).get_data(as_text=True)
    query = params(page)
    tag = cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX).headers["ETag"]
    assert lib.post(f"{step4}/vraag/target_parents", data={"q-target_parents": "Nieuw", "v-target_parents": 0},
                    headers=HX).status_code == 200
    news = cc.get(f"{step4}/wijzigingen", query_string=query, headers={**HX, "If-None-Match": tag})
    assert news.status_code == 200 and "Nieuw" in news.get_data(as_text=True)
    assert news.headers["ETag"] != tag
    again = cc.get(f"{step4}/wijzigingen", query_string=query, headers={**HX, "If-None-Match": news.headers["ETag"]})
    assert again.status_code == 304


def test_someone_arriving_shows_up_at_the_next_poll(world, app: Flask, step4: str) -> None:
    cc = client_for(app, world.emails["cc_a"])
    query = params(cc.get(step4).get_data(as_text=True))
    tag = cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX).headers["ETag"]
    assert cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX).status_code == 204
    client_for(app, world.emails["lib_a"]).get(step4)  # the library opens the worksheet
    for headers in (HX, {**HX, "If-None-Match": tag}):
        arrived = cc.get(f"{step4}/wijzigingen", query_string=query, headers=headers)
        assert arrived.status_code == 200 and "Ook op dit werkblad" in arrived.get_data(as_text=True)
    # and leaving: a presence row past the window is no longer counted by the fast path
    with app.app_context():
        lib_id = db.session.scalar(select(User.id).where(User.email == world.emails["lib_a"]))
        db.session.execute(update(Presence).where(Presence.user_id == lib_id)
                           .values(seen_at=utcnow() - feed.PRESENCE_WINDOW - timedelta(seconds=1)))
        db.session.commit()
    left = cc.get(f"{step4}/wijzigingen", query_string={**query, "presence": SIG.search(
        arrived.get_data(as_text=True)).group(1)}, headers=HX)  # type: ignore[union-attr]
    assert left.status_code == 200 and "Ook op dit werkblad" not in left.get_data(as_text=True)


def test_own_presence_is_still_refreshed_and_follows_the_field(world, app: Flask, step4: str) -> None:
    cc = client_for(app, world.emails["cc_a"])
    query = params(cc.get(step4).get_data(as_text=True))
    with app.app_context():
        cc_id = db.session.scalar(select(User.id).where(User.email == world.emails["cc_a"]))
        old = utcnow() - feed.PRESENCE_REFRESH - timedelta(seconds=5)
        db.session.execute(update(Presence).where(Presence.user_id == cc_id).values(seen_at=old))
        db.session.commit()
    with counted(app) as statements:
        assert cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX).status_code == 204
    assert len(statements) == 2, statements  # the probe (with the session check), the renewed presence row
    with app.app_context():
        row = db.session.scalar(select(Presence).where(Presence.user_id == cc_id))
        assert row.seen_at > old and row.question is None
    assert cc.get(f"{step4}/wijzigingen", query_string={**query, "editing": "target_parents"},
                  headers=HX).status_code == 204
    with app.app_context():
        assert db.session.scalar(select(Presence.question).where(Presence.user_id == cc_id)) == "target_parents"
    # a key that is not a question is stored as no field (and the poll stays quiet)
    assert cc.get(f"{step4}/wijzigingen", query_string={**query, "editing": "geen-vraag"},
                  headers=HX).status_code == 204
    with app.app_context():
        assert db.session.scalar(select(Presence.question).where(Presence.user_id == cc_id)) is None


def test_a_status_change_still_reloads_the_page(world, app: Flask, step4: str) -> None:
    cc = client_for(app, world.emails["cc_a"])
    query = params(cc.get(step4).get_data(as_text=True), status="locked")
    response = cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX)
    assert response.status_code == 200 and response.headers["HX-Refresh"] == "true"


def test_lost_access_is_404_not_304(world, app: Flask, step4: str) -> None:
    """A poller that was answered 204/304 gets 404 (or 401, logged out) as soon as its access ends,
    whatever sequence number or tag it sends."""
    coord = client_for(app, world.emails["coord_a"])
    query = params(coord.get(step4).get_data(as_text=True))
    tag = coord.get(f"{step4}/wijzigingen", query_string=query, headers=HX).headers["ETag"]
    with app.app_context():  # the library leaves the coordinator's region
        db.session.execute(delete(RegionMembership))
        db.session.commit()
    assert coord.get(f"{step4}/wijzigingen", query_string=query, headers={**HX, "If-None-Match": tag}
                     ).status_code == 404
    member = client_for(app, world.emails["cc_a_member"])
    query = params(member.get(step4).get_data(as_text=True))
    tag = member.get(f"{step4}/wijzigingen", query_string=query, headers=HX).headers["ETag"]
    with app.app_context():  # removed from the organisation
        user_id = db.session.scalar(select(User.id).where(User.email == world.emails["cc_a_member"]))
        db.session.execute(delete(Membership).where(Membership.user_id == user_id))
        db.session.commit()
    gone = member.get(f"{step4}/wijzigingen", query_string=query, headers={**HX, "If-None-Match": tag})
    assert gone.status_code == 401  # a part of a page (htmx) is never sent to the login form
    # another tenant, with the tag and the sequence number of a real poller
    outsider = client_for(app, world.emails["lib_b"])
    assert outsider.get(f"{step4}/wijzigingen", query_string=query, headers={**HX, "If-None-Match": tag}
                        ).status_code == 404


def _decisions(app: Flask, world, emails: list[str], partnerships: tuple[str, ...] = ("partnership_a", "partnership_b"),
               steps: range = range(0, 10)) -> dict[tuple[str, str, int, str], tuple[bool, bool]]:
    """Per (user, partnership, step, slug): (the fast path says visible, sheet_or_404 agrees)."""
    result = {}
    with app.app_context():
        for email in emails:
            user = db.session.scalar(select(User).where(User.email == email))
            for pid in (world.ids[name] for name in partnerships):
                for step in steps:
                    for slug in ("bibliotheek", "kinderopvang", "samen", "anders"):
                        with app.test_request_context():
                            login_user(user)
                            fast = access.sheet_probe(pid, step, slug) is not None
                            org = user.membership.organisation
                            identity = access.Identity(user.id, user.public_id, user.session_version, org.id,
                                                       org.kind, org.public_id)
                            lazy = access.sheet_probe(pid, step, slug, identity=identity) is not None
                            assert lazy == fast, (email, pid, step, slug)
                            try:
                                access.sheet_or_404(pid, step, slug)
                                full = True
                            except NotFound:
                                full = False
                        result[(email, pid, step, slug)] = (fast, full)
        db.session.rollback()
    return result


def test_fast_path_decides_exactly_as_sheet_or_404_at_every_stage(world, app: Flask) -> None:
    """Every user, worksheet and plan stage: the one-statement check says yes exactly when
    sheet_or_404 does (never more, so no leak; never less, so the fast path is used)."""
    emails = [world.emails[k] for k in ("lib_a", "cc_a", "coord_a", "lib_b", "cc_b", "coord_b")]

    def stage_childcare_step3() -> None:
        d = driver(world)
        d.fill("childcare", 3, "childcare", content.OWN["childcare"][3])
        d.act("childcare", Action("complete", 3, "childcare"))

    def stage_new_cycle() -> None:
        d = driver(world)
        for step in range(4, 9):
            d.finish_joint(step)
        d.act("library", Action("start_new_cycle"))

    stages = [lambda: None, lambda: driver(world).own_steps(3, 2), stage_childcare_step3, stage_new_cycle]
    seen_visible = 0
    for number, stage in enumerate(stages):
        with app.app_context():
            stage()
            db.session.commit()
        for key, (fast, full) in _decisions(app, world, emails).items():
            assert fast == full, f"stage {number}: {key}: fast path {fast}, sheet_or_404 {full}"
            seen_visible += fast
    assert seen_visible > 30  # the comparison covered visible worksheets, not only refusals


STATUSES = ("locked", "open", "completed")


@settings(max_examples=int(os.environ.get("ACCESS_EXAMPLES", "12")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_and_sheet_or_404_agree_on_generated_worlds(world, app: Flask, data) -> None:
    """The two access checks are built from the same rules (``engine.visible``,
    ``_visible``) but read different rows; over worlds no workflow would make - any status
    of any step, any sign-offs, the branch in or out of its region - they still agree for
    every user, step and slot (a property test: the one-source alternative would put the
    feed's one statement back into the ORM check, which the performance work took out)."""
    with app.app_context():
        partnership = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        instances = db.session.scalars(
            select(StepInstance).join(Cycle).join(Partnership)
            .where(Partnership.public_id == world.ids["partnership_a"]).order_by(StepInstance.step,
                                                                                 StepInstance.slot)).all()
        db.session.execute(delete(SignOff).where(SignOff.step_instance_id.in_([i.id for i in instances])))
        statuses = {}
        for instance in instances:
            instance.status = data.draw(st.sampled_from(STATUSES), label=f"{instance.step}/{instance.slot}")
            statuses[(instance.step, instance.slot)] = instance.status
            if instance.slot == "joint":
                for party in data.draw(st.sets(st.sampled_from(("library", "childcare"))),
                                       label=f"signed {instance.step}"):
                    db.session.add(SignOff(step_instance_id=instance.id, party=party))
        library_id = partnership.library_id
        membership = db.session.scalar(select(RegionMembership).where(RegionMembership.library_id == library_id))
        region_id = membership.region_id
        in_region = data.draw(st.booleans(), label="in region")
        if not in_region:
            db.session.delete(membership)
        db.session.commit()
    emails = [world.emails[k] for k in ("lib_a", "cc_a", "coord_a", "lib_b", "coord_b")]
    try:
        decisions = _decisions(app, world, emails, ("partnership_a",), range(0, 10))
    finally:
        if not in_region:
            with app.app_context():
                db.session.add(RegionMembership(region_id=region_id, library_id=library_id))
                db.session.commit()
    assert {key: value for key, value in decisions.items() if value[0] != value[1]} == {}
    # and a plain oracle, so agreeing on "nothing" is not enough: a library sees its own step 1 unless locked
    own = decisions[(world.emails["lib_a"], world.ids["partnership_a"], 1, "bibliotheek")]
    assert own == (statuses[(1, "library")] != "locked",) * 2


def _identity(client: FlaskClient) -> list:
    with client.session_transaction() as sess:
        return list(sess[access.SESSION_IDENTITY])


def test_the_session_check_in_the_statement_ends_at_a_logout_everywhere(world, app: Flask, step4: str) -> None:
    """The feed does not load the user, so its statement must refuse what the loader
    refuses: an old session version (logged out everywhere, password changed)."""
    cc = client_for(app, world.emails["cc_a"])
    query = params(cc.get(step4).get_data(as_text=True))
    assert cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX).status_code == 204
    with app.app_context():
        db.session.execute(update(User).where(User.email == world.emails["cc_a"])
                           .values(session_version=User.session_version + 1))
        db.session.commit()
    gone = cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX)
    assert gone.status_code == 401  # a part of a page (htmx) is never sent to the login form


def test_a_session_claim_that_no_longer_holds_goes_the_full_way(world, app: Flask, step4: str) -> None:
    """A session whose remembered identity names another organisation (or another kind of
    organisation, or nothing at all: a session from before this check) is answered by the
    user loader's check, which then remembers the right identity."""
    cc = client_for(app, world.emails["cc_a"])
    query = params(cc.get(step4).get_data(as_text=True))
    right = _identity(cc)
    with app.app_context():
        lib_org = db.session.scalar(select(User).where(User.email == world.emails["lib_a"])).organisation
        wrong_org = [*right[:3], lib_org.id, "library", lib_org.public_id]
    for claim in (wrong_org, [*right[:4], "library", right[5]], [right[0] + 1000, *right[1:]],
                  [*right[:2], right[2] + 1, *right[3:]], right[:4], None):
        with cc.session_transaction() as sess:
            if claim is None:
                sess.pop(access.SESSION_IDENTITY, None)
            else:
                sess[access.SESSION_IDENTITY] = claim
        with counted(app) as statements:
            answer = cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX)
        assert answer.status_code == 204, claim
        assert len(statements) > 1 and any("FROM users" in s and "viewer" not in s for s in statements), claim
        assert _identity(cc) == right
        with counted(app) as statements:
            assert cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX).status_code == 204
        assert len(statements) == 1


def test_a_stranger_with_a_forged_claim_learns_nothing(world, app: Flask, step4: str) -> None:
    """Another tenant's user whose session claims the partner's organisation (it cannot be
    forged without the secret key, but the statement would not believe it either)."""
    cc = client_for(app, world.emails["cc_a"])
    query = params(cc.get(step4).get_data(as_text=True))
    claim = _identity(cc)
    outsider = client_for(app, world.emails["cc_b"])
    outsider.get("/start")
    with outsider.session_transaction() as sess:
        sess[access.SESSION_IDENTITY] = [*sess[access.SESSION_IDENTITY][:3], *claim[3:]]
    assert outsider.get(f"{step4}/wijzigingen", query_string=query, headers=HX).status_code == 404


def test_logging_out_forgets_the_remembered_identity(world, app: Flask) -> None:
    cc = client_for(app, world.emails["cc_a"])
    assert _identity(cc)[0] > 0  # remembered at login
    cc.post("/uitloggen")
    with cc.session_transaction() as sess:
        assert access.SESSION_IDENTITY not in sess and "_user_id" not in sess


@pytest.mark.postgres
def test_a_feed_connection_that_died_while_resting_gives_the_503_page_once(world, step4: str) -> None:
    """The idle feed's statement goes straight to psycopg on PostgreSQL. A pooled connection
    that the server ended between two polls (within the ping-after-rest window) fails that
    one poll with the Dutch 503 page, never a 500; the next poll gets a fresh connection."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from tests.conftest import DATABASE_URL, make_app

    app = make_app(DB_PING_AFTER_IDLE=600)
    cc = client_for(app, world.emails["cc_a"])
    query = params(cc.get(step4).get_data(as_text=True))
    assert cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX).status_code == 204
    with app.app_context():  # the app's pool holds one connection: the one the feed used
        pids = {db.session.scalar(text("SELECT pg_backend_pid()"))}
        db.session.remove()
    killer = create_engine(DATABASE_URL, poolclass=NullPool)
    with killer.connect() as conn:
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
    killer.dispose()
    answers = [cc.get(f"{step4}/wijzigingen", query_string=query, headers=HX) for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 204, 204, 204]
    assert "Even niet bereikbaar" in answers[0].get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()
