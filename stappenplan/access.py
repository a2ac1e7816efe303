"""The one place that decides who may use which route and see which object.

Every view declares a policy with ``@policy(...)``; a ``before_request`` hook
enforces it and refuses (fails closed) for views without one. Every lookup of a
partnership-scoped object goes through a ``*_or_404`` function here, which
answers 404 for anything outside the user's reach, so existence never leaks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import ColumnElement, Row, Select, bindparam, exists, false, func, or_, select
from sqlalchemy.orm import aliased
from werkzeug.exceptions import NotFound

from . import rls
from .accounts.models import User
from .core import uow
from .core.templating import wants_partial
from .extensions import db
from .organisations.models import Membership, Organisation, Region, RegionMembership, RegionRequest
from .outbox.models import OutboxMessage
from .partnerships.models import Invitation, Partnership
from .practice.models import PracticeRecord
from .workflow import engine
from .workflow.models import Cycle, SignOff, StepInstance
from .workflow.plan_loader import get_definition, latest_version
from .workflow.services import instances_of, plan_for, state_from
from .workflow.slots import SLOT_SLUGS
from .worksheets import reuse
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


def lazy_login(view: F) -> F:
    """For a ``@policy("login")`` view polled so often that loading the user first costs
    more than the answer (the change feed): when the session names a user the loader
    confirmed before (``SESSION_IDENTITY``), the access check leaves the login to the
    view, which must either check that identity in its own statement (``sheet_probe``
    with ``identity``) or call ``require_login`` before it reads or shows anything."""
    view.access_lazy_login = True  # type: ignore[attr-defined]
    return view


def _view() -> Any:
    if request.endpoint is None or request.endpoint == "static":
        return None
    return current_app.view_functions.get(request.endpoint)


def _view_policy(view: Any) -> frozenset[str] | None:
    if request.endpoint is None:
        return frozenset({"public"})  # 404/405 handled by Flask itself
    if request.endpoint == "static":
        return frozenset({"public"})
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
    view = _view()
    rules = _view_policy(view)
    if rules is None:
        current_app.logger.error("route %s has no access policy", request.endpoint)
        abort(404)
    if "public" in rules:
        return None
    if rules == {"login"} and getattr(view, "access_lazy_login", False):
        identity = _claimed_identity()
        if identity is not None:
            g.lazy_identity = identity
            return None
    return _require(rules)


def _require(rules: frozenset[str]) -> Any:
    if not current_user.is_authenticated:
        # A page goes to the login form and back. A part of a page (htmx) answers 401: the
        # login page would otherwise be put inside a panel or in place of a table.
        if request.method == "GET" and not wants_partial():
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        abort(401)
    if not allowed(rules):
        # Routes that name an object answer 404 so they reveal nothing.
        abort(404 if request.view_args else 403)
    return None


# --- the session's identity, checked inside a statement (lazy_login) ---------

#: The session key of whom the user loader last confirmed (see Identity). Signed with the
#: rest of the session; it decides nothing by itself: sheet_probe checks it in its statement.
SESSION_IDENTITY = "who"


@dataclass(frozen=True)
class Identity:
    """The user of this session as the loader last confirmed it: the user's ids and
    session version, the organisation of its membership and that organisation's kind."""

    user_id: int
    public_id: str
    session_version: int
    org_id: int
    org_kind: str
    org_public_id: str


def remember_identity(user: Any) -> None:
    """Called by the user loader for a confirmed user: keep whom it found in the session
    (written only when it changed, so the cookie is not re-signed on every request)."""
    membership = user.membership
    org = membership.organisation
    value = [user.id, user.public_id, user.session_version, org.id, org.kind, org.public_id]
    if session.get(SESSION_IDENTITY) != value:
        session[SESSION_IDENTITY] = value


def _claimed_identity() -> Identity | None:
    """The remembered identity, whole (our own session key: Flask-Login's are private).
    It is written by the loader and at login and removed at logout, so it never outlives
    the login it was taken from; the statement checks the session version besides."""
    value = session.get(SESSION_IDENTITY)
    if not (isinstance(value, list) and len(value) == 6):
        return None
    user_id, public_id, version, org_id, kind, org_public_id = value
    if not (isinstance(user_id, int) and isinstance(public_id, str) and public_id and isinstance(version, int)
            and isinstance(org_id, int) and kind in ("library", "childcare", "coordination")
            and isinstance(org_public_id, str)):
        return None
    return Identity(user_id, public_id, version, org_id, kind, org_public_id)


def session_identity() -> Identity | None:
    """The session's unconfirmed identity when the access check left the login to a
    ``lazy_login`` view; None when the user was loaded (use ``current_user``)."""
    return g.get("lazy_identity")


def require_login() -> Any:
    """What a ``lazy_login`` view does before anything its identity statement did not
    decide: the access check it skipped (a redirect to the login page, or None)."""
    if g.pop("lazy_identity", None) is None:
        return None
    return _require(frozenset({"login"}))


# --- scoping -----------------------------------------------------------------


def current_org() -> Organisation:
    return current_user.membership.organisation


def coordinated_library_ids(org_id: int | ColumnElement[int], branch_id: int | None = None) -> Select:
    """Library branches whose partnerships a coordination organisation may see (or just
    ``branch_id``, when it is one of them); ``org_id`` may be a bind parameter."""
    stmt = (
        select(RegionMembership.library_id)
        .join(Region, Region.id == RegionMembership.region_id)
        .where(Region.coordination_id == org_id)
    )
    return stmt if branch_id is None else stmt.where(RegionMembership.library_id == branch_id)


@functools.cache
def user_by_public_id() -> Select:
    """The session's user (the user loader, every request), built once per process.

    Statements here and in the busiest views are built once with bind parameters: a
    statement built anew costs ~0.1–0.2 ms more per execution than a kept one (building
    it, its cache key, pulling its values out), about as much as running it."""
    return select(User).where(User.public_id == bindparam("public_id"))


def visible_partnerships(org: Organisation) -> Select:
    """All partnerships an organisation may see; the base of every partnership query."""
    return select(Partnership).where(_visible(org.kind, org.id))


def _visible(kind: str, org_id: Any) -> ColumnElement[bool]:
    """The rule of visible_partnerships for an organisation of ``kind`` (``org_id`` may be
    a bind parameter, so a statement can be built once and reused)."""
    # A partnership prepared by an invitation is the inviter's alone until the invited
    # organisation accepts: not the invited one's, not a coordinator's.
    not_awaiting_me = or_(Partnership.awaiting_org_id.is_(None), Partnership.awaiting_org_id != org_id)
    if kind == "library":
        return (Partnership.library_id == org_id) & not_awaiting_me
    if kind == "childcare":
        return (Partnership.childcare_id == org_id) & not_awaiting_me
    if kind == "coordination":
        return Partnership.library_id.in_(coordinated_library_ids(org_id)) & Partnership.awaiting_org_id.is_(None)
    return false()  # pragma: no cover - unknown kinds see nothing


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
    partnership = db.session.scalar(_partnership_statement(org.kind), {"org": org.id, "public_id": public_id})
    if partnership is None:
        abort(404)
    role = _role_in_visible(partnership, org)
    if role is None or (party_only and role == "coordinator"):
        abort(404)
    return partnership, role


@functools.cache
def visible_partnerships_statement(kind: str) -> Select:
    """``visible_partnerships`` for an organisation of ``kind``, built once per kind with
    the organisation's id as the bind parameter ``org`` (see ``user_by_public_id``)."""
    return select(Partnership).where(_visible(kind, bindparam("org")))


@functools.cache
def _partnership_statement(kind: str) -> Select:
    """``visible_partnerships`` of one public id (bind parameters ``org``, ``public_id``):
    every partnership page and worksheet request runs it."""
    return visible_partnerships_statement(kind).where(Partnership.public_id == bindparam("public_id"))


def _role_in_visible(partnership: Partnership, org: Organisation) -> str | None:
    """viewer_role for a partnership read through visible_partnerships(org): for a
    coordination organisation that statement already held the region test of
    viewer_role, so it need not be asked again."""
    return partnership.party_of(org.id) or ("coordinator" if org.kind == "coordination" else None)


def coordinated_partnership_or_404(public_id: str) -> Partnership:
    """A partnership of a branch in the current coordinator's region (to follow it up)."""
    partnership, role = partnership_or_404(public_id)
    if role != "coordinator":
        abort(404)
    return partnership


def practice_record_or_404(partnership_id: str, record_id: str, *,
                           party_only: bool = False) -> tuple[Partnership, str, PracticeRecord]:
    """A practice record of a partnership the user may see, the partnership and the user's
    role in it (``party_only``: a coordinator, who only reads, gets 404)."""
    partnership, role = partnership_or_404(partnership_id, party_only=party_only)
    record = db.session.scalar(select(PracticeRecord).where(PracticeRecord.public_id == record_id,
                                                            PracticeRecord.partnership_id == partnership.id))
    if record is None:
        abort(404)
    return partnership, role, record


def outbox_message_or_404(public_id: str) -> OutboxMessage:
    """An e-mail of the current organisation (its admins retry undelivered ones)."""
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.public_id == public_id,
                                                            OutboxMessage.organisation_id == current_org().id))
    if message is None:
        abort(404)
    return message


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


def received_invitation_or_404(public_id: str) -> Invitation:
    """A partnership invitation addressed to the current user's organisation (one that was
    already on the platform), still open: the start page's "Accepteren"/"Afslaan"."""
    inv = db.session.scalar(
        select(Invitation).where(
            Invitation.public_id == public_id, Invitation.purpose == "partnership",
            Invitation.target_org_id == current_org().id,
        )
    )
    if inv is None or inv.state != "pending":
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





class StepNotYetOpen(NotFound):
    """A worksheet of the partnership that is not open (or not shared) yet, asked for by one
    of the partnership's own members. It is a 404 wherever nobody handles it; the worksheet
    pages answer a GET with "Stap N gaat open zodra ..." instead. Outsiders never get here:
    for them the partnership itself is not found."""

    def __init__(self, partnership: Partnership, step: Any, slot: str, reason: str) -> None:
        super().__init__()
        self.partnership, self.step, self.slot, self.reason = partnership, step, slot, reason


def sheet_or_404(partnership_id: str, step: int, slot_slug: str, *, lock: bool = False):
    """A worksheet the current user may see: the partnership in reach, the step open
    (or done) for them, and - in steps 1-3 - private to its organisation until it
    completed step 3. Coordinators see only the shared steps.

    ``lock``: for a save, lock the cycle row before the step instances are read, so
    the save's workflow check can use them instead of reading them again.
    """
    org = current_org()
    row = db.session.execute(_sheet_statement(org.kind, lock), {"org": org.id, "public_id": partnership_id}).first()
    if row is None:
        abort(404)
    partnership, cycle = row
    role = _role_in_visible(partnership, org)
    if role is None:
        abort(404)
    slot = SLOT_SLUGS.get(slot_slug)
    defn = plan_for(cycle)
    if slot is None or step not in {s.number for s in defn.steps} or slot not in engine.slots_for(defn, step):
        abort(404)
    instances = instances_of(cycle)
    state = state_from(cycle, instances, {})  # visibility depends on statuses only
    instance = next(i for i in instances if i.step == step and i.slot == slot)
    if role == "coordinator":
        if defn.step(step).mode == "each" or instance.status == engine.LOCKED:
            abort(404)
    elif slot != role and defn.step(step).mode == "each" and not engine.visible(defn, state, role, step, slot):
        abort(404)  # the partner's own step, not shared yet: not even whether it opened
    elif (reason := engine.opens_when(defn, state, step, slot)) is not None:
        raise StepNotYetOpen(partnership, defn.step(step), slot, reason)
    elif not engine.visible(defn, state, role, step, slot):
        abort(404)
    return Sheet(partnership=partnership, cycle=cycle, instance=instance, defn=defn, step=defn.step(step), role=role,
                 instances=instances, locked=lock)


def reuse_or_404(partnership_id: str, step: int, slot_slug: str, source_id: str, *,
                 lock: bool = False) -> tuple[Sheet, reuse.Source | None]:
    """An own step's worksheet that the user's organisation may edit now, and the same
    step of its own slot in another of its partnerships to start from (the statement
    reads only partnerships of the organisation and only its own slot). Anything else -
    a partner's slot, a joint step, step 5, a completed step, another organisation's
    partnership, a step without answers - answers 404. No source named (None): the
    worksheet is the place to choose one."""
    sheet = sheet_or_404(partnership_id, step, slot_slug, lock=lock)
    if not (reuse.applies(sheet) and sheet.editable):
        abort(404)
    if not source_id:
        return sheet, None
    source = reuse.offered_source(sheet, source_id[:40])
    if source is None:
        abort(404)
    return sheet, source


@functools.cache
def _sheet_statement(kind: str, lock: bool) -> Select:
    """The partnership and its newest cycle in one statement (the cycle row locked for a
    save), built once per organisation kind (see ``_partnership_statement``)."""
    newer = aliased(Cycle)
    latest = (select(func.max(newer.number)).where(newer.partnership_id == Partnership.id)
              .correlate(Partnership).scalar_subquery())
    stmt = (_partnership_statement(kind).add_columns(Cycle)
            .join_from(Partnership, Cycle, (Cycle.partnership_id == Partnership.id) & (Cycle.number == latest)))
    if lock:
        # populate_existing: the locked row's current values replace what the session held.
        stmt = stmt.with_for_update(of=Cycle).execution_options(populate_existing=True)
    return stmt


@dataclass(frozen=True)
class SheetProbe:
    """What the idle change feed needs to know about a worksheet, without loading it."""

    instance_id: int
    status: str
    content_version: int
    role: str
    #: The parties that approved the step's current content.
    signed: frozenset[str]
    #: The statement's rows: one per row ``extend`` joined in (at least one).
    rows: Sequence[Row[Any]]


@functools.cache
def _handoff() -> int:
    """The last private step of the newest plan: the statement reads that step's status
    (the ``each`` rule of ``engine.visible``); a cycle on a plan where it differs is not
    decided here."""
    return engine.last_private_step(get_definition(latest_version()))


def sheet_probe(partnership_id: str, step: int, slot_slug: str,
                extend: Callable[[Select[Any], Any], Select[Any]] | None = None,
                params: dict[str, Any] | None = None, identity: Identity | None = None) -> SheetProbe | None:
    """The access check of ``sheet_or_404`` as one indexed statement, for requests that
    only need a worksheet's status and sequence number (the change feed, polled by every
    open worksheet). ``extend`` (a module-level function: the statement is built once per
    organisation kind and kept) may join more to it, given the step instances table, with
    its values as bind parameters in ``params``; it must keep at least one row (outer joins).

    It only ever says yes: None means "not shown to be visible", and the caller then
    goes through ``sheet_or_404``, which answers 404 or loads the sheet. So it can never
    grant more than ``sheet_or_404``: each rule below is the same rule on the same rows
    (tests/test_change_feed.py compares the two for every user, step and stage).

    ``identity`` (a ``lazy_login`` view, the user not loaded): the statement also checks
    the session - that user, with that session version, is still a member of that
    organisation of that kind - so a yes holds for the user the loader would load.
    """
    slot = SLOT_SLUGS.get(slot_slug)
    if slot is None:
        return None
    if identity is not None:
        org_id, kind = identity.org_id, identity.org_kind
        g.rls_claim = org_id  # under row-level security the statement's transaction starts scoped to it
        who = {"me": identity.user_id, "me_public": identity.public_id, "me_version": identity.session_version,
               "me_kind": kind}
    else:
        org = current_org()
        org_id, kind, who = org.id, org.kind, {}
    first = _handoff()
    values = {"org": org_id, "public_id": partnership_id, "step": step, "slot": slot, "handoff": first,
              "after": first + 1, **who, **(params or {})}
    statement = _probe_statement(kind, extend, identity is not None)
    if identity is not None and not db.session().in_transaction() and not rls.enabled(current_app):
        # The request has read nothing yet and this one statement only reads: it needs no
        # transaction (two round trips fewer, for BEGIN and COMMIT), nor the ORM session.
        # The connection goes back at once; whatever follows runs in the request's unit of
        # work as usual.
        rows = uow.read_outside_transaction(statement, values)
    else:
        rows = db.session.connection().execute(statement, values).all()
    if not rows:
        return None
    (library_id, childcare_id, plan_version, instance_id, status, version, handoff_status, after_status,
     library_signed, childcare_signed) = rows[0][:10]
    defn = get_definition(plan_version)
    if engine.last_private_step(defn) != first or step not in {s.number for s in defn.steps} \
            or slot not in engine.slots_for(defn, step) or status == engine.LOCKED:
        return None
    # partnership_or_404: a party, or a coordinator whose region holds the library (the
    # statement's WHERE is the rule of visible_partnerships, for coordinators that region test).
    role = "library" if org_id == library_id else "childcare" if org_id == childcare_id else \
        "coordinator" if kind == "coordination" else None
    if role is None:
        return None
    if role == "coordinator":
        if defn.step(step).mode == "each":
            return None
    else:
        known = {(step, slot): status, (first, slot): handoff_status, (first + 1, engine.JOINT): after_status}
        state = engine.CycleState(number=0, steps={
            key: engine.StepState(step=key[0], slot=key[1], status=value)
            for key, value in known.items() if value is not None})
        try:
            if not engine.visible(defn, state, role, step, slot):
                return None
        except KeyError:  # the rule looked at a step this statement did not read
            return None
    signed = frozenset(party for party, yes in ((engine.LIBRARY, library_signed),
                                                (engine.CHILDCARE, childcare_signed)) if yes)
    return SheetProbe(instance_id=instance_id, status=status, content_version=version, role=role, signed=signed,
                      rows=rows)



@functools.lru_cache(maxsize=32)
def _probe_statement(kind: str, extend: Callable[[Select[Any], Any], Select[Any]] | None,
                     identity: bool = False) -> Select[Any]:
    """sheet_probe's statement for one organisation kind, built once: the partnership by
    its public id within the organisation's reach, its newest cycle, the step instance,
    and the two statuses the ``each`` rule of ``engine.visible`` reads; with ``identity``
    also the check the user loader makes (user, session version, membership)."""
    instances = StepInstance.__table__
    target, handoff, after = instances.alias("target"), instances.alias("handoff"), instances.alias("after_handoff")
    cycles, newer = Cycle.__table__, Cycle.__table__.alias("newer")
    signoffs = SignOff.__table__
    latest = (select(func.max(newer.c.number)).where(newer.c.partnership_id == Partnership.id)
              .correlate(Partnership.__table__).scalar_subquery())
    stmt = (
        select(Partnership.library_id, Partnership.childcare_id, cycles.c.plan_version, target.c.id, target.c.status,
               target.c.content_version,
               select(handoff.c.status).where(handoff.c.cycle_id == cycles.c.id, handoff.c.step == bindparam("handoff"),
                                              handoff.c.slot == bindparam("slot")).scalar_subquery(),
               select(after.c.status).where(after.c.cycle_id == cycles.c.id, after.c.step == bindparam("after"),
                                            after.c.slot == engine.JOINT).scalar_subquery(),
               *(exists().where(signoffs.c.step_instance_id == target.c.id, signoffs.c.party == party)
                 for party in (engine.LIBRARY, engine.CHILDCARE)))
        .select_from(Partnership)
        .join(cycles, (cycles.c.partnership_id == Partnership.id) & (cycles.c.number == latest))
        .join(target, (target.c.cycle_id == cycles.c.id) & (target.c.step == bindparam("step"))
              & (target.c.slot == bindparam("slot")))
        .where(Partnership.public_id == bindparam("public_id"), _visible(kind, bindparam("org")))
    )
    if identity:
        users, members, orgs = User.__table__.alias("viewer"), Membership.__table__, Organisation.__table__
        stmt = (stmt.join(users, (users.c.id == bindparam("me")) & (users.c.public_id == bindparam("me_public"))
                          & (users.c.session_version == bindparam("me_version")))
                .join(members, (members.c.user_id == users.c.id) & (members.c.organisation_id == bindparam("org")))
                .join(orgs, (orgs.c.id == members.c.organisation_id) & (orgs.c.kind == bindparam("me_kind"))))
    return extend(stmt, target) if extend is not None else stmt
