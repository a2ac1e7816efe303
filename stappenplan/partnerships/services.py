"""Partnership operations."""

from __future__ import annotations

from ..accounts.models import User
from ..audit.services import record
from ..extensions import db
from ..organisations.models import Organisation
from ..workflow import services as workflow
from .models import Partnership


def start_partnership(
    library: Organisation, childcare: Organisation, situation: int, actor: User
) -> Partnership:
    """Create an active partnership and its first cycle (caller commits)."""
    partnership = Partnership(library=library, childcare=childcare, situation=situation)
    db.session.add(partnership)
    db.session.flush()
    record(
        "partnership_started", actor_id=actor.id, organisation_id=actor.organisation.id,
        partnership_id=partnership.id, situation=situation,
    )
    workflow.start_first_cycle(partnership, actor)
    return partnership
