"""Account operations: registration, authentication, passwords."""

from __future__ import annotations

import math
from typing import Any

from flask import current_app
from sqlalchemy import select

from ..audit.services import record
from ..core.errors import ServiceError
from ..core.tokens import sign, unsign
from ..core.web import external_url
from ..extensions import db, new_public_id, utcnow
from ..i18n import force_locale, ngettext
from ..i18n import gettext as _
from ..outbox import services as outbox
from ..outbox.services import mail_template
from . import throttle
from .models import PasswordResetRequest, User
from .passwords import dummy_verify, hash_password, needs_rehash, verify_password

RESET_SALT = "password-reset"


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(email: str, name: str, password: str) -> User:
    """A new user (not committed); refuses an email that is already taken."""
    email = email.strip().lower()
    if user_by_email(email) is not None:
        raise ServiceError(
            _("Er is al een account met dit e-mailadres. Log in of vraag een nieuw wachtwoord aan."),
            field="email",
        )
    # Made from an invitation link, which reached this address: it counts as confirmed.
    user = User(email=email, name=name.strip(), password_hash=hash_password(password), email_confirmed_at=utcnow())
    db.session.add(user)
    return user


class LoginRefused(ServiceError):
    """Too many failed logins for this address: no attempt before ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        if retry_after < 120:
            message = ngettext("Te veel mislukte pogingen met dit e-mailadres. Probeer het over %(num)d "
                               "seconde opnieuw.",
                               "Te veel mislukte pogingen met dit e-mailadres. Probeer het over %(num)d "
                               "seconden opnieuw.", retry_after)
        else:
            minutes = math.ceil(retry_after / 60)
            message = ngettext("Te veel mislukte pogingen met dit e-mailadres. Probeer het over %(num)d "
                               "minuut opnieuw.",
                               "Te veel mislukte pogingen met dit e-mailadres. Probeer het over %(num)d "
                               "minuten opnieuw.", minutes)
        super().__init__(message, field="password")
        self.retry_after = retry_after


def authenticate(email: str, password: str) -> User | None:
    """The user for these credentials, or None; same work whether or not the email exists.

    Raises ``LoginRefused`` while the address waits after failed logins (accounts/throttle.py):
    then the password is not checked, and known and unknown addresses get the same answer.
    """
    wait = throttle.wait_left(email)
    if wait:
        raise LoginRefused(wait)
    user = user_by_email(email)
    if user is None or user.membership is None:
        dummy_verify()
        throttle.failed(email)
        return None
    if not verify_password(user.password_hash, password):
        throttle.failed(email)
        return None
    throttle.forget(email)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.flush()
    return user


def end_all_sessions(user: User) -> None:
    """Invalidate every session and remember-me cookie of this user."""
    user.session_version = (user.session_version or 1) + 1
    db.session.flush()


def set_locale(user: User, locale: str) -> None:
    """The language of the interface and of this person's mail (the form offers only known ones)."""
    user.locale = locale
    db.session.flush()


def rename(user: User, name: str) -> None:
    """A person corrects their own name (shown to colleagues, partners and in the log)."""
    name = " ".join(name.split())
    if not name:
        raise ServiceError(_("Vul je naam in."), field="name")
    if len(name) > 120:
        raise ServiceError(_("Je naam is te lang (maximaal 120 tekens)."), field="name")
    if name == user.name:
        return
    record("account_renamed", actor_id=user.id, organisation_id=user.organisation.id if user.organisation else None)
    user.name = name
    db.session.flush()


def change_password(user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise ServiceError(_("Dit is niet je huidige wachtwoord."), field="current")
    user.password_hash = hash_password(new)
    end_all_sessions(user)
    record("password_changed", actor_id=user.id, organisation_id=user.organisation.id)
    db.session.flush()


def request_password_reset(email: str) -> None:
    """Ask for a reset link: a mail to the address, which says there is no account when
    there is none (the page answers the same either way).

    The request does the same work for every address - one outbox row, no lookup - so the
    time it takes tells nothing (it was ~2 ms slower for a known address, which alone wrote
    a reset row). Whom the address belongs to is decided when the mail is delivered
    (``_reset_request_mail``, in the worker), which then writes the reset row."""
    address = email.strip().lower()
    outbox.enqueue("password_reset_request", address, {"address": address},
                   dedupe_key=f"reset-request:{address}:{utcnow():%Y%m%d%H%M}")


@mail_template("password_reset_request", secret=True)
def _reset_request_mail(params: dict[str, Any]) -> tuple[str, str]:
    """At delivery: a fresh reset link for the account of this address, or the mail that
    says there is none."""
    user = user_by_email(params["address"])
    if user is None:
        return _reset_unknown_mail({"register": external_url("accounts.register")})
    nonce = new_public_id()
    db.session.add(PasswordResetRequest(user_id=user.id, nonce=nonce))
    db.session.flush()
    token = sign({"u": user.public_id, "n": nonce}, RESET_SALT)
    with force_locale(user.locale or "nl"):
        return _reset_mail({"name": user.name, "link": external_url("accounts.reset_password", token=token),
                            "minutes": current_app.config["PASSWORD_RESET_SECONDS"] // 60})


@mail_template("password_reset", secret=True)
def _reset_mail(params: dict[str, Any]) -> tuple[str, str]:
    """Text: templates/mail/password_reset.txt."""
    return outbox.render("password_reset", name=params["name"], link=params["link"], minutes=params["minutes"])


@mail_template("password_reset_unknown")
def _reset_unknown_mail(params: dict[str, Any]) -> tuple[str, str]:
    """Text: templates/mail/password_reset_unknown.txt."""
    return outbox.render("password_reset_unknown", register=params["register"])


def reset_request_for(token: str) -> tuple[PasswordResetRequest | None, str | None]:
    """The open reset request behind a link, or None and why ('expired'/'invalid'/'used')."""
    payload, problem = unsign(token, RESET_SALT, current_app.config["PASSWORD_RESET_SECONDS"])
    if payload is None:
        return None, problem
    if not isinstance(payload, dict):
        return None, "invalid"
    req = db.session.scalar(
        select(PasswordResetRequest).where(PasswordResetRequest.nonce == str(payload.get("n")))
    )
    if req is None:
        return None, "invalid"
    if req.used_at is not None:
        return None, "used"
    return req, None


def reset_password(req: PasswordResetRequest, password: str) -> User:
    user = db.session.get(User, req.user_id)
    assert user is not None
    user.password_hash = hash_password(password)
    end_all_sessions(user)
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()  # the reset link reached the address: it is theirs
    throttle.forget(user.email)  # whoever tried to guess the old password, the owner may log in now
    req.used_at = utcnow()
    # Any other outstanding links for this user stop working too.
    for other in db.session.scalars(
        select(PasswordResetRequest).where(
            PasswordResetRequest.user_id == user.id, PasswordResetRequest.used_at.is_(None)
        )
    ):
        other.used_at = req.used_at
    record("password_reset", actor_id=user.id, organisation_id=user.organisation.id)
    db.session.flush()
    return user
