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
    inviter: Organisation | None = None, invited_by: int | None = None, awaiting: Organisation | None = None,
    plan_version: int | None = None,
) -> Partnership:
    """Create a partnership and its first cycle (caller commits). Started by an accepted
    invitation, the start is the inviter's doing (``inviter``, ``invited_by``): the activity
    says who invited whom, and the acceptance is its own event. ``awaiting``: prepared by an
    invitation, it waits for that organisation (``activate`` when it accepts); the inviter
    works on its own steps meanwhile."""
    partnership = Partnership(library=library, childcare=childcare, situation=situation,
                              awaiting_org_id=awaiting.id if awaiting is not None else None)
    db.session.add(partnership)
    db.session.flush()
    if awaiting is not None:
        pass  # "started" is said when the invited organisation accepts (``activate``)
    elif inviter is None:
        record("partnership_started", actor_id=actor.id, organisation_id=actor.organisation.id,
               partnership_id=partnership.id, situation=situation)
    else:
        invited = childcare if inviter.id == library.id else library
        record("partnership_started", actor_id=invited_by, organisation_id=inviter.id,
               partnership_id=partnership.id, situation=situation, invited=invited.name)
    workflow.start_first_cycle(partnership, actor, plan_version)
    return partnership


def activate(partnership: Partnership, inviter: Organisation, invited_by: int | None) -> None:
    """The invited organisation accepted: the prepared partnership is both organisations'
    from now on (and a coordinator's), and its start is told as the inviter's doing."""
    invited = partnership.childcare if inviter.id == partnership.library_id else partnership.library
    partnership.awaiting_org_id = None
    record("partnership_started", actor_id=invited_by, organisation_id=inviter.id, partnership_id=partnership.id,
           situation=partnership.situation, invited=invited.name)
