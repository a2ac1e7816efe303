"""Writing audit events (never commits: the caller's transaction does)."""

from __future__ import annotations

from typing import Any

from ..extensions import db
from .models import AuditEvent


def record(
    kind: str,
    *,
    actor_id: int | None,
    organisation_id: int | None,
    partnership_id: int | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit event to the current transaction."""
    event = AuditEvent(
        kind=kind,
        actor_id=actor_id,
        organisation_id=organisation_id,
        partnership_id=partnership_id,
        detail=detail,
    )
    db.session.add(event)
    return event
