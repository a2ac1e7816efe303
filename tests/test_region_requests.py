"""Joining a region is a request: a coordinator of that region accepts or declines it.

Until a coordinator accepts, a self-registered branch is not in the region: it is not on
the dashboard, not in the exports, and its partnerships stay out of the coordinator's reach.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.audit.models import AuditEvent
from stappenplan.core.errors import ServiceError
from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.notifications.models import Notification
from stappenplan.organisations import services
from stappenplan.organisations.models import Organisation, Region, RegionMembership, RegionRequest
from tests.factories import login, make_org, make_partnership, make_user

NEW_ADMIN = "admin@bieb-c.nl"
NEW_MEMBER = "lid@bieb-c.nl"


@pytest.fixture
def newcomer(world, app: Flask) -> dict[str, str]:
    """A self-registered branch (C), in no region yet, with a partnership with Opvang C."""
    with app.app_context():
        lib_c = make_org("Bibliotheek C", "library")
        cc_c = make_org("Opvang C", "childcare")
        admin = make_user(lib_c, NEW_ADMIN, team="jeugd")
        make_user(lib_c, NEW_MEMBER, role="member", team="jeugd")
        make_user(cc_c, "admin@opvang-c.nl")
        partnership = make_partnership(lib_c, cc_c, admin)
        db.session.commit()
        return {"lib": lib_c.public_id, "partnership": partnership.public_id}


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _ask(client: FlaskClient, region_id: str):
    return client.post("/organisatie/regio", data={"region": region_id})


def _request(app: Flask, lib_public_id: str) -> RegionRequest:
    with app.app_context():
        return db.session.scalars(
            select(RegionRequest).join(Organisation, Organisation.id == RegionRequest.library_id)
            .where(Organisation.public_id == lib_public_id).order_by(RegionRequest.id.desc())
        ).first()


def _member_of_region(app: Flask, lib_public_id: str) -> bool:
    with app.app_context():
        return db.session.scalar(
            select(func.count(RegionMembership.id)).join(Organisation, Organisation.id == RegionMembership.library_id)
            .where(Organisation.public_id == lib_public_id)
        ) == 1


def _region_version(app: Flask, public_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Region.version).where(Region.public_id == public_id))


def _sees_branch(coordinator: FlaskClient, newcomer: dict[str, str]) -> dict[str, bool]:
    """Where the coordinator sees branch C: dashboard, exports, drill-down, partnership."""
    dashboard = coordinator.get("/regio").get_data(as_text=True)
    csv = coordinator.get("/regio/export.csv").data.decode("utf-8-sig")
    return {
        "dashboard": "Bibliotheek C" in dashboard or "Opvang C" in dashboard,
        "export": "Opvang C" in csv,
        "branch": coordinator.get(f"/regio/vestiging/{newcomer['lib']}").status_code == 200,
        "partnership": coordinator.get(f"/samenwerkingen/{newcomer['partnership']}").status_code == 200,
    }


def _titles(app: Flask, email: str) -> list[str]:
    """Region notification titles as the app shows them (in Dutch here)."""
    from stappenplan.notifications.services import shown

    with app.test_request_context():
        return [shown(n)[0] for n in db.session.scalars(
            select(Notification).join(User, User.id == Notification.user_id)
            .where(User.email == email, Notification.kind == "region").order_by(Notification.id))]


def test_a_request_does_not_put_the_branch_in_the_region_until_a_coordinator_accepts(
        world, app: Flask, newcomer: dict[str, str]) -> None:
    library = _client(app, NEW_ADMIN)
    coordinator = _client(app, world.emails["coord_a"])
    version = _region_version(app, world.ids["region_a"])

    response = _ask(library, world.ids["region_a"])
    assert response.status_code == 302
    page = library.get("/organisatie/regio").get_data(as_text=True)
    assert "Aanvraag in behandeling" in page and "Aanvraag intrekken" in page
    assert not _member_of_region(app, newcomer["lib"])
    assert _sees_branch(coordinator, newcomer) == {"dashboard": False, "export": False, "branch": False,
                                                   "partnership": False}
    assert _region_version(app, world.ids["region_a"]) == version  # nothing the coordinator sees changed

    dashboard = coordinator.get("/regio").get_data(as_text=True)
    assert "1 vestiging vraagt om mee te doen in jullie regio." in dashboard
    listing = coordinator.get("/regio/aanvragen").get_data(as_text=True)
    assert "Bibliotheek C" in listing and "1 aanvraag wacht op jullie" in listing

    request_id = _request(app, newcomer["lib"]).public_id
    accepted = coordinator.post(f"/regio/aanvragen/{request_id}/aannemen", follow_redirects=True)
    assert "Bibliotheek C doet nu mee in Regio A." in accepted.get_data(as_text=True)
    assert _member_of_region(app, newcomer["lib"])
    assert _request(app, newcomer["lib"]).status == "accepted"
    assert _region_version(app, world.ids["region_a"]) > version  # cached region figures refresh at once
    assert _sees_branch(coordinator, newcomer) == {"dashboard": True, "export": True, "branch": True,
                                                   "partnership": True}
    assert "Je vestiging doet mee in Regio A" in library.get("/organisatie/regio").get_data(as_text=True)
    assert "Aanvragen bekijken" not in coordinator.get("/regio").get_data(as_text=True)
    # The coordinators' notification asked for a decision: answered, so no longer new.
    notes = coordinator.get("/meldingen").get_data(as_text=True)
    assert "Bibliotheek C vraagt om mee te doen in Regio A" in notes
    with app.app_context():
        from stappenplan.notifications.models import Notification
        asked = db.session.scalars(select(Notification).where(Notification.title.like("%vraagt om mee te doen%")))
        assert [n.read_at is not None for n in asked] == [True]


def test_a_declined_request_leaves_the_branch_out(world, app: Flask, newcomer: dict[str, str]) -> None:
    library = _client(app, NEW_ADMIN)
    coordinator = _client(app, world.emails["coord_a"])
    _ask(library, world.ids["region_a"])
    request_id = _request(app, newcomer["lib"]).public_id
    declined = coordinator.post(f"/regio/aanvragen/{request_id}/afwijzen", follow_redirects=True)
    assert "De aanvraag van Bibliotheek C voor Regio A is afgewezen." in declined.get_data(as_text=True)
    assert _request(app, newcomer["lib"]).status == "declined"
    assert not _member_of_region(app, newcomer["lib"])
    assert not any(_sees_branch(coordinator, newcomer).values())
    page = library.get("/organisatie/regio").get_data(as_text=True)
    assert "Je aanvraag voor Regio A is op" in page and "afgewezen" in page
    assert "Aanvraag versturen" in page  # the branch may ask again, here or elsewhere
    # A decision is final: deciding again changes nothing and says so.
    again = coordinator.post(f"/regio/aanvragen/{request_id}/aannemen", follow_redirects=True)
    assert "Deze aanvraag is al afgehandeld." in again.get_data(as_text=True)
    assert not _member_of_region(app, newcomer["lib"])
    assert "Eerder afgehandeld" in coordinator.get("/regio/aanvragen").get_data(as_text=True)


def test_both_sides_are_notified_in_their_own_language(world, app: Flask, newcomer: dict[str, str]) -> None:
    with app.app_context():
        coordinator = db.session.scalar(select(User).where(User.email == world.emails["coord_a"]))
        coordinator.locale = "en"
        db.session.commit()
        outbox().clear()
    library = _client(app, NEW_ADMIN)
    _ask(library, world.ids["region_a"])
    assert _titles(app, world.emails["coord_a"]) == ["Bibliotheek C vraagt om mee te doen in Regio A"]
    assert _titles(app, world.emails["coord_b"]) == []  # another region's coordinators hear nothing
    assert _titles(app, NEW_MEMBER) == []
    with app.app_context():
        mails = {m.to: m for m in outbox()}
        outbox().clear()
    assert set(mails) == {world.emails["coord_a"]}
    assert mails[world.emails["coord_a"]].subject == "Bibliotheek C asks to join Regio A"
    assert "/regio/aanvragen#aanvraag-" in mails[world.emails["coord_a"]].body

    request_id = _request(app, newcomer["lib"]).public_id
    _client(app, world.emails["coord_a"]).post(f"/regio/aanvragen/{request_id}/aannemen")
    for email in (NEW_ADMIN, NEW_MEMBER):
        assert _titles(app, email) == ["Je vestiging doet nu mee in Regio A"]
    with app.app_context():
        mails = {m.to: m for m in outbox()}
    assert set(mails) == {NEW_ADMIN, NEW_MEMBER}
    assert mails[NEW_MEMBER].subject == "Je vestiging doet nu mee in Regio A"
    assert "/organisatie/regio" in mails[NEW_MEMBER].body


def test_the_library_hears_of_a_declined_request(world, app: Flask, newcomer: dict[str, str]) -> None:
    _ask(_client(app, NEW_ADMIN), world.ids["region_b"])
    request_id = _request(app, newcomer["lib"]).public_id
    _client(app, world.emails["coord_b"]).post(f"/regio/aanvragen/{request_id}/afwijzen")
    assert _titles(app, NEW_MEMBER) == ["Je aanvraag voor Regio B is afgewezen"]


def test_only_a_coordinator_of_that_region_decides(world, app: Flask, newcomer: dict[str, str]) -> None:
    library = _client(app, NEW_ADMIN)
    _ask(library, world.ids["region_a"])
    request_id = _request(app, newcomer["lib"]).public_id
    other_coordinator = _client(app, world.emails["coord_b"])
    for action in ("aannemen", "afwijzen"):
        assert other_coordinator.post(f"/regio/aanvragen/{request_id}/{action}").status_code == 404
        # The branch cannot decide its own request, nor can another library.
        assert library.post(f"/regio/aanvragen/{request_id}/{action}").status_code == 404
        assert _client(app, world.emails["lib_a"]).post(f"/regio/aanvragen/{request_id}/{action}").status_code == 404
        assert _client(app, world.emails["cc_a"]).post(f"/regio/aanvragen/{request_id}/{action}").status_code == 404
    assert other_coordinator.post("/regio/aanvragen/bestaat-niet/aannemen").status_code == 404
    assert "Bibliotheek C" not in other_coordinator.get("/regio/aanvragen").get_data(as_text=True)
    assert library.get("/regio/aanvragen").status_code == 403
    assert _request(app, newcomer["lib"]).status == "pending"
    assert not _member_of_region(app, newcomer["lib"])
    # A member (not an admin) of the branch cannot ask or withdraw.
    member = _client(app, NEW_MEMBER)
    assert member.post("/organisatie/regio", data={"region": world.ids["region_b"]}).status_code == 403
    assert member.post("/organisatie/regio/aanvraag-intrekken").status_code == 403
    assert _request(app, newcomer["lib"]).status == "pending"


def test_a_second_request_is_refused_with_a_clear_message(world, app: Flask, newcomer: dict[str, str]) -> None:
    library = _client(app, NEW_ADMIN)
    assert _ask(library, world.ids["region_a"]).status_code == 302
    second = _ask(library, world.ids["region_b"])
    assert second.status_code == 422
    assert "Er loopt al een aanvraag voor Regio A." in second.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(RegionRequest.id))) == 1
        # The service refuses too, and the database keeps one pending request per branch.
        admin = db.session.scalar(select(User).where(User.email == NEW_ADMIN))
        region_b = db.session.scalar(select(Region).where(Region.public_id == world.ids["region_b"]))
        with pytest.raises(ServiceError, match="Er loopt al een aanvraag"):
            services.request_region(admin, region_b)
    # A branch that is already in a region leaves first.
    member_of_a = _client(app, world.emails["lib_a"])
    refused = _ask(member_of_a, world.ids["region_b"])
    assert refused.status_code == 422
    assert "Je vestiging doet al mee in een regio. Meld je daar eerst af." in refused.get_data(as_text=True)
    bad = _ask(library, "geen-regio")
    assert bad.status_code == 422 and "Not a valid choice" not in bad.get_data(as_text=True)


def test_the_database_allows_one_pending_request_per_branch(world, app: Flask, newcomer: dict[str, str]) -> None:
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        lib_c = db.session.scalar(select(Organisation).where(Organisation.public_id == newcomer["lib"]))
        regions = db.session.scalars(select(Region).order_by(Region.name)).all()
        db.session.add(RegionRequest(library_id=lib_c.id, region_id=regions[0].id, status="declined"))
        db.session.add(RegionRequest(library_id=lib_c.id, region_id=regions[0].id))
        db.session.flush()  # declined ones do not count
        db.session.add(RegionRequest(library_id=lib_c.id, region_id=regions[1].id))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_the_branch_withdraws_its_request(world, app: Flask, newcomer: dict[str, str]) -> None:
    library = _client(app, NEW_ADMIN)
    coordinator = _client(app, world.emails["coord_a"])
    _ask(library, world.ids["region_a"])
    request_id = _request(app, newcomer["lib"]).public_id
    withdrawn = library.post("/organisatie/regio/aanvraag-intrekken", follow_redirects=True)
    page = withdrawn.get_data(as_text=True)
    assert "Je aanvraag voor Regio A is ingetrokken." in page and "Aanvraag versturen" in page
    assert _request(app, newcomer["lib"]).status == "withdrawn"
    assert "1 aanvraag wacht" not in coordinator.get("/regio/aanvragen").get_data(as_text=True)
    with app.app_context():
        from stappenplan.notifications.models import Notification
        asked = db.session.scalars(select(Notification).where(Notification.title.like("%vraagt om mee te doen%")))
        assert [n.read_at is not None for n in asked] == [True]  # nothing left to decide
    late = coordinator.post(f"/regio/aanvragen/{request_id}/aannemen", follow_redirects=True)
    assert "Deze aanvraag is al afgehandeld." in late.get_data(as_text=True)
    assert not _member_of_region(app, newcomer["lib"])
    nothing = library.post("/organisatie/regio/aanvraag-intrekken", follow_redirects=True)
    assert "Er is geen aanvraag meer om in te trekken." in nothing.get_data(as_text=True)
    # After withdrawing, the branch may ask another region.
    assert _ask(library, world.ids["region_b"]).status_code == 302
    assert _request(app, newcomer["lib"]).status == "pending"


def test_requests_and_decisions_are_in_the_logs(world, app: Flask, newcomer: dict[str, str]) -> None:
    library = _client(app, NEW_ADMIN)
    _ask(library, world.ids["region_a"])
    request_id = _request(app, newcomer["lib"]).public_id
    coordinator = _client(app, world.emails["coord_a"])
    coordinator.post(f"/regio/aanvragen/{request_id}/aannemen")
    with app.app_context():
        kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("region_%"))
                                   .order_by(AuditEvent.id)).all()
    assert kinds == ["region_requested", "region_request_accepted", "region_request_accepted"]
    log = library.get("/organisatie/logboek?soort=gegevens").get_data(as_text=True)
    assert "vroeg om mee te doen in Regio A" in log
    assert "nam de aanvraag van Bibliotheek C voor Regio A aan" in log
    coordinator_log = coordinator.get("/organisatie/logboek").get_data(as_text=True)
    assert "nam de aanvraag van Bibliotheek C voor Regio A aan" in coordinator_log


def test_deciding_needs_a_csrf_token(csrf_app: Flask) -> None:
    from tests.factories import build_world

    world = build_world(csrf_app)
    with csrf_app.app_context():
        lib_c = make_org("Bibliotheek C", "library")
        admin = make_user(lib_c, NEW_ADMIN)
        region = db.session.scalar(select(Region).where(Region.public_id == world.ids["region_a"]))
        request_id = services.request_region(admin, region).public_id
        db.session.commit()
    coordinator = csrf_app.test_client()
    page = coordinator.get("/inloggen").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    coordinator.post("/inloggen", data={"email": world.emails["coord_a"], "password": "een-goed-wachtwoord-42",
                                        "csrf_token": token})
    assert coordinator.post(f"/regio/aanvragen/{request_id}/aannemen").status_code == 400
    listing = coordinator.get("/regio/aanvragen").get_data(as_text=True)
    assert "Bibliotheek C" in listing
    token = re.search(r'name="csrf_token" value="([^"]+)"', listing).group(1)
    assert coordinator.post(f"/regio/aanvragen/{request_id}/aannemen", data={"csrf_token": token}).status_code == 302
    with csrf_app.app_context():
        assert db.session.scalar(select(RegionRequest.status).where(RegionRequest.public_id == request_id)) \
            == "accepted"


def test_the_demo_coordinator_has_one_request_to_decide(app: Flask) -> None:
    from stappenplan import demo

    with app.app_context():
        assert demo.seed()
        coordination = db.session.scalar(select(Organisation).where(Organisation.kind == "coordination"))
        assert services.pending_count(coordination.id) == 1
    coordinator = app.test_client()
    login(coordinator, f"coordinator@{demo.DOMAIN}", demo.PASSWORD)
    assert "1 vestiging vraagt om mee te doen" in coordinator.get("/regio").get_data(as_text=True)
    assert "vestiging Zaltbommel" in coordinator.get("/regio/aanvragen").get_data(as_text=True)
    assert "Zaltbommel" not in coordinator.get("/regio/export.csv").data.decode("utf-8-sig")


def test_a_branch_that_deletes_its_data_takes_its_requests_along(world, app: Flask, newcomer: dict[str, str]) -> None:
    library = _client(app, NEW_ADMIN)
    _ask(library, world.ids["region_a"])
    assert library.post("/organisatie/verwijderen", data={"confirm": "Bibliotheek C"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(RegionRequest.id))) == 0
    assert "Bibliotheek C" not in _client(app, world.emails["coord_a"]).get("/regio/aanvragen").get_data(as_text=True)


def _region_id(app: Flask, name_part: str = "") -> str:
    with app.app_context():
        return db.session.scalars(select(Region.public_id).order_by(Region.id)).first()


def test_a_branch_outside_any_region_is_told_what_a_region_is_and_asks_from_its_start_page(
        world, app: Flask, newcomer: dict[str, str]) -> None:
    from tests.formdata import text_of

    admin, member = _client(app, NEW_ADMIN), _client(app, NEW_MEMBER)
    page = text_of(admin.get("/start").get_data(as_text=True))
    assert "Doe mee in je regio" in page and "geen gespreksverslagen" in page
    assert 'href="/organisatie/regio"' in admin.get("/start").get_data(as_text=True)
    assert "Een beheerder van jullie vestiging kan vragen om mee te doen." in text_of(
        member.get("/start").get_data(as_text=True))
    assert _ask(admin, _region_id(app)).status_code == 302
    page = text_of(admin.get("/start").get_data(as_text=True))
    assert "Doe mee in je regio" not in page
    assert "Jullie vraag om mee te doen in de regio wacht op de regionale ondersteuning." in page
    # A branch in a region hears nothing of it.
    in_region = text_of(_client(app, world.emails["lib_a"]).get("/start").get_data(as_text=True))
    assert "Doe mee in je regio" not in in_region and "wacht op de regionale ondersteuning" not in in_region


def test_the_coordinators_start_page_leads_with_what_waits_and_decides_there(
        world, app: Flask, newcomer: dict[str, str]) -> None:
    from tests.formdata import text_of

    coordinator = _client(app, world.emails["coord_a"])
    assert "Er wacht nu niets op je" in text_of(coordinator.get("/start").get_data(as_text=True))
    region = _region_id(app)
    with app.app_context():
        coordinated = db.session.scalar(select(Region).where(Region.public_id == region)).coordination_id
        coord_org = db.session.get(Organisation, coordinated)
        coord_email = db.session.scalars(select(User.email).join(User.membership).where(
            User.membership.has(organisation_id=coord_org.id))).first()
    assert _ask(_client(app, NEW_ADMIN), region).status_code == 302
    coordinator = _client(app, coord_email)
    html = coordinator.get("/start").get_data(as_text=True)
    page = text_of(html)
    assert page.index("Wat op je wacht") < page.index("Naar het regio-overzicht")
    assert "1 aanvraag om mee te doen" in page and "Bibliotheek C" in page
    [request_id] = re.findall(r'action="/regio/aanvragen/([\w-]+)/aannemen"', html)
    response = coordinator.post(f"/regio/aanvragen/{request_id}/aannemen", data={"next": "/start"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/start")
    assert _member_of_region(app, newcomer["lib"])
    after = text_of(coordinator.get("/start").get_data(as_text=True))
    assert "Bibliotheek C doet nu mee in" in after and "aanvraag om mee te doen" not in after
