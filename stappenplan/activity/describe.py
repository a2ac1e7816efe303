"""Audit events in plain Dutch, for activity feeds."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, bindparam, select

from ..accounts.models import User
from ..audit.models import AuditEvent
from ..extensions import db
from ..i18n import gettext as _
from ..i18n import ngettext
from ..partnerships.models import Partnership
from ..workflow.engine import party_name


class _Party(dict):
    """Party names in the reader's language (the engine's translated names)."""

    def get(self, key, default=None):
        return party_name(key) if key in ("library", "childcare") else default


PARTY = _Party()


@dataclass
class Activity:
    id: int
    at: datetime
    who: str
    text: str
    partnership: Partnership | None
    kind: str


def text_for(event: AuditEvent, viewer: str | None = None) -> str | None:
    """A sentence for an event (without the actor), or None for events not worth showing.
    ``viewer``: the reader's side in the partnership (None: the organisation's own log)."""
    d = event.detail or {}
    step = d.get("step")
    slot = d.get("slot")
    whose = "" if slot in (None, "joint") else f" ({PARTY.get(slot, slot)})"
    kind = event.kind
    if kind == "workflow.step_opened":
        return _("Stap %(n)d staat open%(whose)s", n=step, whose=whose)
    if kind == "workflow.step_completed":
        return _("rondde stap %(n)d af%(whose)s", n=step, whose=whose)
    if kind == "workflow.signed_off":
        return _("keurde stap %(n)d goed", n=step)
    if kind == "workflow.sign_off_withdrawn":
        if d.get("reason") == "edit":
            return _("wijzigde stap %(n)d; de goedkeuring van %(party)s vervalt", n=step,
                     party=PARTY.get(d.get("signoff_party"), ""))
        return _("trok de goedkeuring van stap %(n)d in", n=step)
    if kind == "workflow.step_reopened":
        if viewer is not None and slot not in (None, "joint") and viewer != slot:
            # The reason for reopening an own step may quote its content: only its side reads it.
            return _("heropende stap %(n)d%(whose)s", n=step, whose=whose)
        return _("heropende stap %(n)d%(whose)s: %(reason)s", n=step, whose=whose, reason=d.get("reason", ""))
    if kind == "workflow.cycle_closed":
        return _("rondde ronde %(n)d af", n=d.get("number") or d.get("cycle"))
    if kind == "workflow.cycle_started":
        return _("startte ronde %(n)d", n=d.get("number"))
    if kind == "workflow.plan_upgraded":
        return _("werkte het plan bij naar versie %(new)s (was versie %(old)s); alle antwoorden zijn bewaard",
                 new=d.get("to"), old=d.get("from"))
    if kind == "practice.updated":
        return _("werkte de praktijk bij: %(title)s", title=d.get("title") or _("wat opvalt"))
    if kind == "practice.added":
        return _("voegde een activiteit toe aan de praktijk: %(title)s", title=d.get("title", ""))
    if kind == "calendar_renewed":
        return _("maakte een nieuw agenda-adres")
    if kind == "calendar_stopped":
        return _("zette het agenda-adres uit")
    if kind == "partnership_started":
        if d.get("invited"):
            return _("nodigde %(org)s uit; de samenwerking is gestart", org=d["invited"])
        return _("startte de samenwerking")
    if kind == "invitation_accepted":
        return _("accepteerde de uitnodiging")
    if kind == "comment_added":
        return _("plaatste een opmerking bij stap %(n)d", n=step)
    if kind == "region_reminder":
        return _("stuurde een herinnering namens %(region)s", region=d.get("region", ""))
    if kind == "region_requested":
        return _("vroeg om mee te doen in %(region)s", region=d.get("region", ""))
    if kind == "region_request_withdrawn":
        return _("trok de aanvraag voor %(region)s in", region=d.get("region", ""))
    if kind == "region_request_accepted":
        return _("nam de aanvraag van %(branch)s voor %(region)s aan", branch=d.get("library", ""),
                 region=d.get("region", ""))
    if kind == "region_request_declined":
        return _("wees de aanvraag van %(branch)s voor %(region)s af", branch=d.get("library", ""),
                 region=d.get("region", ""))
    if kind == "coordination.export":
        return ngettext("downloadde het regio-overzicht (%(num)d samenwerking, %(format)s)",
                        "downloadde het regio-overzicht (%(num)d samenwerkingen, %(format)s)",
                        int(d.get("rows") or 0), format=str(d.get("format", "")).upper())
    if kind == "answers_reused":
        return _("nam de antwoorden van stap %(n)d over uit de samenwerking met %(partner)s", n=step,
                 partner=d.get("partner", ""))
    if kind == "plan_exported":
        return _("downloadde het samenwerkingsplan van ronde %(n)s (%(format)s)", n=d.get("cycle", ""),
                 format=str(d.get("format", "")).upper())
    return None


@functools.cache
def _activity_statement(before: bool) -> Select:
    """The events of some partnerships, newest first, a page at a time (the start page and
    the partnership page), built once per process with bind parameters (see
    ``access.user_by_public_id``)."""
    stmt = (
        select(AuditEvent, User.name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.partnership_id.in_(bindparam("partnerships", expanding=True)))
        .order_by(AuditEvent.id.desc())
    )
    if before:
        stmt = stmt.where(AuditEvent.id < bindparam("before"))
    return stmt.offset(bindparam("offset")).limit(bindparam("limit"))


def activities(partnership_ids: list[int], *, limit: int = 10, before: int | None = None,
               viewer: str | None = None, loaded: list[Partnership] | None = None) -> list[Activity]:
    """Newest first; events before id ``before``; one query (plus one for the
    partnerships, unless the caller has them all in ``loaded``)."""
    if not partnership_ids:
        return []
    stmt = _activity_statement(bool(before))
    values = {"partnerships": list(partnership_ids), "before": before or 0}
    result: list[Activity] = []
    partnerships = {p.id: p for p in loaded or ()}
    if set(partnership_ids) - partnerships.keys():
        partnerships = {
            p.id: p for p in db.session.scalars(select(Partnership).where(Partnership.id.in_(partnership_ids)))
        }
    # Read in pages until enough showable events are found (hidden kinds are skipped).
    offset = 0
    while len(result) < limit:
        rows = db.session.execute(stmt, {**values, "offset": offset, "limit": limit * 3}).all()
        if not rows:
            break
        offset += len(rows)
        for event, name in rows:
            partnership = partnerships.get(event.partnership_id) if event.partnership_id else None
            if not _visible(event, viewer, partnership):
                continue
            text = text_for(event, viewer)
            if text is None:
                continue
            who = name or (_("verwijderde gebruiker") if event.actor_id is None and event.kind != "workflow.step_opened"
                           else "")
            if event.kind == "workflow.step_opened":
                who = ""
            result.append(Activity(event.id, event.created_at, who, text, partnership, event.kind))
            if len(result) >= limit:
                break
    return result


def _visible(event: AuditEvent, viewer: str | None, partnership: Partnership | None) -> bool:
    """Coordinators see workflow events only; comments on own steps stay with their owner."""
    if viewer == "coordinator":
        return (event.kind.startswith(("workflow.", "practice.")) or
                event.kind in {"partnership_started", "region_reminder"})
    if event.kind == "answers_reused" and viewer is not None:
        # It names another partnership of the organisation: the partner never reads it.
        if partnership is None:
            return False
        mine = partnership.library_id if viewer == "library" else partnership.childcare_id
        return event.organisation_id == mine
    if event.kind == "comment_added" and partnership is not None:
        step = (event.detail or {}).get("step")
        if step is not None and step <= 3 and viewer is not None:
            owner_org = event.organisation_id
            mine = partnership.library_id if viewer == "library" else partnership.childcare_id
            return owner_org == mine
    return True
