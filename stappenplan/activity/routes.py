"""The audit log for organisation admins: who did what and when."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import or_, select

from ..access import current_org, policy
from ..accounts.models import User
from ..audit.models import AuditEvent
from ..core.web import choice_arg, page_arg, paginate
from ..extensions import db
from ..i18n import gettext as _
from ..organisations.models import Membership
from ..outbox import services as outbox
from ..outbox.models import OutboxMessage
from ..partnerships.models import Partnership
from ..workflow.definition import N_
from .describe import text_for

bp = Blueprint("audit", __name__)
#: What an admin sees for each kind of mail that could not be delivered.
MAIL_LABELS = {
    "invitation": N_("Uitnodiging"),
    "password_reset": N_("Link voor een nieuw wachtwoord"),
    "notification": N_("Melding"),
    "digest": N_("Dagelijks overzicht"),
    "partner_left": N_("Bericht over een vertrokken partner"),
}
PER_PAGE = 30
CATEGORIES = {
    "stappen": ("workflow.",),
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
    "organisation_registered": "maakte de organisatie aan", "region_opt_in": "meldde de vestiging aan voor de regio",
    "region_opt_out": "meldde de vestiging af voor de regio", "data_exported": "downloadde alle gegevens",
    "account_deleted": "verwijderde het eigen account", "partner_deleted": "een partner verwijderde zijn gegevens",
    "comments_resolved": "markeerde opmerkingen als afgehandeld", "comments_reopened": "opende opmerkingen opnieuw",
    "email_confirmed": "bevestigde het e-mailadres", "region_report_exported": "downloadde het jaarverslag",
    "records_purged": "gespreksverslagen van stap 5 verwijderd na de bewaartermijn",
    "account_renamed": "wijzigde de eigen naam",
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


@bp.get("/organisatie/logboek")
@policy("admin")
def log():
    org = current_org()
    category = choice_arg("soort", CATEGORIES)
    person = request.args.get("persoon", "")
    partnership_ids = select(Partnership.id).where(
        or_(Partnership.library_id == org.id, Partnership.childcare_id == org.id))
    stmt = select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.actor_id).where(or_(
        AuditEvent.organisation_id == org.id,
        (AuditEvent.partnership_id.in_(partnership_ids)) & AuditEvent.kind.like("workflow.%"),
    ))
    if category in CATEGORIES:
        stmt = stmt.where(or_(*[AuditEvent.kind.like(prefix + "%") for prefix in CATEGORIES[category]]))
    people = db.session.execute(
        select(User.public_id, User.name).join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == org.id).order_by(User.name)).all()
    if person in {p for p, _n in people}:
        stmt = stmt.where(AuditEvent.actor_id == select(User.id).where(User.public_id == person).scalar_subquery())
    listing = paginate(stmt.order_by(AuditEvent.id.desc()), page_arg(), PER_PAGE)
    members = _member_names([e for e, _name in listing.items])
    entries = [{"at": e.created_at,
                # A step that opens is the system's doing (after someone completed the step before).
                "who": "" if e.kind in SYSTEM_EVENTS else name or e.actor_pseudonym or "",
                "what": _member_text(e, members) or text_for(e) or (_(LABELS[e.kind]) if e.kind in LABELS else e.kind),
                "kind": e.kind}
               for e, name in listing.items]
    return render_template("audit/log.html", entries=entries, listing=listing, total=listing.total,
                           category=category if category in CATEGORIES else "", person=person, people=people,
                           categories=list(CATEGORIES), undelivered=outbox.undelivered(org.id),
                           mail_labels=MAIL_LABELS, form=FlaskForm())


@bp.post("/organisatie/e-mails/<message_id>/opnieuw")
@policy("admin")
def retry_mail(message_id: str):
    """An admin tries an undelivered mail of their organisation again (another organisation's: 404)."""
    message = db.first_or_404(select(OutboxMessage).where(OutboxMessage.public_id == message_id,
                                                          OutboxMessage.organisation_id == current_org().id))
    if FlaskForm().validate_on_submit():
        outbox.retry(message)
        flash(_("De e-mail aan %(to)s staat weer klaar om te versturen.", to=message.to_email), "success")
    return redirect(url_for("audit.log") + "#e-mails")
