"""What coordinators keep: reminders sent to stalled partnerships."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model, new_public_id, utcnow


class Reminder(Model):
    """A coordinator's reminder to both organisations of a stalled partnership.

    Kept apart from the audit trail because the dashboard reads it: the last reminder per
    partnership shows in the stalled list, and a reminder followed by no activity for
    ``REMINDER_FOLLOW_UP_DAYS`` marks the partnership.
    """

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_partnership_created", "partnership_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnerships.id", ondelete="CASCADE"))
    coordination_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
