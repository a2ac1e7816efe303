"""Builders for test data, going through the same services as the application."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.accounts.passwords import hash_password
from stappenplan.demo import Driver
from stappenplan.extensions import db, utcnow
from stappenplan.organisations.models import Membership, Organisation, Region, RegionMembership
from stappenplan.partnerships import services as partnership_services
from stappenplan.partnerships.models import Partnership

PASSWORD = "een-goed-wachtwoord-42"


def make_org(name: str, kind: str) -> Organisation:
    org = Organisation(name=name, kind=kind)
    db.session.add(org)
    db.session.flush()
    return org


def make_user(org: Organisation, email: str, role: str = "admin", team: str | None = None,
              name: str | None = None) -> User:
    user = User(email=email, name=name or email.split("@")[0].title(),
                password_hash=hash_password(PASSWORD), email_confirmed_at=utcnow())
    db.session.add(user)
    db.session.add(Membership(user=user, organisation=org, role=role, team=team))
    db.session.flush()
    return user


def make_partnership(library: Organisation, childcare: Organisation, actor: User,
                     situation: int = 2, plan_version: int | None = None) -> Partnership:
    partnership = partnership_services.start_partnership(library, childcare, situation, actor,
                                                         plan_version=plan_version)
    db.session.flush()
    return partnership


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    response = client.post("/inloggen", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@dataclass
class World:
    """Tenant A (library A + childcare A, region A) and outsiders B."""

    ids: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)


def build_world(app: Flask, plan_version: int | None = None) -> World:
    """Two libraries, two childcare organisations, two regions and one partnership each
    (partnership A on ``plan_version``, default the newest)."""
    world = World()
    with app.app_context():
        coord_a = make_org("Coördinatie A", "coordination")
        coord_b = make_org("Coördinatie B", "coordination")
        region_a = Region(name="Regio A", coordination=coord_a)
        region_b = Region(name="Regio B", coordination=coord_b)
        db.session.add_all([region_a, region_b])
        lib_a = make_org("Bibliotheek A", "library")
        lib_b = make_org("Bibliotheek B", "library")
        cc_a = make_org("Opvang A", "childcare")
        cc_b = make_org("Opvang B", "childcare")
        users = {
            "lib_a": make_user(lib_a, "admin@bieb-a.nl", team="jeugd"),
            "lib_a_member": make_user(lib_a, "lid@bieb-a.nl", role="member", team="taalhuis"),
            "lib_b": make_user(lib_b, "admin@bieb-b.nl"),
            "cc_a": make_user(cc_a, "admin@opvang-a.nl"),
            "cc_a_member": make_user(cc_a, "lid@opvang-a.nl", role="member"),
            "cc_b": make_user(cc_b, "admin@opvang-b.nl"),
            "coord_a": make_user(coord_a, "coord@regio-a.nl"),
            "coord_b": make_user(coord_b, "coord@regio-b.nl"),
        }
        db.session.add(RegionMembership(region=region_a, library=lib_a))
        db.session.add(RegionMembership(region=region_b, library=lib_b))
        db.session.flush()
        p_a = make_partnership(lib_a, cc_a, users["lib_a"], plan_version=plan_version)
        p_b = make_partnership(lib_b, cc_b, users["lib_b"])
        db.session.commit()
        world.ids.update(
            partnership_a=p_a.public_id, partnership_b=p_b.public_id,
            lib_a=lib_a.public_id, lib_b=lib_b.public_id, cc_a=cc_a.public_id,
            region_a=region_a.public_id, region_b=region_b.public_id,
        )
        for key, user in users.items():
            world.emails[key] = user.email
            world.ids[f"member_{key}"] = user.membership.public_id
    return world


def joint_step_writers(app: Flask, world: World, count: int, prefix: str) -> list[str]:
    """Open world's partnership A at step 4 (steps 1-3 done) and add ``count`` members,
    alternately of the library and of the childcare: the e-mail addresses of the writers
    the concurrency tests let loose on one joint worksheet."""
    with app.app_context():
        partnership = driver(world)
        partnership.own_steps(3, 3)
        p = partnership.p
        emails = [make_user(p.library if i % 2 == 0 else p.childcare, f"{prefix}{i}@x.nl", role="member").email
                  for i in range(count)]
        db.session.commit()
    return emails


def driver(world: World) -> Driver:
    """The demo's driver of the world's partnership A (library A and childcare A), to write
    answers and take steps as the app does; inside an app context."""
    p = db.session.scalar(select(Partnership).where(Partnership.public_id == world.ids["partnership_a"]))
    lib = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
    cc = db.session.scalar(select(User).where(User.email == world.emails["cc_a"]))
    return Driver(p, lib, cc)


def age_invitations(app: Flask, hours: int = 2) -> None:
    """Move every invitation and its mails ``hours`` back in time (a resend waits an hour)."""
    from datetime import timedelta

    from stappenplan.partnerships.models import Invitation, InvitationSend

    back = timedelta(hours=hours)
    with app.app_context():
        for inv in db.session.scalars(select(Invitation)):
            inv.sent_at, inv.created_at = inv.sent_at - back, inv.created_at - back
        for send in db.session.scalars(select(InvitationSend)):
            send.sent_at -= back
        db.session.commit()
