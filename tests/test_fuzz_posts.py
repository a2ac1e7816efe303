"""Every POST route, fuzzed with Hypothesis-generated form data.

Strings, huge values, wrong types, missing fields and unknown keys: never a 500
(the test app re-raises unexpected exceptions), and a refused request (4xx) never
writes anything.
"""

from __future__ import annotations

import hashlib

import pytest
from flask import Flask, url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from werkzeug.routing import Rule

from stappenplan.extensions import db
from tests.conftest import make_app, wipe
from tests.factories import PASSWORD, build_world, login

KNOWN_KEYS = [
    "email", "password", "confirm", "name", "org_name", "role", "team", "emails", "situation", "kind", "step",
    "slot", "reason", "q-why", "v-why", "q-why--remark", "q-aims", "q-aims--present", "op", "row", "col", "base",
    "merge", "merge-why", "body", "mentions", "resolved", "revision", "region", "current", "remember", "force_old",
    "o-why--r1--goal", "q-shared_goals--new--goal", "step_opened", "signoff", "mention", "reminder",
]
SKIP = {"accounts.logout"}  # ends the session the fuzzing needs; covered in test_accounts

values = st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from("ab <>&\"'\n"), st.integers(19_990, 60_000)).map(lambda t: t[0] * t[1]),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.sampled_from(["", " ", "0", "-1", "99999999999999999999", "null", "[]", "{}", "true", "ja", "deels",
                     "admin", "member", "complete", "sign_off", "reopen", "start_new_cycle", "library", "joint",
                     "1", "3", "8", "add", "edit", "delete", "up", "<script>alert(1)</script>", "\x00", "💥",
                     "31-02-2026", "2026-13-01"]),
    st.lists(st.text(max_size=10), max_size=3),
)
forms = st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=12)), values,
                        max_size=8)


def post_rules(app: Flask) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules()
                   if "POST" in (r.methods or set()) and r.endpoint not in SKIP), key=lambda r: r.rule)


def _fingerprint() -> str:
    """A digest of every row of every table: any write changes it."""
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        if table.name in ("presence", "notifications", "live_events"):  # live_events: presence announced
            continue
        rows = db.session.execute(text(f"SELECT * FROM {table.name} ORDER BY 1")).all()
        digest.update(repr(rows).encode())
    return digest.hexdigest()


_ROUTES = [r.endpoint for r in post_rules(make_app())]


@pytest.fixture(scope="module")
def fuzz_app(_migrated: None):
    app = make_app()
    wipe(app)
    world = build_world(app)
    from stappenplan.accounts.models import User
    from stappenplan.demo import Driver
    from stappenplan.partnerships.models import Partnership

    with app.app_context():
        p = db.session.scalar(db.select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        lib = db.session.scalar(db.select(User).where(User.email == world.emails["lib_a"]))
        cc = db.session.scalar(db.select(User).where(User.email == world.emails["cc_a"]))
        Driver(p, lib, cc).own_steps(3, 3)
        from stappenplan.practice import services as practice

        added = practice.add_activity(p, lib, "library", {"title": "Voorleesochtend", "status": "planned"})
        assert added.record is not None
        world.ids["record_a"] = added.record.public_id
    yield app, world
    wipe(app)


@pytest.mark.parametrize("endpoint", _ROUTES)
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=forms)
def test_post_route_never_500_and_refusals_write_nothing(fuzz_app, endpoint: str, data: dict) -> None:
    app, world = fuzz_app
    client = app.test_client()
    login(client, world.emails["lib_a"], PASSWORD)
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    sample = {"partnership_id": world.ids["partnership_a"], "member_id": world.ids["member_lib_a_member"],
              "invitation_id": "onbekend", "step": 4, "slot": "samen", "key": "target_parents", "token": "x",
              "branch_id": world.ids["lib_a"], "notification_id": "onbekend",
              "message_id": "onbekend", "request_id": "onbekend", "record_id": world.ids["record_a"]}
    with app.test_request_context():
        url = url_for(endpoint, **{arg: sample[arg] for arg in rule.arguments})
    with app.app_context():
        before = _fingerprint()
    response = client.post(url, data=data)
    assert response.status_code < 500, (url, response.status_code)
    if response.status_code >= 400:
        with app.app_context():
            assert _fingerprint() == before, f"{url} answered {response.status_code} but wrote something"
