"""User accounts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, new_public_id, utcnow

if TYPE_CHECKING:
    from ..organisations.models import Membership


class User(UserMixin, Model):
    """A person who logs in; belongs to exactly one organisation via Membership."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped on logout and password change: every session and remember-me
    # cookie carries it, so old ones stop working everywhere at once.
    session_version: Mapped[int] = mapped_column(default=1)
    locale: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # None until the owner followed the confirmation link (self-registration only): an
    # unconfirmed account cannot invite anyone (accounts/confirmation.py). Accounts made from
    # an invitation link are confirmed by that link.
    email_confirmed_at: Mapped[datetime | None]
    #: The secret in the address of this person's calendar feed (practice/calendar.py);
    #: None until they ask for one, replaced when they renew it (the old address stops).
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)

    membership: Mapped[Membership | None] = relationship(
        back_populates="user", uselist=False, lazy="joined", cascade="all, delete-orphan"
    )

    def get_id(self) -> str:
        """Session identifier: public id plus session version."""
        return f"{self.public_id}.{self.session_version}"

    @property
    def organisation(self):  # avoids an import cycle in annotations
        return self.membership.organisation if self.membership else None

    @property
    def is_admin(self) -> bool:
        return bool(self.membership and self.membership.role == "admin")


class PasswordResetRequest(Model):
    """Keeps the outstanding reset link so a used link cannot be used again."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class LoginThrottle(Model):
    """Failed logins for one e-mail address, known or not (accounts/throttle.py).

    Kept in the database, so every app process and server counts the same failures. The
    address is stored only as a keyed hash.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(index=True)
    locked_until: Mapped[datetime | None]
