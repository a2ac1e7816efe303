"""Member invitations: a colleague is invited into the organisation by e-mail and joins
through the link. The link mechanics are shared with partnership invitations
(``partnerships.invitations``)."""

from __future__ import annotations

from sqlalchemy import select

from ..accounts.models import User
from ..accounts.passwords import hash_password
from ..accounts.services import create_user, user_by_email
from ..audit.services import record
from ..core import uow
from ..core.errors import ServiceError
from ..extensions import db, utcnow
from ..i18n import gettext as _
from ..partnerships.invitations import (
    check_may_invite,
    count_sends,
    lock,
    new_invitation,
    refuse_open_duplicate,
    send_invitation_mail,
)
from ..partnerships.models import Invitation
from .models import Membership, Organisation


def pending(org: Organisation) -> list[Invitation]:
    """The organisation's member invitations that wait for an answer, newest first."""
    return list(db.session.scalars(
        select(Invitation).where(Invitation.inviter_org_id == org.id, Invitation.purpose == "member",
                                 Invitation.unanswered())
        .order_by(Invitation.sent_at.desc())))


def invite_member(actor: User, email: str, role: str, team: str | None) -> Invitation:
    """Invite a colleague. An address that belongs to another organisation is not refused on
    screen (that would tell who has an account): its owner gets a mail that explains it."""
    org = actor.organisation
    try:
        check_may_invite(actor, 1)
    except ServiceError as error:
        raise ServiceError(error.message, field="email") from None
    existing = user_by_email(email)
    if existing is not None and existing.membership is not None and existing.membership.organisation_id == org.id:
        raise ServiceError(_("Deze persoon is al lid van je organisatie."), field="email")
    refuse_open_duplicate(org.id, email, "member")
    inv = new_invitation(
        purpose="member", email=email, inviter_org_id=org.id, invited_by_id=actor.id,
        role=role, team=(team or None) if org.kind == "library" else None,
    )
    db.session.flush()
    count_sends(org.id, [inv], "new")
    record("member_invited", actor_id=actor.id, organisation_id=org.id, email=email, role=role)
    send_invitation_mail(inv)
    return inv


@uow.atomic
def accept_member(inv: Invitation, name: str, password: str) -> User:
    """Join the inviting organisation; a removed former member gets their account back."""
    inv = lock(inv)
    user = user_by_email(inv.email)
    if user is not None and user.membership is not None:
        raise ServiceError(_("Dit e-mailadres hoort al bij een organisatie."))
    if user is None:
        user = create_user(inv.email, name, password)
    else:
        user.name = name.strip()
        user.password_hash = hash_password(password)
        user.session_version += 1
        user.email_confirmed_at = user.email_confirmed_at or utcnow()  # the link reached this address
    db.session.add(Membership(user=user, organisation_id=inv.inviter_org_id, role=inv.role, team=inv.team))
    inv.accepted_at = utcnow()
    db.session.flush()
    record("member_joined", actor_id=user.id, organisation_id=inv.inviter_org_id, email=user.email)
    return user
