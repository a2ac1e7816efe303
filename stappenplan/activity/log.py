"""The log an organisation admin reads: what happened in the organisation and in its
partnerships' steps, filtered by kind and by person, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from ..accounts.models import User
from ..audit.models import AuditEvent
from ..core.web import Page, paginate
from ..extensions import db
from ..i18n import gettext as _
from ..organisations.models import Membership, Organisation
from ..partnerships.models import Partnership
from .describe import text_for

PER_PAGE = 30
CATEGORIES = {
    "stappen": ("workflow.", "answers_reused"),
    "leden": ("member_", "account_", "password_"),
    "uitnodigingen": ("partner_invited", "invitation_", "partnership_started"),
    "gegevens": ("data_exported", "records_purged", "partner_deleted", "region_", "plan_exported",
                 "coordination.export"),
    "opmerkingen": ("comment",),
}
LABELS = {
    "member_invited": "nodigde een collega uit", "member_joined": "werd lid", "member_role_changed":
    "wijzigde een rol", "member_removed": "verwijderde een collega", "password_changed": "wijzigde het wachtwoord",
    "password_reset": "stelde een nieuw wachtwoord in", "partner_invited": "nodigde een partner uit",
    "invitation_resent": "verstuurde een uitnodiging opnieuw", "invitation_revoked": "trok een uitnodiging in",
    "invitation_declined": "sloeg een uitnodiging af",
    "organisation_registered": "maakte de organisatie aan", "region_opt_in": "meldde de vestiging aan voor de regio",
    "region_opt_out": "meldde de vestiging af voor de regio", "data_exported": "downloadde alle gegevens",
    "account_deleted": "verwijderde het eigen account", "partner_deleted": "een partner verwijderde zijn gegevens",
    "comments_resolved": "markeerde opmerkingen als afgehandeld", "comments_reopened": "opende opmerkingen opnieuw",
    "email_confirmed": "bevestigde het e-mailadres", "region_report_exported": "downloadde het jaarverslag",
    "records_purged": "gespreksverslagen van stap 5 verwijderd na de bewaartermijn",
    "account_renamed": "wijzigde de eigen naam",
    "notifications_read": "markeerde alle eigen meldingen als gelezen",
}


SYSTEM_EVENTS = {"workflow.step_opened"}
MEMBER_EVENTS = {"member_role_changed", "member_removed"}


def _member_names(events: list[AuditEvent]) -> dict[str, str]:
    """The names of the colleagues the page's member events are about, in one query."""
    ids = {(e.detail or {}).get("member") for e in events if e.kind in MEMBER_EVENTS} - {None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.public_id, User.name).where(User.public_id.in_(ids))).all())


def _member_text(event: AuditEvent, names: dict[str, str]) -> str | None:
    """Whose role changed into what, who was removed; None for other events (or a member
    whose account is gone: then the general label)."""
    detail = event.detail or {}
    name = names.get(detail.get("member", ""))
    if event.kind not in MEMBER_EVENTS or name is None:
        return None
    if event.kind == "member_removed":
        return _("verwijderde %(name)s", name=name)
    role = _("Beheerder") if detail.get("role") == "admin" else _("Lid")
    return _("maakte %(name)s %(role)s", name=name, role=role.lower())


@dataclass
class LogPage:
    entries: list[dict[str, Any]]
    listing: Page
    #: The organisation's people (public id, name) to filter by, and the filters as applied.
    people: list[Any]
    category: str
    person: str


def page(org: Organisation, category: str | None, person: str, number: int) -> LogPage:
    """One page of the log; an unknown category or person is no filter."""
    partnership_ids = select(Partnership.id).where(
        or_(Partnership.library_id == org.id, Partnership.childcare_id == org.id))
    stmt = select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.actor_id).where(or_(
        AuditEvent.organisation_id == org.id,
        (AuditEvent.partnership_id.in_(partnership_ids)) & AuditEvent.kind.like("workflow.%"),
    ))
    if category in CATEGORIES:
        stmt = stmt.where(or_(*[AuditEvent.kind.like(prefix + "%") for prefix in CATEGORIES[category]]))
    people = list(db.session.execute(
        select(User.public_id, User.name).join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == org.id).order_by(User.name)).all())
    if person in {p for p, _n in people}:
        stmt = stmt.where(AuditEvent.actor_id == select(User.id).where(User.public_id == person).scalar_subquery())
    listing = paginate(stmt.order_by(AuditEvent.id.desc()), number, PER_PAGE)
    members = _member_names([e for e, _name in listing.items])
    entries = [{"at": e.created_at,
                # A step that opens is the system's doing (after someone completed the step before).
                "who": "" if e.kind in SYSTEM_EVENTS else name or e.actor_pseudonym or "",
                "what": _member_text(e, members) or text_for(e) or (_(LABELS[e.kind]) if e.kind in LABELS else e.kind),
                "kind": e.kind}
               for e, name in listing.items]
    return LogPage(entries, listing, people, category if category in CATEGORIES else "", person)
