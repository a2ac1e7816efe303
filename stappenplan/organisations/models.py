"""Organisations, their members, and regions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    Connection,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    event,
    false,
    inspect,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, new_public_id, utcnow

if TYPE_CHECKING:
    from ..accounts.models import User

KINDS = ("library", "childcare", "coordination")
ROLES = ("admin", "member")
TEAMS = ("jeugd", "taalhuis")


class Organisation(Model):
    """A library branch (the tenant), a childcare location or a coordination body."""

    __tablename__ = "organisations"
    __table_args__ = (CheckConstraint("kind IN ('library','childcare','coordination')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Invited but not on the platform yet: the invitation's name, no members. Accepting
    #: the invitation makes it the real organisation (partnerships/invitations.py).
    placeholder: Mapped[bool] = mapped_column(default=False, server_default=false())

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan"
    )


class Membership(Model):
    """Links a user to their organisation with a role (and a team in libraries)."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("role IN ('admin','member')", name="role"),
        CheckConstraint("team IS NULL OR team IN ('jeugd','taalhuis')", name="team"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10), default="member")
    team: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="membership")
    organisation: Mapped[Organisation] = relationship(back_populates="memberships", lazy="joined")


class Region(Model):
    """A set of library branches that opted in to a coordination organisation's oversight.

    ``version`` goes up in the same transaction as every change of what the region's
    coordinators may see: a branch joining or leaving (the listeners below), a branch or a
    partner deleting its data (privacy). Caches of region-wide figures include it in their
    key (coordination/services.py), so such a change shows at once in every process.
    """

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    coordination_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=0, server_default="0")

    coordination: Mapped[Organisation] = relationship()


class RegionMembership(Model):
    """A library branch's opt-in to a region; deleting the row ends coordinator access."""

    __tablename__ = "region_memberships"
    __table_args__ = (UniqueConstraint("library_id", name="uq_region_memberships_library"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), index=True)
    library_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region: Mapped[Region] = relationship(lazy="joined")
    library: Mapped[Organisation] = relationship()


REQUEST_STATUSES = ("pending", "accepted", "declined", "withdrawn")
_PENDING = text("status = 'pending'")


class RegionRequest(Model):
    """A library branch asking to join a region; only an accepted request makes it a member.

    Without it any self-registered library could put itself in a coordinator's figures and
    exports. A coordinator of the region accepts or declines; the branch may withdraw it.
    At most one request per branch is pending (a partial unique index).
    """

    __tablename__ = "region_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending','accepted','declined','withdrawn')", name="status"),
        Index("uq_region_requests_pending", "library_id", unique=True, postgresql_where=_PENDING,
              sqlite_where=_PENDING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    library_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    region: Mapped[Region] = relationship(lazy="joined")
    library: Mapped[Organisation] = relationship(lazy="joined")
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


def bump_region_versions(connection: Connection, region_ids: Iterable[int | None]) -> None:
    """Raise the version of these regions (one UPDATE, in the caller's transaction)."""
    ids = sorted({i for i in region_ids if i is not None})
    if ids:
        connection.execute(update(Region).where(Region.id.in_(ids)).values(version=Region.version + 1))


@event.listens_for(RegionMembership, "after_insert")
@event.listens_for(RegionMembership, "after_delete")
def _membership_changed(_mapper: Any, connection: Connection, membership: RegionMembership) -> None:
    """A branch joined or left a region: whatever path did it, the region's version goes up."""
    bump_region_versions(connection, [membership.region_id])


@event.listens_for(RegionMembership, "after_update")
def _membership_moved(_mapper: Any, connection: Connection, membership: RegionMembership) -> None:
    history = inspect(membership).attrs.region_id.history
    if history.has_changes():
        bump_region_versions(connection, [*history.deleted, *history.added])
