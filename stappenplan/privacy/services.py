"""Export all data of an organisation, delete organisations and accounts, enforce retention.

What cascades, what is anonymised and what stays is written down in docs/privacy.md;
the tests in tests/test_privacy.py check each line of that table.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from ..accounts.models import User
from ..accounts.passwords import verify_password
from ..audit.models import AuditEvent
from ..audit.services import record
from ..core.errors import ServiceError
from ..extensions import db, utcnow
from ..i18n import gettext as _
from ..organisations.models import Membership, Organisation, RegionMembership, bump_region_versions
from ..outbox import services as outbox
from ..outbox.services import mail_template
from ..partnerships.models import Invitation, Partnership
from ..workflow import engine
from ..workflow.models import Cycle, StepInstance
from ..workflow.plan_loader import get_definition
from ..worksheets.models import Answer, AnswerRevision, Comment, CommentThread


def pseudonym(user: User) -> str:
    """A stable name for a deleted account in the audit log, that reveals nothing."""
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), user.public_id.encode(), hashlib.sha256)
    return "gebruiker-" + digest.hexdigest()[:10]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def export(org: Organisation, actor: User) -> dict[str, Any]:
    """Everything the organisation may see, as plain data (JSON-ready)."""
    members = db.session.execute(
        select(User.name, User.email, Membership.role, Membership.team, Membership.created_at)
        .join(Membership, Membership.user_id == User.id).where(Membership.organisation_id == org.id)
    ).all()
    partnerships = db.session.scalars(select(Partnership).where(
        or_(Partnership.library_id == org.id, Partnership.childcare_id == org.id))).all()
    ids = [p.id for p in partnerships]
    cycles = db.session.scalars(select(Cycle).where(Cycle.partnership_id.in_(ids)).order_by(Cycle.number)).all() \
        if ids else []
    instances = db.session.scalars(select(StepInstance).where(
        StepInstance.cycle_id.in_([c.id for c in cycles]))).all() if cycles else []
    answers = db.session.scalars(select(Answer).where(
        Answer.step_instance_id.in_([i.id for i in instances]))).all() if instances else []
    by_instance: dict[int, list[Answer]] = {}
    for a in answers:
        by_instance.setdefault(a.step_instance_id, []).append(a)
    data_partnerships = []
    for p in partnerships:
        party = p.party_of(org.id)
        p_cycles = []
        for c in (c for c in cycles if c.partnership_id == p.id):
            defn = get_definition(c.plan_version)
            steps = []
            for i in sorted((i for i in instances if i.cycle_id == c.id), key=lambda i: (i.step, i.slot)):
                if i.slot not in ("joint", party):
                    continue  # the partner's own steps are the partner's data
                step = defn.step(i.step)
                # A round moved to a newer plan keeps the answers to questions that version
                # no longer asks: they are this organisation's data too ("uit versie N").
                old_step = get_definition(c.upgraded_from).step(i.step) if c.upgraded_from else None
                values: dict[str, Any] = {}
                old_values: dict[str, Any] = {}
                for a in by_instance.get(i.id, []):
                    known = {q.key: q for q in step.questions}
                    question = known.get(a.question)
                    target = values
                    if question is None and old_step is not None:
                        question = next((q for q in old_step.questions if q.key == a.question), None)
                        target = old_values
                    if question is not None and engine.question_visible(question, party or ""):
                        target[a.question] = a.value
                entry = {"stap": i.step, "werkblad": i.slot, "status": i.status,
                         "geopend": _iso(i.opened_at), "afgerond": _iso(i.completed_at), "antwoorden": values}
                if old_values:
                    entry[f"antwoorden_uit_versie_{c.upgraded_from}"] = old_values
                steps.append(entry)
            p_cycles.append({"ronde": c.number, "planversie": c.plan_version, "bijgewerkt_van_versie": c.upgraded_from,
                             "gestart": _iso(c.created_at),
                             "afgesloten": _iso(c.closed_at), "stappen": steps})
        data_partnerships.append({
            "bibliotheek": p.library.name, "kinderopvang": p.childcare.name, "uitgangssituatie": p.situation,
            "gestart": _iso(p.created_at), "rondes": p_cycles,
        })
    comments = db.session.execute(
        select(Comment.body, Comment.created_at, User.name, CommentThread.question, StepInstance.step)
        .join(CommentThread, CommentThread.id == Comment.thread_id)
        .join(StepInstance, StepInstance.id == CommentThread.step_instance_id)
        .outerjoin(User, User.id == Comment.author_id)
        .join(Membership, Membership.user_id == Comment.author_id)
        .where(Membership.organisation_id == org.id)
    ).all()
    invitations = db.session.scalars(select(Invitation).where(Invitation.inviter_org_id == org.id)).all()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.organisation_id == org.id)
                                .order_by(AuditEvent.id)).all()
    record("data_exported", actor_id=actor.id, organisation_id=org.id)
    db.session.flush()
    return {
        "organisatie": {"naam": org.name, "soort": org.kind, "aangemaakt": _iso(org.created_at)},
        "geexporteerd": _iso(utcnow()),
        "leden": [{"naam": n, "email": e, "rol": r, "team": t, "lid_sinds": _iso(s)} for n, e, r, t, s in members],
        "samenwerkingen": data_partnerships,
        "opmerkingen": [{"tekst": b, "geplaatst": _iso(at), "door": n or "verwijderde gebruiker", "vraag": q,
                         "stap": s} for b, at, n, q, s in comments],
        "uitnodigingen": [{"email": i.email, "organisatie": i.org_name, "doel": i.purpose, "status": i.state,
                           "verstuurd": _iso(i.sent_at)} for i in invitations],
        "logboek": [{"wanneer": _iso(e.created_at), "wat": e.kind, "details": e.detail} for e in events],
    }


def _anonymise_actor(user: User) -> None:
    db.session.execute(update(AuditEvent).where(AuditEvent.actor_id == user.id)
                       .values(actor_pseudonym=pseudonym(user)).execution_options(synchronize_session=False))


def delete_account(user: User, password: str) -> None:
    """A user deletes their own account; their work stays, attributed to 'verwijderde gebruiker'."""
    if not verify_password(user.password_hash, password):
        raise ServiceError(_("Dit is niet je wachtwoord."), field="password")
    membership = user.membership
    if membership is not None and membership.role == "admin":
        others = db.session.scalar(select(func.count(Membership.id)).where(
            Membership.organisation_id == membership.organisation_id, Membership.id != membership.id)) or 0
        admins = db.session.scalar(select(func.count(Membership.id)).where(
            Membership.organisation_id == membership.organisation_id, Membership.role == "admin")) or 0
        if others and admins <= 1:
            raise ServiceError(_("Je bent de laatste beheerder. Maak eerst een collega beheerder."))
        if not others:
            raise ServiceError(_("Je bent de enige in je organisatie. Verwijder dan de hele organisatie "
                                 "(Organisatie › Gegevens en privacy)."))
    org_id = membership.organisation_id if membership else None
    _anonymise_actor(user)
    record("account_deleted", actor_id=None, organisation_id=org_id, pseudonym=pseudonym(user))
    db.session.delete(user)
    db.session.flush()


def delete_organisation(org: Organisation, actor: User, confirm_name: str) -> int:
    """Delete an organisation with everything that is only its own (see docs/privacy.md)."""
    if confirm_name.strip() != org.name:
        raise ServiceError(_("Typ de naam van je organisatie precies over om te bevestigen."), field="confirm")
    partnerships = db.session.scalars(select(Partnership).where(
        or_(Partnership.library_id == org.id, Partnership.childcare_id == org.id))).all()
    partners = {partner.id: partner for partner in
                (p.childcare if p.library_id == org.id else p.library for p in partnerships)}
    users = db.session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                               .where(Membership.organisation_id == org.id)).all()
    for user in users:
        _anonymise_actor(user)
    name, org_key = org.name, org.public_id
    for partner in partners.values():
        record("partner_deleted", actor_id=None, organisation_id=partner.id, partner=name)
    # Coordinators see these partnerships (and a library's opt-in) no more: their cached
    # region figures must drop the names at once (Region.version).
    libraries = {p.library_id for p in partnerships} | ({org.id} if org.kind == "library" else set())
    bump_region_versions(db.session.connection(), db.session.scalars(
        select(RegionMembership.region_id).where(RegionMembership.library_id.in_(libraries))))
    # Partnerships (cycles, answers, comments) go with the organisation: they cannot go on without it.
    db.session.execute(delete(Partnership).where(Partnership.id.in_([p.id for p in partnerships])))
    db.session.execute(delete(Invitation).where(or_(Invitation.inviter_org_id == org.id,
                                                    Invitation.target_org_id == org.id)))
    for user in users:
        db.session.delete(user)
    db.session.delete(org)
    db.session.flush()
    admins = db.session.scalars(select(User).join(Membership, Membership.user_id == User.id).where(
        Membership.organisation_id.in_(list(partners)), Membership.role == "admin")).all()
    for admin in admins:
        outbox.enqueue("partner_left", admin.email, {"name": admin.name, "org": name},
                       dedupe_key=f"partner-left:{org_key}:{admin.id}", locale=admin.locale, user_id=admin.id,
                       organisation_id=admin.membership.organisation_id if admin.membership else None)
    return len(partnerships)


def purge_records(now: datetime | None = None, months: int | None = None) -> int:
    """Remove step-5 conversation records of cycles closed longer ago than the retention period."""
    months = months if months is not None else current_app.config["RECORDS_RETENTION_MONTHS"]
    cutoff = (now or utcnow()) - timedelta(days=int(months * 30.44))
    candidates = db.session.execute(
        select(Answer.id, Answer.question, StepInstance.step, Cycle.plan_version)
        .join(StepInstance, StepInstance.id == Answer.step_instance_id)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .where(Cycle.closed_at.is_not(None), Cycle.closed_at < cutoff, Answer.value.is_not(None))
    ).all()
    ids = []
    for answer_id, key, step, version in candidates:
        try:
            question = get_definition(version).step(step).question(key)
        except KeyError:
            continue
        if question.type == "records":
            ids.append(answer_id)
    if not ids:
        return 0
    db.session.execute(delete(AnswerRevision).where(AnswerRevision.answer_id.in_(ids)))
    db.session.execute(update(Answer).where(Answer.id.in_(ids)).values(value=None)
                       .execution_options(synchronize_session=False))
    record("records_purged", actor_id=None, organisation_id=None, answers=len(ids), months=months)
    db.session.flush()
    return len(ids)


@mail_template("partner_left")
def _partner_left_mail(params: dict[str, Any]) -> tuple[str, str]:
    """Text: templates/mail/partner_left.txt."""
    return outbox.render("partner_left", name=params["name"], org=params["org"])
