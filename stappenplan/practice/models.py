"""Practice: what happens once the plan is agreed, kept apart from the plan's answers.

The plan (steps 1-8) is what the partners agree and sign off. A practice record is one
planned activity (step 6) or action (step 7) as it is carried out: held or not, whom it
reached, what worked; an action's status. Both organisations update it at any time
without reopening a step or touching an approval, and every accepted change is kept as
a revision. Outcome figures are counted from these records only (docs/practice.md).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..extensions import Model, new_public_id, utcnow

#: Record kinds: a planned or unplanned activity, an action of the action schema, and the
#: round's one note on all activities together ("wat valt op").
KINDS = ("activity", "action", "note")
ACTIVITY_STATUSES = ("planned", "held", "cancelled")
ACTION_STATUSES = ("planned", "in_progress", "done", "dropped")
#: What a revision keeps and what a save may change, per kind.
FIELDS = {
    "activity": ("title", "date", "status", "parents", "children", "note"),
    "action": ("title", "date", "status", "who", "note"),
    "note": ("note",),
}


class PracticeRecord(Model):
    """One activity, action or note of a partnership's round, as it is carried out."""

    __tablename__ = "practice_records"
    __table_args__ = (
        # One record per row of the agreed plan (unplanned ones have no row: NULLs differ).
        UniqueConstraint("cycle_id", "kind", "source_row", name="uq_practice_records_cycle_kind_row"),
        CheckConstraint("kind IN ('activity','action','note')", name="kind"),
        CheckConstraint("status IN ('planned','held','cancelled','in_progress','done','dropped')", name="status"),
        CheckConstraint("parents IS NULL OR parents >= 0", name="parents"),
        CheckConstraint("children IS NULL OR children >= 0", name="children"),
        Index("ix_practice_records_partnership_seq", "partnership_id", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnerships.id", ondelete="CASCADE"))
    #: The round whose plan made it (an unplanned activity: the round it was added in).
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    #: The id of the plan table's row it came from (None: added during the year).
    source_row: Mapped[str | None] = mapped_column(String(60))
    #: False once the row left the agreed plan (the step was reopened and agreed without it):
    #: what happened stays, it is only no longer part of the plan.
    in_plan: Mapped[bool] = mapped_column(default=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    #: An activity's date (planned, then when it took place); an action's due date.
    date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="planned")
    who: Mapped[str | None] = mapped_column(String(500))
    #: Unknown stays None (never 0): the figures say how many activities left it empty.
    parents: Mapped[int | None]
    children: Mapped[int | None]
    #: An activity's "wat werkte"; an action's note; the round's note.
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    #: The partnership's practice sequence when this record last changed (the live feed).
    seq: Mapped[int] = mapped_column(default=0)
    #: The sequence when it was made: an open page adds the records made after its own.
    first_seq: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    updated_by: Mapped[User | None] = relationship(lazy="joined")

    @property
    def planned(self) -> bool:
        """From the agreed plan (an unplanned activity was added during the year)."""
        return self.source_row is not None

    def values(self) -> dict[str, Any]:
        """The fields of its kind, as a revision keeps them (dates as ISO text)."""
        result: dict[str, Any] = {}
        for name in FIELDS[self.kind]:
            value = getattr(self, name)
            result[name] = value.isoformat() if isinstance(value, date) else value
        return result


class PracticeRevision(Model):
    """One accepted change of a practice record: its fields afterwards, who and when."""

    __tablename__ = "practice_revisions"
    __table_args__ = (Index("ix_practice_revisions_record_version", "record_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("practice_records.id", ondelete="CASCADE"))
    version: Mapped[int]
    values: Mapped[Any] = mapped_column(JSON)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    party: Mapped[str | None] = mapped_column(String(10))
    #: plan (made or changed by the agreed plan), edit, migration
    kind: Mapped[str] = mapped_column(String(12), default="edit")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined")


class ReminderMark(Model):
    """When the people of a partnership were last reminded of one item (an action due, an
    activity not marked, an evaluation moment): never more than once a week per item."""

    __tablename__ = "reminder_marks"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    partnership_id: Mapped[int] = mapped_column(ForeignKey("partnerships.id", ondelete="CASCADE"), index=True)
    sent_on: Mapped[date] = mapped_column(Date)
