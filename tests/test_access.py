"""One place decides access: every route has a policy, outsiders get 404, CSRF everywhere.

These tests enumerate the URL map, so every future route is covered automatically:
a new URL argument without a sample below makes the test fail until it is added.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import Rule

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from stappenplan.partnerships.invitations import PartnerEntry, invite_partners
from tests.factories import login

# Routes whose argument is a signed token: public by design, tested in test_invitations/test_accounts.
TOKEN_ARGUMENTS = {"token"}
OUTSIDERS = ("lib_b", "cc_b", "coord_b")


def samples(app: Flask, world) -> dict[str, str]:
    """A real identifier of tenant A for every URL argument the application uses."""
    with app.app_context():
        actor = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        [inv] = invite_partners(actor, [PartnerEntry("nieuw@opvang.nl", "Opvang Nieuw")], 2)
        invitation_id = inv.public_id
        from stappenplan.notifications.services import notify

        [note] = notify([actor], "mention", partnership=None, title="Test", body="", link="/start")
        from stappenplan.outbox.models import OutboxMessage

        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.organisation_id == actor.organisation.id))
        message.status = "dead"  # a dead letter of tenant A: only A's admins may retry it
        from stappenplan.organisations.models import Region, RegionRequest

        region_a = db.session.scalar(select(Region).where(Region.public_id == world.ids["region_a"]))
        # Library A's (decided) request to join region A: only region A's coordinators may see it.
        region_request = RegionRequest(library_id=actor.organisation.id, region_id=region_a.id, status="accepted")
        db.session.add(region_request)
        from stappenplan.partnerships.models import Partnership
        from stappenplan.practice import services as practice

        partnership = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
        added = practice.add_activity(partnership, actor, "library", {"title": "Voorleesochtend", "status": "planned"})
        assert added.record is not None
        record_id = added.record.public_id
        db.session.commit()
        request_id = region_request.public_id
        notification_id = note.public_id
        message_id = message.public_id
    return {
        "partnership_id": world.ids["partnership_a"],
        "member_id": world.ids["member_lib_a_member"],
        "invitation_id": invitation_id,
        "step": 1,
        "slot": "bibliotheek",
        "key": "why",
        "branch_id": world.ids["lib_a"],
        "notification_id": notification_id,
        "message_id": message_id,
        "request_id": request_id,
        "record_id": record_id,
    }


def rules_with_arguments(app: Flask) -> list[Rule]:
    return [
        rule for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and rule.arguments and not rule.arguments <= TOKEN_ARGUMENTS
    ]


def test_every_route_declares_an_access_policy(app: Flask) -> None:
    missing = [
        rule.rule for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and getattr(app.view_functions[rule.endpoint], "access_policy", None) is None
    ]
    assert missing == []


#: Routes that name a tenant's object, of every kind: the outsider test must reach them all.
MUST_CHECK = {
    "partnerships.show", "partnerships.act", "partnerships.resend", "worksheets.show", "worksheets.save_field",
    "worksheets.table_op", "worksheets.changes", "worksheets.thread", "practice.show", "practice.update",
    "plan.show", "plan.pdf", "organisations.change_role", "coordination.follow_up", "coordination.accept_request",
    "notifications.open_notification", "audit.retry_mail",
}


def test_there_are_identifier_routes_to_check(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in rules_with_arguments(app)}
    assert MUST_CHECK - endpoints == set()


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_outsiders_get_404_on_every_identifier_route(world, app: Flask, outsider: str) -> None:
    values = samples(app, world)
    client = app.test_client()
    login(client, world.emails[outsider])
    checked = 0
    expected = sum(len((rule.methods or set()) & {"GET", "POST"}) for rule in rules_with_arguments(app))
    for rule in rules_with_arguments(app):
        unknown = rule.arguments - values.keys()
        assert not unknown, f"add a sample for {unknown} (route {rule.rule})"
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments})
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            response = client.open(url, method=method, data={})
            assert response.status_code == 404, f"{outsider} {method} {url}: {response.status_code}"
            checked += 1
    assert checked == expected and expected > len(MUST_CHECK)


def test_owner_reaches_the_same_routes(world, app: Flask) -> None:
    """The 404s above are about scope, not about broken URLs (the region's pages: its coordinator)."""
    values = samples(app, world)
    client = app.test_client()
    login(client, world.emails["lib_a"])
    coordinator = app.test_client()
    login(coordinator, world.emails["coord_a"])
    for rule in rules_with_arguments(app):
        if "GET" not in (rule.methods or set()) or "public" in app.view_functions[rule.endpoint].access_policy:
            continue
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments})
        owner = coordinator if rule.endpoint == "coordination.follow_up" else client
        response = owner.get(url)
        if response.status_code == 302:  # a redirect within reach, never to the login page
            target = response.headers["Location"]
            assert "/inloggen" not in target, url
            response = owner.get(target)
        assert response.status_code == 200, url


def test_anonymous_users_are_sent_to_login(world, app: Flask) -> None:
    values = samples(app, world)
    client = app.test_client()
    for rule in rules_with_arguments(app):
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments})
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            response = client.open(url, method=method)
            assert response.status_code in {302, 401}, (method, url)
            if response.status_code == 302:
                assert "/inloggen" in response.headers["Location"]


def test_a_part_of_a_page_asked_for_without_a_login_is_a_401_card(world, app: Flask) -> None:
    """An htmx request for a part of a page (a panel, the matrix, a table row) after the
    session ended answers 401 with the Dutch card: a redirect would put the whole login
    page inside the panel or in the table's place. A page still goes to the login form."""
    values = samples(app, world)
    client = app.test_client()
    checked = 0
    plain = [r for r in app.url_map.iter_rules() if r.endpoint != "static" and not r.arguments]
    for rule in rules_with_arguments(app) + plain:
        if "GET" not in (rule.methods or set()) or "public" in app.view_functions[rule.endpoint].access_policy:
            continue
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments})
        assert client.get(url).status_code == 302, url
        part = client.get(url, headers={"HX-Request": "true"})
        assert part.status_code == 401, url
        html = part.get_data(as_text=True)
        assert "Log opnieuw in" in html and 'type="password"' not in html and "<header" not in html, url
        # htmx restoring a page from history asks for the whole page: that goes to the login.
        restore = client.get(url, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
        assert restore.status_code == 302 and "/inloggen" in restore.headers["Location"], url
        checked += 1
    assert checked > 20


def test_every_post_route_requires_a_csrf_token(csrf_app: Flask) -> None:
    from tests.factories import build_world

    world = build_world(csrf_app)
    values = samples(csrf_app, world)
    values["token"] = "x"
    client = csrf_app.test_client()
    # Log in with a token, as a browser would.
    page = client.get("/inloggen").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/inloggen", data={"email": world.emails["lib_a"], "password": "een-goed-wachtwoord-42",
                                          "csrf_token": token}).status_code == 302
    posts = 0
    for rule in csrf_app.url_map.iter_rules():
        if rule.endpoint == "static" or "POST" not in (rule.methods or set()):
            continue
        with csrf_app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments})
        response = client.post(url, data={"email": "a@b.nl"})
        if rule.endpoint == "live.live_presence":
            # No browser posts here: the stream service signs its report instead (X-Live-Signature).
            assert response.status_code == 403, (url, response.status_code)
            continue
        assert response.status_code == 400, (url, response.status_code)
        assert "Formulier verlopen" in response.get_data(as_text=True)
        posts += 1
    assert posts >= 8
    assert client.get("/start").status_code == 200  # still logged in: nothing changed
