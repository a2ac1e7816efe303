"""Invitations: the links and their life cycle (signing, resolving, resending, revoking,
accepting once), and the partnership invitations. Member invitations build on this in
``organisations.invitations``.

Links are signed (itsdangerous) and carry the invitation's nonce; the database
decides whether the link is still valid (expiry, single use, revocation,
replacement by a resent link).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import func, select

from .. import rls
from ..accounts.models import User
from ..accounts.registration import require_confirmed
from ..accounts.services import create_user, user_by_email
from ..audit.services import record
from ..core import signals, uow
from ..core.errors import ServiceError
from ..core.tokens import sign, unsign
from ..core.web import external_url
from ..extensions import db, new_public_id, utcnow
from ..i18n import gettext as _
from ..i18n import ngettext
from ..organisations.models import Membership, Organisation, Region
from ..outbox import services as outbox
from ..outbox.services import mail_template
from ..workflow.engine import Event
from .models import Invitation, InvitationSend, Partnership

T = TypeVar("T")

SALT = "invitation"
PARTNER_KIND = {"library": "childcare", "childcare": "library"}


def token_for(inv: Invitation) -> str:
    return sign({"i": inv.public_id, "n": inv.nonce}, SALT)


def link_for(inv: Invitation) -> str:
    return external_url("partnerships.accept", token=token_for(inv))


def _expiry() -> timedelta:
    return timedelta(days=current_app.config["INVITATION_DAYS"])


@dataclass
class Resolved:
    """The invitation behind a link, or the reason the link does not work."""

    invitation: Invitation | None
    problem: str | None  # invalid, expired, used, revoked, declined, replaced


def resolve(token: str) -> Resolved:
    payload, problem = unsign(token, SALT, int(_expiry().total_seconds()) + 60)
    if payload is None:
        return Resolved(None, problem)
    if not isinstance(payload, dict):
        return Resolved(None, "invalid")
    # The signed link is the capability: it is read whoever holds it, also when the
    # invitation belongs to a prepared partnership nobody in this request may see yet.
    with rls.system_write():
        inv = db.session.scalar(select(Invitation).where(Invitation.public_id == str(payload.get("i"))))
    if inv is None:
        return Resolved(None, "invalid")
    if inv.nonce != payload.get("n"):
        return Resolved(None, "replaced")
    state = inv.state
    if state == "accepted":
        return Resolved(inv, "used")
    if state in {"revoked", "expired", "declined"}:
        return Resolved(inv, state)
    return Resolved(inv, None)


def obstacle(inv: Invitation) -> str | None:
    """Why the address cannot accept this invitation, or None.

    'member_elsewhere': it already belongs to an organisation; 'wrong_kind': it belongs to an
    organisation of the wrong kind for this partnership; 'partners': its organisation already
    works with the inviter. The inviter is not told (that would reveal who has an account);
    the address's owner gets a mail that explains it instead.
    """
    user = user_by_email(inv.email)
    if user is None or user.membership is None:
        return None
    target = user.membership.organisation
    if inv.purpose == "member":
        return "member_elsewhere"
    if target.kind != PARTNER_KIND[inv.inviter_org.kind]:
        return "wrong_kind"
    together = _partnership_of(*_library_first(inv.inviter_org_id, target.id, inv.inviter_org.kind))
    if together is not None and not together.pending:
        return "partners"
    return None


def send_invitation_mail(inv: Invitation, message: str = "") -> None:
    """Put the invitation mail in the outbox (sent after the commit, in Dutch: the invitee
    has no language setting yet), or, when the address cannot accept it, a mail to its
    owner that says why. A resent invitation is a new mail (new nonce); the personal
    message lives only in the first mail, it is not stored with the invitation."""
    reason = obstacle(inv)
    if reason is not None:
        owner = user_by_email(inv.email)
        outbox.enqueue(
            "invitation_obstacle", inv.email,
            {"purpose": inv.purpose, "inviter": inv.inviter_org.name, "reason": reason,
             "login": external_url("accounts.login")},
            dedupe_key=f"invitation:{inv.public_id}:{inv.nonce}", organisation_id=inv.inviter_org_id,
            locale=owner.locale if owner else None,
        )
        return
    inviter = db.session.get(User, inv.invited_by_id) if inv.invited_by_id else None
    outbox.enqueue(
        "invitation", inv.email,
        {"purpose": inv.purpose, "inviter": inv.inviter_org.name, "link": link_for(inv),
         "days": current_app.config["INVITATION_DAYS"], "person": inviter.name if inviter else "",
         "message": message},
        dedupe_key=f"invitation:{inv.public_id}:{inv.nonce}", organisation_id=inv.inviter_org_id,
    )


def quote(message: str) -> str:
    """The personal message as a quoted block: every line starts with "> ", so in the plain
    text mail it can never pass for the mail's own text or its link."""
    return "\n".join(f"> {line}".rstrip() for line in message.strip().splitlines())


@mail_template("invitation", secret=True)
def _invitation_mail(params: dict[str, Any]) -> tuple[str, str]:
    """Text: templates/mail/invitation.txt; the personal message arrives quoted."""
    return outbox.render("invitation", purpose=params["purpose"], org=params["inviter"],
                         person=params.get("person") or "", message=quote(params.get("message") or ""),
                         link=params["link"], days=params["days"])


#: A resent invitation: at most once an hour, and three times in all.
RESEND_EVERY = timedelta(hours=1)
RESENDS_MAX = 3


def sent_by(org: Organisation) -> list[Invitation]:
    """Every partner invitation the organisation sent, newest first (its invitations page)."""
    return list(db.session.scalars(
        select(Invitation).where(Invitation.inviter_org_id == org.id, Invitation.purpose == "partnership")
        .order_by(Invitation.sent_at.desc())))


def invitations_left(org_id: int) -> int:
    """How many invitation mails (partners and colleagues, first ones and resends) the
    organisation may still send today: the cap minus what it sent in the last 24 hours
    (``invitation_sends``). The forms show this number; the server accepts exactly it."""
    since = utcnow() - timedelta(days=1)
    sent = db.session.scalar(
        select(func.count(InvitationSend.id)).where(InvitationSend.organisation_id == org_id,
                                                    InvitationSend.sent_at > since)
    ) or 0
    return max(0, current_app.config["INVITATIONS_PER_DAY"] - sent)


def count_sends(org_id: int, invitations: list[Invitation], kind: str) -> None:
    """Write one ledger row per mail, in the transaction that sends it (after a flush)."""
    now = utcnow()
    for inv in invitations:
        db.session.add(InvitationSend(organisation_id=org_id, invitation_id=inv.id, kind=kind, sent_at=now))
    db.session.flush()


def check_may_invite(actor: User, count: int) -> None:
    """A confirmed address, and room in today's quota for ``count`` more invitations.

    The organisation's row is locked first: two requests of one organisation at the same
    moment are counted one after the other, so together they never pass the cap (counting,
    then inserting without a lock let five parallel requests of 100 through)."""
    require_confirmed(actor)
    db.session.execute(select(Organisation.id).where(Organisation.id == actor.organisation.id)
                       .with_for_update())
    left = invitations_left(actor.organisation.id)
    if count > left:
        per_day = current_app.config["INVITATIONS_PER_DAY"]
        raise ServiceError(
            ngettext("Je organisatie kan vandaag nog %(num)d uitnodiging versturen (maximaal %(max)d per dag).",
                     "Je organisatie kan vandaag nog %(num)d uitnodigingen versturen (maximaal %(max)d per dag).",
                     left, max=per_day) if left else
            _("Je organisatie heeft vandaag al %(max)d uitnodigingen verstuurd, het maximum per dag. "
              "Probeer het morgen opnieuw.", max=per_day)
        )


@mail_template("invitation_obstacle")
def _obstacle_mail(params: dict[str, Any]) -> tuple[str, str]:
    """Text: templates/mail/invitation_obstacle.txt."""
    return outbox.render("invitation_obstacle", org=params["inviter"], reason=params["reason"],
                         login=params["login"])


def new_invitation(**fields: object) -> Invitation:
    inv = Invitation(expires_at=utcnow() + _expiry(), **fields)
    db.session.add(inv)
    return inv


def refuse_open_duplicate(org_id: int, email: str, purpose: str) -> None:
    open_inv = db.session.scalar(
        select(Invitation).where(
            Invitation.inviter_org_id == org_id,
            Invitation.email == email,
            Invitation.purpose == purpose,
            Invitation.open_at(utcnow()),
        )
    )
    if open_inv is not None:
        raise ServiceError(
            _("Er staat al een uitnodiging open voor %(email)s. Stuur die opnieuw als dat nodig is.",
              email=email),
            field="email",
        )


# --- partnership invitations ----------------------------------------------------------


@dataclass
class PartnerEntry:
    email: str
    name: str


def _check_partner_entry(org: Organisation, entry: PartnerEntry, partners: dict[str, str]) -> Organisation | None:
    """The existing partner organisation for this email (or None), or a ServiceError.

    The answer does not depend on whether the address has an account: the organisation's
    name is always asked, and an address that cannot accept gets an explanation by mail
    (``obstacle``) instead of an error on the inviter's screen.
    """
    if not entry.name:
        raise ServiceError(
            _("Vul bij %(email)s ook de naam van de organisatie in.", email=entry.email)
        )
    try:
        refuse_open_duplicate(org.id, entry.email, "partnership")
    except ServiceError as error:
        raise ServiceError(error.message) from None
    # A partner by the name typed: the inviter knows its partners, so saying so reveals nothing
    # about who has an account (the address itself is not looked at for this).
    partner = partners.get(_name_key(entry.name))
    if partner is not None:
        raise ServiceError(_("Met %(org)s werken jullie al samen. Een nieuwe ronde start je op de pagina van die "
                             "samenwerking.", org=partner))
    existing = user_by_email(entry.email)
    if existing is not None and existing.membership is not None:
        target = existing.membership.organisation
        if target.kind == PARTNER_KIND[org.kind]:
            return target
    return None


def _partner_names(org: Organisation) -> dict[str, str]:
    """The organisations ``org`` already works with, by their name ignoring case and
    spaces around it: one query for a whole list of invitations."""
    other = Partnership.childcare_id if org.kind == "library" else Partnership.library_id
    own = Partnership.library_id if org.kind == "library" else Partnership.childcare_id
    names = db.session.scalars(select(Organisation.name).join(Partnership, other == Organisation.id)
                               .where(own == org.id))
    return {_name_key(name): name for name in names}


def _name_key(name: str) -> str:
    return name.strip().lower()


def kind_label(kind: str) -> str:
    return {
        "library": _("bibliotheekvestiging"),
        "childcare": _("kinderopvang"),
        "coordination": _("regionale ondersteuning"),
    }[kind]


#: The starting situations an organisation of each kind can choose when it invites, the
#: default first: a library seeks childcare (2) and childcare seeks a library (1); both
#: can start from an existing cooperation (3).
SITUATIONS_FOR = {"library": (2, 3), "childcare": (1, 3)}
MESSAGE_MAX = 1000


def invite_partners(actor: User, entries: list[PartnerEntry], situation: int,
                    message: str = "") -> list[Invitation]:
    """Invite one or more partner organisations at once: all or nothing. ``message`` is an
    optional personal note in the mail (plain text)."""
    org = actor.organisation
    offered = SITUATIONS_FOR.get(org.kind, (2,))
    if situation not in offered:
        situation = offered[0]  # the inviter took the initiative
    message = message.strip()
    if len(message) > MESSAGE_MAX:
        raise ServiceError(_("Het persoonlijke bericht is te lang (maximaal %(n)d tekens).", n=MESSAGE_MAX),
                           field="message")
    if not entries:
        raise ServiceError(_("Vul minstens één e-mailadres in."), field="emails")
    check_may_invite(actor, len(entries))
    seen: set[str] = set()
    partners = _partner_names(org)
    problems: list[str] = []
    targets: list[Organisation | None] = []
    for number, entry in enumerate(entries, start=1):
        if entry.email in seen:
            problems.append(_("Regel %(n)d: %(email)s staat er twee keer in.", n=number, email=entry.email))
            targets.append(None)
            continue
        seen.add(entry.email)
        try:
            targets.append(_check_partner_entry(org, entry, partners))
        except ServiceError as error:
            problems.append(_("Regel %(n)d: %(msg)s", n=number, msg=error.message))
            targets.append(None)
    if problems:
        raise ServiceError("\n".join(problems), field="emails")
    invitations = []
    for entry, target in zip(entries, targets, strict=True):
        inv = new_invitation(
            purpose="partnership", email=entry.email, inviter_org_id=org.id,
            invited_by_id=actor.id, target_org_id=target.id if target else None,
            org_name=entry.name, situation=situation, role="admin",
        )
        invitations.append(inv)
    db.session.flush()
    for inv, target in zip(invitations, targets, strict=True):
        _prepare(org, actor, inv, target, situation)
    count_sends(org.id, invitations, "new")
    for inv in invitations:
        record("partner_invited", actor_id=actor.id, organisation_id=org.id,
               email=inv.email, organisation=inv.org_name, situation=situation)
    for inv in invitations:
        send_invitation_mail(inv, message)
    return invitations


def _library_first(side: T, other: T, side_kind: str) -> tuple[T, T]:
    """Two sides of a partnership (organisations or their ids) as (library, childcare)."""
    return (side, other) if side_kind == "library" else (other, side)


def _partnership_of(library_id: int, childcare_id: int) -> Partnership | None:
    """The partnership of this pair, if any (prepared or active: the pair is unique)."""
    return db.session.scalar(select(Partnership).where(Partnership.library_id == library_id,
                                                       Partnership.childcare_id == childcare_id))


def _prepare(org: Organisation, actor: User, inv: Invitation, target: Organisation | None, situation: int) -> None:
    """Make the partnership the invitation proposes now, so the inviter can fill its own
    steps 1-3 at once. It waits for the invited organisation: the one on the platform
    (``target``), else a placeholder with the invitation's name and no members. Inviting
    the same address (or organisation) again goes on with the partnership prepared before."""
    from . import services  # local import: services depends on workflow persistence

    earlier = db.session.scalar(
        select(Partnership).join(Invitation, Invitation.partnership_id == Partnership.id)
        .where(Invitation.inviter_org_id == org.id, Invitation.email == inv.email,
               Invitation.id != inv.id, Partnership.awaiting_org_id.is_not(None))
        .order_by(Partnership.id).limit(1))
    if earlier is None and target is not None:
        earlier = _partnership_of(*_library_first(org.id, target.id, org.kind))
        if earlier is not None and not earlier.pending:
            return  # they work together already (invited by an address): accepting says so
    if earlier is not None:
        inv.partnership_id = earlier.id
        return
    invited = target
    if invited is None:
        invited = Organisation(name=(inv.org_name or inv.email).strip(), kind=PARTNER_KIND[org.kind], placeholder=True)
        db.session.add(invited)
        db.session.flush()
    partnership = services.start_partnership(*_library_first(org, invited, org.kind), situation, actor,
                                             awaiting=invited)
    inv.partnership_id = partnership.id


def _prepared(inv: Invitation) -> Partnership | None:
    """The partnership this invitation prepared, while it still waits for an answer. Read
    as the system: for the invited side it is not visible until it accepts."""
    if inv.partnership_id is None:
        return None
    with rls.system_write():
        partnership = db.session.get(Partnership, inv.partnership_id)
    return partnership if partnership is not None and partnership.pending else None


def _drop_prepared(inv: Invitation) -> None:
    """A declined or revoked invitation takes its prepared partnership along (and the
    placeholder organisation it waited for): nobody will ever accept it."""
    partnership = _prepared(inv)
    if partnership is None:
        return
    with rls.system_write():
        others = db.session.scalar(select(func.count(Invitation.id)).where(
            Invitation.partnership_id == partnership.id, Invitation.id != inv.id, Invitation.open_at(utcnow())))
        if others:
            return  # another open invitation still proposes it
        awaiting = db.session.get(Organisation, partnership.awaiting_org_id)
        inv.partnership_id = None
        db.session.delete(partnership)
        db.session.flush()
        if awaiting is not None and awaiting.placeholder:
            db.session.delete(awaiting)


# --- resend / revoke ---------------------------------------------------------------


def resend(actor: User, inv: Invitation) -> None:
    """A fresh link (new nonce, new expiry): the old link stops working."""
    if inv.state in {"accepted", "revoked", "declined"}:
        raise ServiceError(_("Deze uitnodiging kan niet opnieuw worden verstuurd."))
    check_may_invite(actor, 1)  # locks the organisation: the checks below count every resend
    resends = list(db.session.scalars(select(InvitationSend.sent_at).where(
        InvitationSend.invitation_id == inv.id, InvitationSend.kind == "resend")))
    if len(resends) >= RESENDS_MAX:
        raise ServiceError(_("Deze uitnodiging is al %(n)d keer opnieuw verstuurd. Trek hem in en nodig opnieuw uit "
                             "als het echt nodig is.", n=RESENDS_MAX))
    latest = max([*resends, inv.sent_at])
    if utcnow() - latest < RESEND_EVERY:
        minutes = max(1, int((RESEND_EVERY - (utcnow() - latest)).total_seconds() // 60) + 1)
        raise ServiceError(ngettext("Deze uitnodiging is net verstuurd. Over %(num)d minuut kun je hem opnieuw "
                                    "versturen.", "Deze uitnodiging is net verstuurd. Over %(num)d minuten kun je "
                                    "hem opnieuw versturen.", minutes))
    inv.nonce = new_public_id()
    inv.sent_at = utcnow()
    inv.expires_at = utcnow() + _expiry()
    count_sends(actor.organisation.id, [inv], "resend")
    record("invitation_resent", actor_id=actor.id, organisation_id=actor.organisation.id, email=inv.email)
    send_invitation_mail(inv)


def revoke(actor: User, inv: Invitation) -> None:
    if inv.state in {"accepted", "revoked", "declined"}:
        raise ServiceError(_("Deze uitnodiging is al gebruikt, afgeslagen of ingetrokken."))
    inv.revoked_at = utcnow()
    record("invitation_revoked", actor_id=actor.id, organisation_id=actor.organisation.id, email=inv.email)
    _drop_prepared(inv)


# --- accepting ------------------------------------------------------------------------


def lock(inv: Invitation) -> Invitation:
    """Re-read the invitation with a row lock so it can be accepted only once."""
    locked = db.session.scalar(
        select(Invitation).where(Invitation.id == inv.id).with_for_update(of=Invitation)
    )
    assert locked is not None
    if locked.state != "pending":
        raise ServiceError(_("Deze uitnodiging is al gebruikt, ingetrokken, afgeslagen of verlopen."))
    return locked


def needs_existing_org(inv: Invitation) -> Organisation | None:
    """The organisation that must accept a partnership invitation, if it exists already."""
    if inv.target_org_id:
        return inv.target_org
    user = user_by_email(inv.email)
    if user is not None and user.membership is not None:
        org = user.membership.organisation
        if org.kind == PARTNER_KIND[inv.inviter_org.kind]:
            return org
    return None


@uow.atomic
def accept_partnership_existing(inv: Invitation, actor: User) -> Partnership:
    """An admin of an organisation already on the platform accepts (through the mail's
    link or from the start page: the same checks)."""
    _check_accepting_admin(inv, actor)
    org = actor.organisation
    prepared = _prepared(inv)
    if prepared is None:
        inv = lock(inv)
        return _create_partnership(inv, org, actor)
    if prepared.awaiting_org_id != org.id:
        # Prepared for a placeholder, but the address belongs to an organisation on the
        # platform now: the partnership (and what the inviter wrote) moves to it.
        with rls.system_write():
            inv = lock(inv)
            _move_to(prepared, org)
    else:
        inv = lock(inv)
    return _activate(inv, prepared, org, actor)


def _move_to(partnership: Partnership, org: Organisation) -> None:
    inviter_id = partnership.childcare_id if org.kind == "library" else partnership.library_id
    pair = _library_first(org.id, inviter_id, org.kind)
    if _partnership_of(*pair) is not None:
        raise ServiceError(_("Deze organisaties werken al samen."))
    placeholder = db.session.get(Organisation, partnership.awaiting_org_id)
    partnership.library_id, partnership.childcare_id = pair
    partnership.awaiting_org_id = org.id
    db.session.flush()
    db.session.expire(partnership, ["library", "childcare"])
    if placeholder is not None and placeholder.placeholder:
        db.session.delete(placeholder)
        db.session.flush()


def _activate(inv: Invitation, partnership: Partnership, org: Organisation, actor: User) -> Partnership:
    """The invited organisation accepted the partnership that its invitation prepared."""
    from . import services

    services.activate(partnership, inv.inviter_org, inv.invited_by_id)
    inv.accepted_at = utcnow()
    record("invitation_accepted", actor_id=actor.id, organisation_id=org.id,
           partnership_id=partnership.id, email=inv.email)
    _announce_start(partnership, actor)
    return partnership


def _check_accepting_admin(inv: Invitation, actor: User) -> None:
    if not actor.is_admin or actor.organisation.kind != PARTNER_KIND[inv.inviter_org.kind]:
        raise ServiceError(
            _("Alleen een beheerder van een %(kind)s kan deze uitnodiging accepteren.",
              kind=kind_label(PARTNER_KIND[inv.inviter_org.kind]))
        )


@uow.atomic
def decline_partnership(inv: Invitation, actor: User) -> None:
    """An admin of the invited organisation declines in the app. The inviter's list says
    "Afgeslagen"; nothing is mailed (the inviter did not ask a question that waits)."""
    _check_accepting_admin(inv, actor)
    inv = lock(inv)
    inv.declined_at = utcnow()
    record("invitation_declined", actor_id=actor.id, organisation_id=actor.organisation.id,
           organisation=inv.inviter_org.name)
    _drop_prepared(inv)


@uow.atomic
def accept_partnership_new(inv: Invitation, org_name: str, name: str, password: str) -> User:
    """Create the invited organisation and its first admin, then the partnership (or: the
    placeholder the invitation prepared becomes that organisation)."""
    prepared = _prepared(inv)
    placeholder = db.session.get(Organisation, prepared.awaiting_org_id) if prepared is not None else None
    if prepared is not None and placeholder is not None and placeholder.placeholder:
        rls.scope_to(placeholder.id)  # from here on this request acts for the new organisation
        inv = lock(inv)
        user = create_user(inv.email, name, password)
        placeholder.name, placeholder.placeholder = org_name.strip(), False
        db.session.add(Membership(user=user, organisation=placeholder, role="admin"))
        db.session.flush()
        record("organisation_registered", actor_id=user.id, organisation_id=placeholder.id, name=placeholder.name)
        _activate(inv, prepared, placeholder, user)
        return user
    inv = lock(inv)
    user = create_user(inv.email, name, password)
    org = Organisation(name=org_name.strip(), kind=PARTNER_KIND[inv.inviter_org.kind])
    db.session.add(org)
    db.session.add(Membership(user=user, organisation=org, role="admin"))
    db.session.flush()
    rls.scope_to(org.id)  # from here on this request acts for the new organisation
    record("organisation_registered", actor_id=user.id, organisation_id=org.id, name=org.name)
    _create_partnership(inv, org, user)
    return user


def _create_partnership(inv: Invitation, org: Organisation, actor: User) -> Partnership:
    from . import services  # local import: services depends on workflow persistence

    inviter = inv.inviter_org
    library, childcare = _library_first(inviter, org, inviter.kind)
    if _partnership_of(library.id, childcare.id) is not None:
        raise ServiceError(_("Deze organisaties werken al samen."))
    partnership = services.start_partnership(library, childcare, inv.situation or 2, actor,
                                             inviter=inviter, invited_by=inv.invited_by_id)
    inv.accepted_at = utcnow()
    inv.partnership_id = partnership.id
    record("invitation_accepted", actor_id=actor.id, organisation_id=org.id,
           partnership_id=partnership.id, email=inv.email)
    _announce_start(partnership, actor)
    return partnership


def _announce_start(partnership: Partnership, actor: User) -> None:
    """Step 1 opens for both organisations: tell the inviting side."""
    events = [Event("step_opened", 1, slot, slot, {"cycle": 1}) for slot in ("library", "childcare")]
    signals.workflow_events.send(partnership, events=events, actor=actor, party="")


def create_coordinator_invitation(region: Region, email: str, role: str) -> str:
    """CLI: invite a coordinator into the region's coordination organisation."""
    inv = new_invitation(
        purpose="member", email=email, inviter_org_id=region.coordination_id, role=role
    )
    db.session.flush()
    record("member_invited", actor_id=None, organisation_id=region.coordination_id,
           email=email, role=role)
    send_invitation_mail(inv)
    return link_for(inv)
