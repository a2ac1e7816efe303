"""Data for the start page of each kind of organisation."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Select, bindparam, distinct, func, or_, select

from ..access import coordinated_library_ids, visible_partnerships, visible_partnerships_statement
from ..activity.describe import activities
from ..core.web import Page, choice_arg, int_arg, page_arg, text_arg
from ..extensions import db, utcnow
from ..organisations.models import Organisation, RegionMembership, RegionRequest
from ..partnerships.models import Invitation, Partnership
from ..partnerships.summary import Summary, other, summaries
from ..workflow.definition import PlanDefinition
from ..workflow.localize import localized
from ..workflow.plan_loader import get_definition, latest_version

PER_PAGE = 20
STATUSES = ("alle", "wacht-op-ons", "wacht-op-partner", "stilgevallen", "afgerond")
SORTS = ("activiteit", "naam", "voortgang")


@dataclass
class Filters:
    search: str = ""
    status: str = "alle"
    situation: int | None = None
    sort: str = "activiteit"
    page: int = 1

    @classmethod
    def from_request(cls) -> Filters:
        """Unknown or malformed values fall back to the defaults (never an error)."""
        return cls(
            search=text_arg("zoek", 100),
            status=choice_arg("status", STATUSES, "alle"),
            situation=int_arg("situatie", None, lo=1, hi=3),
            sort=choice_arg("sorteer", SORTS, "activiteit"),
            page=page_arg(),
        )

    def query(self, **changes: Any) -> dict[str, Any]:
        values = {"zoek": self.search, "status": self.status, "situatie": self.situation or "",
                  "sorteer": self.sort, "pagina": self.page}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None, "alle") and not (k == "pagina" and v == 1)}

    @property
    def active(self) -> bool:
        return bool(self.search or self.status != "alle" or self.situation)


#: The coordinator's start page names the newest few; the regional overview has them all.
COORDINATOR_NEWEST = 10


def context_for(org: Organisation) -> dict[str, Any]:
    if org.kind == "coordination":
        return _coordinator_home(org)
    return _party_home(org, Filters.from_request())


def _coordinator_home(org: Organisation) -> dict[str, Any]:
    """Counted in SQL, and only the newest loaded: a region may hold thousands."""
    visible = visible_partnerships(org)
    # The region's branches, also those without a partnership yet (as the overview counts them).
    branch_ids = coordinated_library_ids(org.id).subquery()
    branch_count = select(func.count(distinct(branch_ids.c.library_id))).scalar_subquery()
    total, branches = db.session.execute(visible.with_only_columns(func.count(Partnership.id), branch_count)).one()
    newest = list(db.session.scalars(
        visible.order_by(Partnership.created_at.desc(), Partnership.id.desc()).limit(COORDINATOR_NEWEST)))
    return {"org": org, "partnerships": newest, "total": total, "branch_count": branches}


def _party_home(org: Organisation, filters: Filters) -> dict[str, Any]:
    party = "library" if org.kind == "library" else "childcare"
    partnerships = list(db.session.scalars(visible_partnerships_statement(org.kind), {"org": org.id}))
    all_summaries = summaries(partnerships, current_app.config["STALLED_DAYS"])
    total = len(all_summaries)
    needle = filters.search.lower()
    shown = [
        s for s in all_summaries
        if _matches(s, filters.status, party)
        and (not needle or needle in s.partnership.partner_of(party).name.lower())
        and (not filters.situation or s.partnership.situation == filters.situation)
    ]
    shown.sort(key=_sort_key(filters.sort, party), reverse=filters.sort in ("activiteit", "voortgang"))
    pages = max(1, math.ceil(len(shown) / PER_PAGE))
    page = min(filters.page, pages)
    listing = Page(items=shown[(page - 1) * PER_PAGE: page * PER_PAGE], page=page, pages=pages, total=len(shown))
    waiting_us = [s for s in all_summaries if s.waits_on(party)]
    waiting_partner = [s for s in all_summaries if s.waits_on(other(party)) and not s.waits_on(party)]
    ids = [s.partnership.id for s in all_summaries]
    return {
        "org": org,
        "party": party,
        "filters": filters,
        "items": listing.items,
        "listing": listing,
        "count": len(shown),
        "total": total,
        "waiting_us": waiting_us,
        "waiting_partner": waiting_partner,
        "recent": activities(ids, limit=5, viewer=party, loaded=partnerships),
        "open_invitations": _open_invitations(org),
        "incoming": _incoming(org),
        "region_state": _region_state(org) if party == "library" else None,
    }


def _region_state(library: Organisation) -> str:
    """'member', 'asked' (a request waits) or 'none': a branch outside any region is told
    what a region is and offered the request on its start page. One statement."""
    is_member, has_asked = db.session.execute(_region_state_statement(), {"library": library.id}).one()
    return "member" if is_member else ("asked" if has_asked else "none")


@functools.cache
def _region_state_statement() -> Select:
    member = select(RegionMembership.id).where(RegionMembership.library_id == bindparam("library")).exists()
    asked = select(RegionRequest.id).where(RegionRequest.library_id == bindparam("library"),
                                           RegionRequest.status == "pending").exists()
    return select(member, asked)


def _matches(summary: Summary, status: str, party: str) -> bool:
    if status == "wacht-op-ons":
        return bool(summary.waits_on(party))
    if status == "wacht-op-partner":
        return bool(summary.waits_on(other(party))) and not summary.waits_on(party)
    if status == "stilgevallen":
        return summary.stalled
    if status == "afgerond":
        return summary.closed
    return True


def _sort_key(sort: str, party: str):
    if sort == "naam":
        return lambda s: s.partnership.partner_of(party).name.lower()
    if sort == "voortgang":
        return lambda s: (s.cycle_number, s.current_step, s.closed)
    return lambda s: s.last_activity_at or utcnow()


def _open_invitations(org: Organisation) -> list[Invitation]:
    return list(db.session.scalars(_invitations_statement("sent"), {"org": org.id, "now": utcnow()}))


def _incoming(org: Organisation) -> list[Invitation]:
    return list(db.session.scalars(_invitations_statement("received"), {"org": org.id, "now": utcnow()}))


@functools.cache
def _invitations_statement(which: str) -> Select:
    """The organisation's pending invitations, sent (partnerships only, newest first) or
    received; built once per process with bind parameters (see ``access.user_by_public_id``)."""
    pending = (Invitation.open_at(bindparam("now", type_=Invitation.__table__.c.expires_at.type)),)
    if which == "sent":
        return select(Invitation).where(
            Invitation.inviter_org_id == bindparam("org"), Invitation.purpose == "partnership", *pending,
        ).order_by(Invitation.sent_at.desc())
    # Not from an organisation this one already works with: that invitation cannot be
    # accepted (its mail explains why), so "open the link to accept" would mislead.
    already = select(Partnership.id).where(or_(
        (Partnership.library_id == Invitation.inviter_org_id) & (Partnership.childcare_id == bindparam("org")),
        (Partnership.childcare_id == Invitation.inviter_org_id) & (Partnership.library_id == bindparam("org"))),
        Partnership.awaiting_org_id.is_(None))  # one the invitation prepared waits for this answer
    return select(Invitation).where(Invitation.target_org_id == bindparam("org"), *pending, ~already.exists())


def current_plan() -> PlanDefinition:
    """The newest plan in the reader's language: the background page lists its
    starting situations and steps, so the page and the worksheets never disagree."""
    return localized(get_definition(latest_version()))
