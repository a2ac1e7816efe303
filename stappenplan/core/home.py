"""Data for the start page of each kind of organisation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..access import visible_partnerships
from ..extensions import db, utcnow
from ..organisations.models import Organisation
from ..partnerships.models import Invitation, Partnership


def context_for(org: Organisation) -> dict[str, Any]:
    partnerships = list(
        db.session.scalars(visible_partnerships(org).order_by(Partnership.created_at.desc()))
    )
    context: dict[str, Any] = {"org": org, "partnerships": partnerships}
    if org.kind in {"library", "childcare"}:
        context["open_invitations"] = list(
            db.session.scalars(
                select(Invitation)
                .where(
                    Invitation.inviter_org_id == org.id,
                    Invitation.purpose == "partnership",
                    Invitation.accepted_at.is_(None),
                    Invitation.revoked_at.is_(None),
                    Invitation.expires_at > utcnow(),
                )
                .order_by(Invitation.sent_at.desc())
            )
        )
        context["incoming"] = list(
            db.session.scalars(
                select(Invitation).where(
                    Invitation.target_org_id == org.id,
                    Invitation.accepted_at.is_(None),
                    Invitation.revoked_at.is_(None),
                    Invitation.expires_at > utcnow(),
                )
            )
        )
    return context
