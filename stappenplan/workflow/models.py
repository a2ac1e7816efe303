"""Tables behind the workflow: cycles, step instances and sign-offs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, new_public_id, utcnow


class Cycle(Model):
    """One round through the 8 steps; a partnership's highest number is its current cycle."""

    __tablename__ = "cycles"
    __table_args__ = (UniqueConstraint("partnership_id", "number", name="uq_cycles_partnership_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnerships.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(default=1)
    # The plan version this cycle runs on; only an explicit upgrade changes it.
    plan_version: Mapped[int] = mapped_column(default=1)
    # Set when the round moved to a newer plan (workflow/upgrading.py): the version it ran
    # on before, so new questions are marked and answers to dropped ones stay readable.
    upgraded_from: Mapped[int | None]
    upgraded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    # Last transition or accepted edit: drives "stalled" and "recent activity".
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    steps: Mapped[list[StepInstance]] = relationship(
        back_populates="cycle", cascade="all, delete-orphan", order_by="StepInstance.step"
    )


class StepInstance(Model):
    """One step for one slot (library / childcare / joint) within a cycle."""

    __tablename__ = "step_instances"
    __table_args__ = (
        UniqueConstraint("cycle_id", "step", "slot", name="uq_step_instances_cycle_step_slot"),
        CheckConstraint("slot IN ('library','childcare','joint')", name="slot"),
        CheckConstraint("status IN ('locked','open','completed')", name="status"),
        Index("ix_step_instances_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    step: Mapped[int]
    slot: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="locked")
    opened_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # Bumped on every change of this instance's content; sign-offs refer to it.
    content_version: Mapped[int] = mapped_column(default=0)
    # An own step that started from the same organisation's answers of this step in
    # another of its partnerships: that step instance and when (the worksheet compares
    # the two). Loaded with the instance, so the worksheet needs no statement to know it.
    reused_from_id: Mapped[int | None] = mapped_column(ForeignKey("step_instances.id", ondelete="SET NULL"))
    reused_at: Mapped[datetime | None]

    cycle: Mapped[Cycle] = relationship(back_populates="steps")
    signoffs: Mapped[list[SignOff]] = relationship(
        back_populates="instance", cascade="all, delete-orphan", lazy="selectin"
    )


class SignOff(Model):
    """An organisation's approval of a joint step's current content."""

    __tablename__ = "sign_offs"
    __table_args__ = (
        UniqueConstraint("step_instance_id", "party", name="uq_sign_offs_instance_party"),
        CheckConstraint("party IN ('library','childcare')", name="party"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    step_instance_id: Mapped[int] = mapped_column(ForeignKey("step_instances.id", ondelete="CASCADE"))
    party: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    content_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    instance: Mapped[StepInstance] = relationship(back_populates="signoffs")
