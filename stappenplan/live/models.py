"""The announcements table of the embedded database (SQLite has no NOTIFY)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model


class LiveEvent(Model):
    """One announcement that a worksheet changed: written by the database's own triggers
    (migration 0025) in the transaction of the change, so a rollback leaves none. Only
    SQLite uses it (PostgreSQL announces with NOTIFY); the triggers keep the newest ~1,000
    rows, and the stream service reads them with one shared query loop."""

    __tablename__ = "live_events"
    # Ids never come back after the pruning (the stream service reads "newer than").
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    #: The step instance's id; for kind ``practice`` the partnership's.
    instance_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(10))
    seq: Mapped[int] = mapped_column(default=0)
