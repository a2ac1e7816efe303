"""Organisation membership and region operations."""

from __future__ import annotations

import functools

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from ..accounts.models import User
from ..audit.services import record
from ..core import signals, uow
from ..core.errors import ServiceError
from ..extensions import db, utcnow
from ..i18n import gettext as _
from .models import Membership, Organisation, Region, RegionMembership, RegionRequest


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


def admin_count(org: Organisation) -> int:
    """How many admins ``org`` has: with one, that one cannot be removed or made a member."""
    return _admin_count(org.id)


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


def pending_request(library: Organisation) -> RegionRequest | None:
    """The branch's request that still waits for a coordinator, if any."""
    return db.session.scalar(select(RegionRequest).where(
        RegionRequest.library_id == library.id, RegionRequest.status == "pending"))


def last_decision(library: Organisation) -> RegionRequest | None:
    """The branch's most recently decided request (to say that one was declined)."""
    return db.session.scalar(
        select(RegionRequest)
        .where(RegionRequest.library_id == library.id, RegionRequest.status.in_(("accepted", "declined")))
        .order_by(RegionRequest.decided_at.desc(), RegionRequest.id.desc())
        .limit(1)
    )


def request_region(actor: User, region: Region) -> RegionRequest:
    """Ask to join ``region``. The branch is not in the region until a coordinator accepts:
    otherwise any self-registered library could put itself in a coordinator's figures."""
    library = actor.organisation
    if region_of(library) is not None:
        raise ServiceError(_("Je vestiging doet al mee in een regio. Meld je daar eerst af."), field="region")
    waiting = pending_request(library)
    if waiting is not None:
        raise ServiceError(_("Er loopt al een aanvraag voor %(region)s. Trek die eerst in als je een andere "
                             "regio wilt kiezen.", region=waiting.region.name), field="region")
    request = RegionRequest(library_id=library.id, region_id=region.id, requested_by_id=actor.id)
    with uow.savepoint() as tentative:
        db.session.add(request)
        try:
            db.session.flush()
        except IntegrityError:  # a second request at the same moment (another tab)
            tentative.undo()
            raise ServiceError(_("Er loopt al een aanvraag voor je vestiging."), field="region") from None
    record("region_requested", actor_id=actor.id, organisation_id=library.id, region=region.name)
    db.session.flush()
    signals.region_request.send(request, event="requested", actor=actor)
    return request


def withdraw_request(actor: User) -> RegionRequest:
    """The branch takes its pending request back before a coordinator decided."""
    request = _locked(pending_request(actor.organisation))
    if request is None or request.status != "pending":
        raise ServiceError(_("Er is geen aanvraag meer om in te trekken."))
    request.status = "withdrawn"
    request.decided_at = utcnow()
    request.decided_by_id = actor.id
    record("region_request_withdrawn", actor_id=actor.id, organisation_id=request.library_id,
           region=request.region.name)
    db.session.flush()
    signals.region_request.send(request, event="withdrawn", actor=actor)
    return request


def decide_request(actor: User, request: RegionRequest, *, accept: bool) -> None:
    """A coordinator of the region accepts (the branch joins) or declines a pending request.

    The caller has checked that ``actor`` coordinates the request's region (access.py).
    Accepting adds the region membership, which raises the region's version, so cached
    region figures include the branch at once.
    """
    locked = _locked(request)
    if locked is None or locked.status != "pending":
        raise ServiceError(_("Deze aanvraag is al afgehandeld."))
    locked.status = "accepted" if accept else "declined"
    locked.decided_at = utcnow()
    locked.decided_by_id = actor.id
    if accept:
        current = region_of(locked.library)
        if current is not None and current.region_id != locked.region_id:
            db.session.delete(current)
            db.session.flush()
        if current is None or current.region_id != locked.region_id:
            db.session.add(RegionMembership(region_id=locked.region_id, library_id=locked.library_id))
    kind = "region_request_accepted" if accept else "region_request_declined"
    # In the branch's log and in the coordination organisation's log.
    for organisation_id in (locked.library_id, locked.region.coordination_id):
        record(kind, actor_id=actor.id, organisation_id=organisation_id, region=locked.region.name,
               library=locked.library.name)
    db.session.flush()
    signals.region_request.send(locked, event="accepted" if accept else "declined", actor=actor)


def _locked(request: RegionRequest | None) -> RegionRequest | None:
    """The request again, with its row locked: a decision and a withdrawal never both win."""
    if request is None:
        return None
    return db.session.scalar(
        select(RegionRequest).where(RegionRequest.id == request.id)
        .with_for_update(of=RegionRequest)
        .execution_options(populate_existing=True)
    )


def pending_requests(coordination_id: int) -> list[RegionRequest]:
    """Requests waiting for the coordinators of ``coordination_id``'s regions, oldest first."""
    return list(db.session.scalars(
        select(RegionRequest).join(Region, Region.id == RegionRequest.region_id)
        .where(Region.coordination_id == coordination_id, RegionRequest.status == "pending")
        .order_by(RegionRequest.created_at, RegionRequest.id)
    ))


def pending_count(coordination_id: int) -> int:
    return db.session.scalar(_pending_count_statement(), {"org": coordination_id}) or 0


@functools.cache
def _pending_count_statement() -> Select:
    """The dashboard's count of pending region requests, built once per process with a
    bind parameter (see ``access.user_by_public_id``)."""
    return (select(func.count(RegionRequest.id)).join(Region, Region.id == RegionRequest.region_id)
            .where(Region.coordination_id == bindparam("org"), RegionRequest.status == "pending"))


def recent_decisions(coordination_id: int, limit: int = 10) -> list[RegionRequest]:
    """The latest decided or withdrawn requests of the coordinator's regions."""
    return list(db.session.scalars(
        select(RegionRequest).join(Region, Region.id == RegionRequest.region_id)
        .where(Region.coordination_id == coordination_id, RegionRequest.status != "pending")
        .order_by(RegionRequest.decided_at.desc(), RegionRequest.id.desc())
        .limit(limit)
    ))


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
