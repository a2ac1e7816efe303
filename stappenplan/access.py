"""The one place that decides who may use which route and see which object.

Every view declares a policy with ``@policy(...)``; a ``before_request`` hook
enforces it and refuses (fails closed) for views without one. Every lookup of a
partnership-scoped object goes through a ``*_or_404`` function here, which
answers 404 for anything outside the user's reach, so existence never leaks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import Select, false, select

from .extensions import db
from .organisations.models import Membership, Organisation, Region, RegionMembership, RegionRequest
from .partnerships.models import Invitation, Partnership
from .workflow import engine
from .workflow.services import current_cycle, instances_of, plan_for, state_from
from .workflow.slots import SLOT_SLUGS
from .worksheets.services import Sheet

F = TypeVar("F", bound=Callable[..., Any])

RULES = {"public", "login", "admin", "library", "childcare", "coordination", "partner"}


def policy(*rules: str) -> Callable[[F], F]:
    """Declare who may call a view. Rules are combined with AND.

    public: anyone; login: a logged-in user; admin: an admin of their organisation;
    library / childcare / coordination: the user's organisation kind;
    partner: library or childcare (organisations that take part in partnerships).
    """
    unknown = set(rules) - RULES
    if unknown or not rules:
        raise ValueError(f"unknown access rule(s): {unknown or 'none given'}")

    def decorate(view: F) -> F:
        view.access_policy = frozenset(rules)  # type: ignore[attr-defined]
        return view

    return decorate


def _view_policy() -> frozenset[str] | None:
    if request.endpoint is None:
        return frozenset({"public"})  # 404/405 handled by Flask itself
    if request.endpoint == "static":
        return frozenset({"public"})
    view = current_app.view_functions.get(request.endpoint)
    return getattr(view, "access_policy", None)


def allowed(rules: frozenset[str]) -> bool:
    """Whether the current user satisfies every rule."""
    if "public" in rules:
        return True
    if not current_user.is_authenticated or current_user.membership is None:
        return False
    org = current_user.membership.organisation
    for rule in rules - {"login"}:
        if rule == "admin" and current_user.membership.role != "admin":
            return False
        if rule in {"library", "childcare", "coordination"} and org.kind != rule:
            return False
        if rule == "partner" and org.kind not in {"library", "childcare"}:
            return False
    return True


def enforce() -> Any:
    """before_request hook: apply the view's policy (no policy → 404, fail closed)."""
    rules = _view_policy()
    if rules is None:
        current_app.logger.error("route %s has no access policy", request.endpoint)
        abort(404)
    if "public" in rules:
        return None
    if not current_user.is_authenticated:
        if request.method == "GET":
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        abort(401)
    if not allowed(rules):
        # Routes that name an object answer 404 so they reveal nothing.
        abort(404 if request.view_args else 403)
    return None


# --- scoping -----------------------------------------------------------------


def current_org() -> Organisation:
    return current_user.membership.organisation


def coordinated_library_ids(org_id: int) -> Select:
    """Library branches whose partnerships a coordination organisation may see."""
    return (
        select(RegionMembership.library_id)
        .join(Region, Region.id == RegionMembership.region_id)
        .where(Region.coordination_id == org_id)
    )


def visible_partnerships(org: Organisation) -> Select:
    """All partnerships an organisation may see; the base of every partnership query."""
    stmt = select(Partnership)
    if org.kind == "library":
        return stmt.where(Partnership.library_id == org.id)
    if org.kind == "childcare":
        return stmt.where(Partnership.childcare_id == org.id)
    if org.kind == "coordination":
        return stmt.where(Partnership.library_id.in_(coordinated_library_ids(org.id)))
    return stmt.where(false())  # pragma: no cover - unknown kinds see nothing


def viewer_role(partnership: Partnership, org: Organisation) -> str | None:
    """library / childcare (a party), coordinator (read-only), or None."""
    party = partnership.party_of(org.id)
    if party:
        return party
    if org.kind == "coordination":
        ok = db.session.scalar(
            select(RegionMembership.id)
            .join(Region, Region.id == RegionMembership.region_id)
            .where(
                Region.coordination_id == org.id,
                RegionMembership.library_id == partnership.library_id,
            )
        )
        return "coordinator" if ok else None
    return None


def partnership_or_404(public_id: str, *, party_only: bool = False) -> tuple[Partnership, str]:
    """Load a partnership the current user may see, with their role in it."""
    org = current_org()
    partnership = db.session.scalar(
        visible_partnerships(org).where(Partnership.public_id == public_id)
    )
    if partnership is None:
        abort(404)
    role = viewer_role(partnership, org)
    if role is None or (party_only and role == "coordinator"):
        abort(404)
    return partnership, role


def coordinated_partnership_or_404(public_id: str) -> Partnership:
    """A partnership of a branch in the current coordinator's region (to follow it up)."""
    partnership, role = partnership_or_404(public_id)
    if role != "coordinator":
        abort(404)
    return partnership


def invitation_or_404(public_id: str) -> Invitation:
    """An invitation sent by the current user's organisation."""
    inv = db.session.scalar(
        select(Invitation).where(
            Invitation.public_id == public_id, Invitation.inviter_org_id == current_org().id
        )
    )
    if inv is None:
        abort(404)
    return inv


def member_or_404(public_id: str) -> Membership:
    """A membership of the current user's own organisation."""
    membership = db.session.scalar(
        select(Membership).where(
            Membership.public_id == public_id,
            Membership.organisation_id == current_org().id,
        )
    )
    if membership is None:
        abort(404)
    return membership


def region_request_or_404(public_id: str) -> RegionRequest:
    """A branch's request to join one of the regions the current user's organisation
    coordinates. Anyone else - the branch itself, a coordinator of another region - gets 404."""
    org = current_org()
    request_ = None
    if org.kind == "coordination":
        request_ = db.session.scalar(
            select(RegionRequest)
            .join(Region, Region.id == RegionRequest.region_id)
            .where(RegionRequest.public_id == public_id, Region.coordination_id == org.id)
        )
    if request_ is None:
        abort(404)
    return request_





def sheet_or_404(partnership_id: str, step: int, slot_slug: str, *, lock: bool = False):
    """A worksheet the current user may see: the partnership in reach, the step open
    (or done) for them, and - in steps 1-3 - private to its organisation until it
    completed step 3. Coordinators see only the shared steps.

    ``lock``: for a save, lock the cycle row before the step instances are read, so
    the save's workflow check can use them instead of reading them again.
    """
    partnership, role = partnership_or_404(partnership_id)
    slot = SLOT_SLUGS.get(slot_slug)
    cycle = current_cycle(partnership, lock=lock)
    defn = plan_for(cycle)
    if slot is None or step not in {s.number for s in defn.steps} or slot not in engine.slots_for(defn, step):
        abort(404)
    instances = instances_of(cycle)
    state = state_from(cycle, instances, {})  # visibility depends on statuses only
    instance = next(i for i in instances if i.step == step and i.slot == slot)
    if role == "coordinator":
        if defn.step(step).mode == "each" or instance.status == engine.LOCKED:
            abort(404)
    elif not engine.visible(defn, state, role, step, slot) or instance.status == engine.LOCKED:
        abort(404)
    return Sheet(partnership=partnership, cycle=cycle, instance=instance, defn=defn, step=defn.step(step), role=role,
                 instances=instances, locked=lock)
