"""Partnership operations."""

from __future__ import annotations

from ..accounts.models import User
from ..audit.services import record
from ..extensions import db
from ..organisations.models import Organisation
from ..workflow import services as workflow
from .models import Partnership


def start_partnership(
    library: Organisation, childcare: Organisation, situation: int, actor: User, *,
    inviter: Organisation | None = None, invited_by: int | None = None,
) -> Partnership:
    """Create an active partnership and its first cycle (caller commits). Started by an
    accepted invitation, the start is the inviter's doing (``inviter``, ``invited_by``):
    the activity says who invited whom, and the acceptance is its own event."""
    partnership = Partnership(library=library, childcare=childcare, situation=situation)
    db.session.add(partnership)
    db.session.flush()
    if inviter is None:
        record("partnership_started", actor_id=actor.id, organisation_id=actor.organisation.id,
               partnership_id=partnership.id, situation=situation)
    else:
        invited = childcare if inviter.id == library.id else library
        record("partnership_started", actor_id=invited_by, organisation_id=inviter.id,
               partnership_id=partnership.id, situation=situation, invited=invited.name)
    workflow.start_first_cycle(partnership, actor)
    return partnership
