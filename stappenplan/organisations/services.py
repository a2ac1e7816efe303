"""Organisation membership and region operations."""

from __future__ import annotations

from sqlalchemy import func, select

from ..accounts.models import User
from ..audit.services import record
from ..core.errors import ServiceError
from ..extensions import db
from ..i18n import gettext as _
from .models import Membership, Organisation, Region, RegionMembership


def members_of(org: Organisation) -> list[Membership]:
    return list(
        db.session.scalars(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(Membership.organisation_id == org.id)
            .order_by(func.lower(User.name))
        )
    )


def _admin_count(org_id: int) -> int:
    return db.session.scalar(
        select(func.count(Membership.id)).where(
            Membership.organisation_id == org_id, Membership.role == "admin"
        )
    ) or 0


def _lock_admins(org_id: int) -> None:
    """Serialise admin changes per organisation (PostgreSQL row locks)."""
    db.session.execute(
        select(Membership.id)
        .where(Membership.organisation_id == org_id, Membership.role == "admin")
        .with_for_update()
    ).all()


def change_role(actor: User, membership: Membership, role: str, team: str | None) -> None:
    """Change a member's role and team; an organisation always keeps an admin."""
    _lock_admins(membership.organisation_id)
    if membership.role == "admin" and role != "admin" and _admin_count(membership.organisation_id) <= 1:
        raise ServiceError(_("Er moet altijd minstens één beheerder zijn."), field="role")
    membership.role = role
    if membership.organisation.kind == "library":
        membership.team = team or None
    record("member_role_changed", actor_id=actor.id, organisation_id=membership.organisation_id,
           member=membership.user.public_id, role=role, team=membership.team)
    db.session.flush()


def remove_member(actor: User, membership: Membership) -> None:
    """Remove a member (never the last admin); the account stays for attribution."""
    _lock_admins(membership.organisation_id)
    if membership.role == "admin" and _admin_count(membership.organisation_id) <= 1:
        raise ServiceError(_("Je kunt de laatste beheerder niet verwijderen."))
    user = membership.user
    record("member_removed", actor_id=actor.id, organisation_id=membership.organisation_id,
           member=user.public_id)
    db.session.delete(membership)
    user.session_version += 1  # end their sessions at once
    db.session.flush()


def regions() -> list[Region]:
    return list(db.session.scalars(select(Region).order_by(Region.name)))


def region_of(library: Organisation) -> RegionMembership | None:
    return db.session.scalar(select(RegionMembership).where(RegionMembership.library_id == library.id))


def opt_in(actor: User, region: Region) -> None:
    library = actor.organisation
    current = region_of(library)
    if current is not None:
        if current.region_id == region.id:
            return
        db.session.delete(current)
        db.session.flush()
    db.session.add(RegionMembership(region_id=region.id, library_id=library.id))
    record("region_opt_in", actor_id=actor.id, organisation_id=library.id, region=region.name)
    db.session.flush()


def opt_out(actor: User) -> None:
    library = actor.organisation
    current = region_of(library)
    if current is None:
        return
    record("region_opt_out", actor_id=actor.id, organisation_id=library.id, region=current.region.name)
    db.session.delete(current)
    db.session.flush()


def create_region(name: str, coordination_name: str) -> Region:
    """CLI: a region with its coordination organisation (created when missing)."""
    coordination = db.session.scalar(
        select(Organisation).where(
            Organisation.name == coordination_name, Organisation.kind == "coordination"
        )
    )
    if coordination is None:
        coordination = Organisation(name=coordination_name, kind="coordination")
        db.session.add(coordination)
    region = Region(name=name, coordination=coordination)
    db.session.add(region)
    db.session.flush()
    return region
