"""Partnerships between a library branch and a childcare location, and invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    Connection,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, new_public_id, utcnow
from ..organisations.models import Organisation, RegionMembership, bump_region_versions

SITUATIONS = (1, 2, 3)


class Partnership(Model):
    """One library branch + one childcare location working through the plan."""

    __tablename__ = "partnerships"
    __table_args__ = (
        UniqueConstraint("library_id", "childcare_id", name="uq_partnerships_pair"),
        CheckConstraint("situation IN (1,2,3)", name="situation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    library_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    childcare_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    situation: Mapped[int] = mapped_column(default=2)
    plan_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Raised by every change of its practice records: the practice page's live feed.
    practice_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Prepared by an invitation and waiting for this (invited) organisation to accept:
    #: only the inviter sees it meanwhile, and works on its own steps (access._visible).
    awaiting_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )

    library: Mapped[Organisation] = relationship(foreign_keys=[library_id], lazy="joined")
    childcare: Mapped[Organisation] = relationship(foreign_keys=[childcare_id], lazy="joined")

    def party_of(self, organisation_id: int) -> str | None:
        """Which side an organisation is on in this partnership, if any."""
        if organisation_id == self.library_id:
            return "library"
        if organisation_id == self.childcare_id:
            return "childcare"
        return None

    @property
    def pending(self) -> bool:
        """Prepared by an invitation that the partner has not accepted yet."""
        return self.awaiting_org_id is not None

    def partner_of(self, party: str) -> Organisation:
        return self.childcare if party == "library" else self.library


class Invitation(Model):
    """A signed, expiring, single-use invitation to join an organisation or a partnership.

    The link carries ``public_id`` and ``nonce``; resending replaces the nonce so
    the old link stops working.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("purpose IN ('member','partnership')", name="purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    purpose: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(254), index=True)
    inviter_org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Partnership invitations: the partner organisation if it is already on the
    # platform, otherwise the name of the organisation that will be created.
    target_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    org_name: Mapped[str | None] = mapped_column(String(200))
    situation: Mapped[int | None]
    role: Mapped[str] = mapped_column(String(10), default="member")
    team: Mapped[str | None] = mapped_column(String(20))
    nonce: Mapped[str] = mapped_column(String(64), default=new_public_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
    partnership_id: Mapped[int | None] = mapped_column(
        ForeignKey("partnerships.id", ondelete="SET NULL"), index=True
    )

    inviter_org: Mapped[Organisation] = relationship(foreign_keys=[inviter_org_id], lazy="joined")
    target_org: Mapped[Organisation | None] = relationship(foreign_keys=[target_org_id])
    #: The partnership it prepared (or, once accepted, started): the inviter starts at once.
    partnership: Mapped[Partnership | None] = relationship(foreign_keys=[partnership_id], lazy="joined")

    @classmethod
    def unanswered(cls) -> ColumnElement[bool]:
        """In SQL: neither accepted, declined nor revoked (it may have expired)."""
        return cls.accepted_at.is_(None) & cls.declined_at.is_(None) & cls.revoked_at.is_(None)

    @classmethod
    def open_at(cls, now: Any) -> ColumnElement[bool]:
        """In SQL: the ``pending`` of ``state`` at ``now`` (a value or a bind parameter)."""
        return cls.unanswered() & (cls.expires_at > now)

    @property
    def state(self) -> str:
        """Derived state: pending, accepted, declined, revoked or expired."""
        if self.accepted_at:
            return "accepted"
        if self.declined_at:
            return "declined"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= utcnow():
            return "expired"
        return "pending"


class InvitationSend(Model):
    """One mail of an invitation: the first one or a resend. The daily cap counts these
    (partners and colleagues together), so a resend counts too."""

    __tablename__ = "invitation_sends"
    __table_args__ = (
        CheckConstraint("kind IN ('new','resend')", name="kind"),
        Index("ix_invitation_sends_org_sent", "organisation_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="new")
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


@event.listens_for(Partnership, "after_insert")
def _partnership_started(_mapper: Any, connection: Connection, partnership: Partnership) -> None:
    """A new partnership of a branch in a region: the coordinators' cached figures and the
    dashboard's order of partnerships (coordination/services.py) include it at once."""
    bump_region_versions(connection, connection.scalars(
        select(RegionMembership.region_id).where(RegionMembership.library_id == partnership.library_id)))
