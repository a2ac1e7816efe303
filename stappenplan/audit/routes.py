"""The audit log for organisation admins: who did what and when."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import func, or_, select

from ..access import current_org, policy
from ..accounts.models import User
from ..extensions import db
from ..organisations.models import Membership
from ..partnerships.models import Partnership
from .describe import text_for
from .models import AuditEvent

bp = Blueprint("audit", __name__)
PER_PAGE = 30
CATEGORIES = {
    "stappen": ("workflow.",),
    "leden": ("member_", "account_", "password_"),
    "uitnodigingen": ("partner_invited", "invitation_", "partnership_started"),
    "gegevens": ("data_exported", "records_purged", "partner_deleted", "region_"),
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
    "comments_resolved": "rondde een gesprek af", "comments_reopened": "opende een gesprek opnieuw",
}


@bp.get("/organisatie/logboek")
@policy("admin")
def log():
    org = current_org()
    category = request.args.get("soort", "")
    person = request.args.get("persoon", "")
    page = request.args.get("pagina", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
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
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.execute(stmt.order_by(AuditEvent.id.desc()).offset((page - 1) * PER_PAGE).limit(PER_PAGE)).all()
    entries = [{"at": e.created_at, "who": name or e.actor_pseudonym or "",
                "what": text_for(e) or LABELS.get(e.kind, e.kind), "kind": e.kind} for e, name in rows]
    pages = max(1, -(-total // PER_PAGE))
    return render_template("audit/log.html", entries=entries, page=min(page, pages), pages=pages, total=total,
                           category=category if category in CATEGORIES else "", person=person, people=people,
                           categories=list(CATEGORIES))
