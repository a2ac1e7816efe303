"""Self-registration of a library branch, and confirming the e-mail address.

The form answers the same for a new and a taken address (same page, same work, one mail):
a new address gets an account that waits for confirmation, a taken one gets a mail to its
owner saying so. Nobody learns from the page whether an address has an account, and an
account invites nobody before its owner proved the address is theirs, so the platform
cannot be used to send invitations to strangers from an invented organisation.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from ..audit.services import record
from ..core import uow
from ..core.errors import ServiceError
from ..core.tokens import sign, unsign
from ..core.web import external_url
from ..extensions import db, new_public_id, utcnow
from ..i18n import gettext as _
from ..organisations.models import Membership, Organisation
from ..outbox import services as outbox
from ..outbox.services import mail_template
from .models import User
from .passwords import hash_password
from .services import user_by_email

CONFIRM_SALT = "confirm-email"


def register_library(org_name: str, name: str, email: str, password: str, team: str | None) -> None:
    """Start a library branch with its first admin, or tell the address's owner it is taken.

    Both paths do the same work, so neither the answer nor its timing tells them apart: the
    password is hashed, the rows are written (for a taken address under a placeholder, in a
    savepoint that is undone) and one mail goes into the outbox.
    """
    email = email.strip().lower()
    existing = user_by_email(email)
    with uow.savepoint() as tentative:
        user = User(email=email if existing is None else f"{new_public_id()}@placeholder.invalid",
                    name=name.strip(), password_hash=hash_password(password), email_confirmed_at=None)
        org = Organisation(name=org_name.strip(), kind="library")
        db.session.add_all([user, org])
        db.session.add(Membership(user=user, organisation=org, role="admin", team=team or None))
        db.session.flush()
        record("organisation_registered", actor_id=user.id, organisation_id=org.id, name=org.name)
        db.session.flush()
        if existing is not None:
            tentative.undo()
    if existing is None:
        send_confirmation(user)
        return
    outbox.enqueue("registration_existing", existing.email,
                   {"name": existing.name, "login": external_url("accounts.login"),
                    "forgot": external_url("accounts.forgot_password"),
                    "confirm": None if existing.email_confirmed_at else confirmation_link(existing)},
                   dedupe_key=f"register-existing:{existing.public_id}:{utcnow():%Y%m%d%H%M}",
                   locale=existing.locale, user_id=existing.id)


def confirmation_link(user: User) -> str:
    return external_url("accounts.confirm_email", token=sign({"u": user.public_id, "e": user.email},
                                                                 CONFIRM_SALT))


def send_confirmation(user: User) -> None:
    """The mail with the confirmation link (the resend button is rate-limited)."""
    outbox.enqueue("confirm_email", user.email,
                   {"name": user.name, "link": confirmation_link(user),
                    "days": current_app.config["CONFIRM_EMAIL_DAYS"]},
                   dedupe_key=f"confirm:{user.public_id}:{new_public_id()}", locale=user.locale, user_id=user.id,
                   organisation_id=user.membership.organisation_id if user.membership else None)


def confirm(token: str) -> tuple[User | None, str | None]:
    """The user whose address this link confirms, or None and why ('expired'/'invalid').

    Returns the user also when the address was confirmed before (the link was used twice);
    the caller sees that from ``email_confirmed_at`` having been set already.
    """
    payload, problem = unsign(token, CONFIRM_SALT, current_app.config["CONFIRM_EMAIL_DAYS"] * 86400)
    if payload is None:
        return None, problem
    if not isinstance(payload, dict):
        return None, "invalid"
    user = db.session.scalar(select(User).where(User.public_id == str(payload.get("u"))))
    if user is None or user.email != payload.get("e"):
        return None, "invalid"
    return user, None


def mark_confirmed(user: User) -> bool:
    """Confirm the address; False when it was confirmed already."""
    if user.email_confirmed_at is not None:
        return False
    user.email_confirmed_at = utcnow()
    record("email_confirmed", actor_id=user.id,
           organisation_id=user.membership.organisation_id if user.membership else None)
    db.session.flush()
    return True


def require_confirmed(user: User) -> None:
    """Refuse to invite for an account whose address is not confirmed."""
    if user.email_confirmed_at is None:
        raise ServiceError(_("Bevestig eerst je e-mailadres via de link in de mail die we je stuurden. "
                             "Daarna kun je uitnodigingen versturen."))


@mail_template("confirm_email", secret=True)
def _confirm_mail(params: dict[str, Any]) -> tuple[str, str]:
    """Text: templates/mail/confirm_email.txt."""
    return outbox.render("confirm_email", name=params["name"], link=params["link"], days=params["days"])


@mail_template("registration_existing", secret=True)
def _existing_mail(params: dict[str, Any]) -> tuple[str, str]:
    """Text: templates/mail/registration_existing.txt (with the confirmation link while
    the address is not confirmed)."""
    return outbox.render("registration_existing", name=params["name"], confirm=params.get("confirm"),
                         login=params["login"], forgot=params["forgot"])
