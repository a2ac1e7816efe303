"""The workflow buttons (afronden, goedkeuren, heropenen…): from the posted form to the
workflow service, with Dutch feedback for the page."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from ..i18n import gettext as _
from ..partnerships.models import Partnership
from . import services
from .engine import Action, ActionRefused
from .forms import ActionForm


def perform_action(partnership: Partnership, party: str, form: ActionForm) -> dict[str, Any]:
    """Run the requested action; a dict with a message, or an error and missing questions."""
    kind = form.kind.data
    step = form.step.data
    reason = (form.reason.data or "").strip() or None
    action = Action(kind, step, form.slot.data or None)
    try:
        outcome = services.perform(partnership, current_user, party, action, reason=reason)
    except ActionRefused as refusal:
        return {"error": refusal.message, "missing": refusal.missing, "step": step, "slot": form.slot.data or None}
    return {"message": _message(kind, step, [e.kind for e in outcome.events]), "step": step}


def _message(kind: str, step: int | None, events: list[str]) -> str:
    if kind == "start_new_cycle":
        return _("Een nieuwe ronde is gestart. De antwoorden van de vorige ronde staan klaar als concept.")
    if kind == "reopen":
        return _("Stap %(n)d is heropend.", n=step)
    if kind == "withdraw_sign_off":
        return _("Je goedkeuring van stap %(n)d is ingetrokken.", n=step)
    opened = "step_opened" in events
    if "cycle_closed" in events:
        return _("Stap 8 is afgerond. Deze ronde is klaar: goed gedaan! Jullie kunnen een nieuwe ronde starten.")
    if "step_completed" in events:
        if opened:
            return _("Stap %(n)d is afgerond. De volgende stap staat open.", n=step)
        return _("Stap %(n)d is afgerond.", n=step)
    return _("Je hebt stap %(n)d goedgekeurd. Nu wacht de stap op de goedkeuring van je partner.", n=step)
