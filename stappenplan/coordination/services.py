"""Queries behind the coordinator's overview of a region.

Everything here runs a fixed number of SQL statements, however many partnerships
a region has: per-partnership facts (current cycle, furthest open step, stalled)
are computed inside one SQL row source (``_rows``) that every summary aggregates
over, and the step statuses of the visible matrix rows come in one extra query.
The scope is always ``access.coordinated_library_ids``: only branches that opted
in to one of the coordinator's regions, so an opt-out takes effect at once.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from cachetools import TTLCache
from flask import current_app
from sqlalchemy import Integer, Select, Subquery, and_, bindparam, case, exists, extract, func, or_, select
from sqlalchemy.orm import aliased

from ..access import coordinated_library_ids
from ..audit.services import record
from ..core import uow
from ..core.web import CONTROL, MAX_PAGE, page_window, parse_int
from ..extensions import db, utcnow
from ..i18n import gettext as _
from ..organisations.models import Organisation, Region, RegionMembership
from ..partnerships.models import Partnership
from ..workflow import engine
from ..workflow.definition import PlanDefinition
from ..workflow.localize import localized
from ..workflow.models import Cycle, StepInstance
from ..workflow.plan_loader import get_definition, latest_version

PER_PAGE = 50
STALLED_LIST = 10
MONTHS = 12
SEARCH_MAX = 100
#: "Current step" of a partnership whose round is complete (no step open any more).
DONE = 9
DONE_SLUG = "klaar"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Branch:
    """A library branch that opted in to one of the coordinator's regions."""

    id: int
    public_id: str
    name: str
    region: str


@dataclass(frozen=True)
class Filters:
    """What the matrix shows; parsed from the query string, invalid parts dropped."""

    branch: Branch | None = None
    step: int | None = None
    query: str = ""
    stalled: bool = False
    page: int = 1

    def args(self, *, page: int | None = None, with_branch: bool = True) -> dict[str, str]:
        """Query-string arguments that reproduce these filters (for links)."""
        args: dict[str, str] = {}
        if self.branch and with_branch:
            args["vestiging"] = self.branch.public_id
        if self.step:
            args["stap"] = DONE_SLUG if self.step == DONE else str(self.step)
        if self.query:
            args["zoek"] = self.query
        if self.stalled:
            args["stil"] = "1"
        if page and page > 1:
            args["pagina"] = str(page)
        return args


@dataclass
class Row:
    """One partnership in the matrix: its current cycle and the status per step/slot."""

    id: int
    public_id: str
    library_id: int
    library_name: str
    childcare_name: str
    situation: int
    plan_version: int
    cycle_id: int
    cycle_number: int
    closed: bool
    last_activity_at: datetime
    current_step: int
    stalled: bool
    statuses: dict[tuple[int, str], str] = field(default_factory=dict)

    def status(self, step: int, slot: str) -> str | None:
        return self.statuses.get((step, slot))

    @property
    def done(self) -> bool:
        return self.current_step == DONE


@dataclass(frozen=True)
class StepCount:
    step: int
    title: str
    count: int
    stalled: int


@dataclass(frozen=True)
class BranchSummary:
    branch: Branch
    partnerships: int
    stalled: int
    done: int


@dataclass(frozen=True)
class BranchSteps:
    """How many partnerships of one branch are at each step of the plan (the yearly report)."""

    name: str
    counts: tuple[int, ...]  # per step of the plan, in its order
    done: int
    stalled: int

    @property
    def total(self) -> int:
        return sum(self.counts) + self.done


@dataclass(frozen=True)
class MonthCount:
    month: date
    count: int


@dataclass
class MatrixPage:
    rows: list[Row]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.page * self.per_page, self.total)

    def window(self, size: int = 2) -> list[int | None]:
        return page_window(self.page, self.pages, size)


#: One matrix cell: (status, party) per slot - one pair for a shared step, two (library,
#: childcare) for a step each organisation does on its own.
Cell = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class Line:
    """Everything one row of the matrix shows, and nothing else: the input of the rows'
    kept fragment (``templating.fragment``), compared for equality."""

    public_id: str
    library_name: str
    childcare_name: str
    cycle_number: int
    last_activity_at: datetime
    stalled: bool
    done: bool
    cells: tuple[Cell, ...]


def lines(rows: list[Row], defn: PlanDefinition) -> tuple[Line, ...]:
    """The matrix rows as the page shows them (a missing status is "locked")."""
    shapes = [(s.number, s.mode == "each") for s in defn.steps]

    def cells(row: Row) -> tuple[Cell, ...]:
        return tuple(
            ((row.status(n, "library") or "locked", "library"), (row.status(n, "childcare") or "locked", "childcare"))
            if each else ((row.status(n, "joint") or "locked", None),)
            for n, each in shapes)

    return tuple(Line(r.public_id, r.library_name, r.childcare_name, r.cycle_number, r.last_activity_at, r.stalled,
                      r.done, cells(r)) for r in rows)


@dataclass
class Overview:
    """Everything the dashboard (or a branch's drill-down) shows."""

    regions: list[str]
    branches: list[Branch]
    scope: Branch | None
    defn: PlanDefinition
    stalled_days: int
    counts: list[StepCount]
    total: int
    stalled_total: int
    done_total: int
    branch_summaries: list[BranchSummary]
    stalled_rows: list[Row]
    months: list[MonthCount]
    matrix: MatrixPage
    filters: Filters
    notices: list[str]
    #: (plan version, partnerships whose current round runs on it), oldest version first.
    versions: tuple[tuple[int, int], ...] = ()

    @property
    def joint_total(self) -> int:
        """Partnerships working on the shared steps (after the private steps 1-3)."""
        handoff = engine.last_private_step(self.defn)
        return sum(c.count for c in self.counts if handoff < c.step < DONE)

    @property
    def months_total(self) -> int:
        return sum(m.count for m in self.months)


# --------------------------------------------------------------------------- scope


def _regions(org_id: int) -> list[tuple[str, tuple[int, int]]]:
    """The coordinator's regions by name, each with (id, version) for the figures' cache key."""
    rows = db.session.execute(_regions_statement(), {"org": org_id})
    return [(name, (region_id, version)) for name, region_id, version in rows]


def branches_of(org_id: int) -> list[Branch]:
    """Opted-in branches of the coordinator's regions, by name."""
    rows = db.session.execute(_branches_statement(), {"org": org_id})
    return [Branch(*row) for row in rows]


# The dashboard's statements are built once per process with bind parameters (see
# ``access.user_by_public_id``).


@functools.cache
def _regions_statement() -> Select:
    return select(Region.name, Region.id, Region.version).where(
        Region.coordination_id == bindparam("org")).order_by(Region.name)


@functools.cache
def _branches_statement() -> Select:
    return (select(Organisation.id, Organisation.public_id, Organisation.name, Region.name)
            .join(RegionMembership, RegionMembership.library_id == Organisation.id)
            .join(Region, Region.id == RegionMembership.region_id)
            .where(Region.coordination_id == bindparam("org"), Organisation.kind == "library")
            .order_by(Organisation.name, Organisation.id))


def find_branch(branches: list[Branch], public_id: str | None) -> Branch | None:
    return next((b for b in branches if b.public_id == public_id), None) if public_id else None


def stalled_cutoff() -> tuple[int, datetime]:
    days = int(current_app.config.get("STALLED_DAYS", 30))
    return days, utcnow() - timedelta(days=days)


# --------------------------------------------------------------------------- filters


def parse_filters(
    args: Mapping[str, str], branches: list[Branch], defn: PlanDefinition, *, fixed: Branch | None = None
) -> tuple[Filters, list[str]]:
    """Read the matrix filters; unknown values are dropped with a Dutch notice, never a 500."""
    notices: list[str] = []
    branch = fixed
    raw_branch = (args.get("vestiging") or "").strip()
    if fixed is None and raw_branch:
        branch = find_branch(branches, raw_branch)
        if branch is None:
            notices.append(_("Deze vestiging hoort niet bij jullie regio. We tonen alle vestigingen."))
    step: int | None = None
    raw_step = (args.get("stap") or "").strip().lower()
    if raw_step:
        numbers = {s.number for s in defn.steps}
        if raw_step == DONE_SLUG:
            step = DONE
        elif parse_int(raw_step, None, lo=1, hi=99) in numbers:
            step = parse_int(raw_step, None, lo=1, hi=99)
        else:
            notices.append(_("Die stap bestaat niet. We tonen alle stappen."))
    query = " ".join(CONTROL.sub(" ", args.get("zoek") or "").split())[:SEARCH_MAX]
    stalled = (args.get("stil") or "") in {"1", "ja", "on", "true"}
    page = parse_int(args.get("pagina"), 1, lo=1, hi=MAX_PAGE) or 1
    return Filters(branch=branch, step=step, query=query, stalled=stalled, page=page), notices


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class _Source:
    """The row source of every overview query (``_rows``) and the values of its bind
    parameters, which each statement built on it is executed with."""

    rows: Subquery
    values: dict[str, Any]
    one_branch: bool

    def read(self, stmt: Select, **more: Any) -> Any:
        """Execute ``stmt`` with the source's values (``uow.run``: these statements select
        columns, never entities, so the ORM's per-statement work buys nothing here)."""
        return uow.run(stmt, {**self.values, **more})


def _rows(org_id: int, cutoff: datetime, branch: Branch | None = None) -> _Source:
    """One row per visible partnership with its current cycle's facts, as a subquery,
    and the values for it."""
    values: dict[str, Any] = {"overview_org": org_id, "overview_cutoff": cutoff}
    if branch is not None:
        values["overview_branch"] = branch.id
    return _Source(_rows_subquery(branch is not None), values, branch is not None)


@functools.cache
def _rows_subquery(one_branch: bool) -> Subquery:
    """``_rows``'s subquery, built once per process with bind parameters for the
    organisation, the stalled cutoff and the branch: building it (two aliased
    organisations, an aliased cycle, a correlated subquery) cost ~1.2 ms per request,
    and a fresh statement also needs its cache key computed again."""
    library = aliased(Organisation)
    childcare = aliased(Organisation)
    # The current cycle is the one without a newer cycle: an anti-join that both
    # databases plan well (a correlated "ORDER BY number DESC LIMIT 1" in the join
    # condition made PostgreSQL run it for every partnership x cycle pair).
    newer = aliased(Cycle)
    no_newer_cycle = ~exists().where(newer.partnership_id == Cycle.partnership_id, newer.number > Cycle.number)
    furthest_open = (
        select(func.max(StepInstance.step))
        .where(StepInstance.cycle_id == Cycle.id, StepInstance.status == engine.OPEN)
        .correlate(Cycle)
        .scalar_subquery()
    )
    cutoff = bindparam("overview_cutoff", type_=Cycle.__table__.c.last_activity_at.type)
    stalled = and_(Cycle.closed_at.is_(None), Cycle.last_activity_at < cutoff)
    stmt = (
        select(
            Partnership.id.label("id"),
            Partnership.public_id.label("public_id"),
            Partnership.library_id.label("library_id"),
            library.name.label("library_name"),
            childcare.name.label("childcare_name"),
            Partnership.situation.label("situation"),
            Cycle.plan_version.label("plan_version"),
            Cycle.id.label("cycle_id"),
            Cycle.number.label("cycle_number"),
            Cycle.closed_at.label("closed_at"),
            Cycle.last_activity_at.label("last_activity_at"),
            func.coalesce(furthest_open, DONE).label("current_step"),
            case((stalled, 1), else_=0).label("stalled"),
        )
        .join(library, library.id == Partnership.library_id)
        .join(childcare, childcare.id == Partnership.childcare_id)
        .join(Cycle, Cycle.partnership_id == Partnership.id)
        .where(
            Partnership.library_id.in_(coordinated_library_ids(bindparam("overview_org", type_=Integer()))),
            Partnership.awaiting_org_id.is_(None),  # prepared by an invitation: not the region's yet
            no_newer_cycle,
        )
    )
    if one_branch:
        stmt = stmt.where(Partnership.library_id == bindparam("overview_branch", type_=Integer()))
    return stmt.subquery("overview_rows")


def _stalled(rows: Subquery, cutoff: datetime) -> Any:
    """The "stalled" condition on the subquery's own columns, not on its ``stalled`` CASE:
    PostgreSQL can push these into the scan and estimate them (a filter on the CASE was
    estimated at 1% of the rows, which chose a nested loop that took 20 ms instead of 1)."""
    return and_(rows.c.closed_at.is_(None), rows.c.last_activity_at < cutoff)


def _filtered(rows: Subquery, filters: Filters, cutoff: datetime) -> Select:
    stmt = select(rows)
    if filters.branch is not None:
        stmt = stmt.where(rows.c.library_id == filters.branch.id)
    if filters.step:
        stmt = stmt.where(rows.c.current_step == filters.step)
    if filters.stalled:
        stmt = stmt.where(_stalled(rows, cutoff))
    if filters.query:
        stmt = stmt.where(
            or_(
                rows.c.library_name.icontains(filters.query, autoescape=True),
                rows.c.childcare_name.icontains(filters.query, autoescape=True),
            )
        )
    return stmt


def _to_row(record: Any) -> Row:
    return Row(
        id=record.id,
        public_id=record.public_id,
        library_id=record.library_id,
        library_name=record.library_name,
        childcare_name=record.childcare_name,
        situation=record.situation,
        plan_version=record.plan_version,
        cycle_id=record.cycle_id,
        cycle_number=record.cycle_number,
        closed=record.closed_at is not None,
        last_activity_at=record.last_activity_at,
        current_step=int(record.current_step),
        stalled=bool(record.stalled),
    )


def partnership_facts(org_id: int, partnership_id: int, cutoff: datetime) -> Row | None:
    """One partnership's row of the dashboard (current step, last activity, stalled): one query."""
    source = _rows(org_id, cutoff)
    rows = source.rows
    record = source.read(select(rows).where(rows.c.id == bindparam("partnership", type_=Integer())),
                         partnership=partnership_id).first()
    return _to_row(record) if record is not None else None


def _ordered(stmt: Select, rows: Subquery) -> Select:
    return stmt.order_by(rows.c.library_name, rows.c.childcare_name, rows.c.id)


def _statuses(cycle_ids: Any) -> Select:
    """The step statuses of the cycles ``cycle_ids`` (a list, a bind parameter or a subquery)."""
    return select(StepInstance.cycle_id, StepInstance.step, StepInstance.slot, StepInstance.status).where(
        StepInstance.cycle_id.in_(cycle_ids))


@functools.cache
def _statuses_of_cycles() -> Select:
    """The step statuses of a list of cycles, built once (see ``_rows_subquery``)."""
    return _statuses(bindparam("cycle_ids", expanding=True))


def _attach_statuses(rows: list[Row], source: _Source, cycle_ids: Select | None = None) -> None:
    """Fill in the step statuses of ``rows`` with one query: of the rows' own cycles, or
    of the cycles ``cycle_ids`` selects from ``source``.

    The query also runs for an empty page, so the number of queries per request
    does not depend on the data at all.
    """
    by_cycle = {row.cycle_id: row for row in rows}
    if cycle_ids is None:
        result = source.read(_statuses_of_cycles(), cycle_ids=[row.cycle_id for row in rows])
    else:
        result = source.read(_statuses(cycle_ids))
    for cycle_id, step, slot, status in result:
        row = by_cycle.get(cycle_id)
        if row is not None:
            row.statuses[(step, slot)] = status


@dataclass(frozen=True)
class _Group:
    """How many partnerships of one branch are at one step (and how many of them stalled)."""

    library_id: int
    step: int
    count: int
    stalled: int
    plan_version: int = 1


def _groups(source: _Source) -> list[_Group]:
    """One aggregate query that feeds the step counts, the branch table and the matrix total."""
    rows = source.rows
    stmt = select(rows.c.library_id, rows.c.current_step, func.count(), func.sum(rows.c.stalled),
                  rows.c.plan_version).group_by(rows.c.library_id, rows.c.current_step, rows.c.plan_version)
    return [_Group(lib, int(step), count, int(stalled or 0), int(version))
            for lib, step, count, stalled, version in source.read(stmt)]


@dataclass(frozen=True)
class _Tally:
    """The groups summed once per figures (not per request): per step, per branch and per
    branch and step. A region of 10,000 partnerships has thousands of groups and hundreds
    of branches; with the sums kept, a page looks its numbers up."""

    per_step: dict[int, tuple[int, int]]  # step -> (count, stalled)
    per_library: dict[int, tuple[int, int, int]]  # branch -> (count, stalled, done)
    per_library_step: dict[tuple[int, int], tuple[int, int]]  # (branch, step) -> (count, stalled)
    per_version: dict[int, int] = field(default_factory=dict)  # plan version -> partnerships on it

    @classmethod
    def of(cls, groups: list[_Group]) -> _Tally:
        per_version: dict[int, int] = {}
        for g in groups:
            per_version[g.plan_version] = per_version.get(g.plan_version, 0) + g.count
        per_step: dict[int, tuple[int, int]] = {}
        per_library: dict[int, tuple[int, int, int]] = {}
        per_library_step: dict[tuple[int, int], tuple[int, int]] = {}
        for g in groups:
            count, stalled = per_step.get(g.step, (0, 0))
            per_step[g.step] = (count + g.count, stalled + g.stalled)
            count, stalled, done = per_library.get(g.library_id, (0, 0, 0))
            per_library[g.library_id] = (
                count + g.count, stalled + g.stalled, done + (g.count if g.step == DONE else 0))
            count, stalled = per_library_step.get((g.library_id, g.step), (0, 0))
            per_library_step[(g.library_id, g.step)] = (count + g.count, stalled + g.stalled)
        return cls(per_step, per_library, per_library_step, per_version)

    def matching(self, branch_id: int | None, step: int | None, stalled: bool) -> int:
        """How many partnerships match a branch and/or step filter (only the stalled ones)."""
        which = 1 if stalled else 0
        if branch_id is not None and step is not None:
            return self.per_library_step.get((branch_id, step), (0, 0))[which]
        if branch_id is not None:
            return self.per_library.get(branch_id, (0, 0, 0))[which]
        if step is not None:
            return self.per_step.get(step, (0, 0))[which]
        return sum(pair[which] for pair in self.per_step.values())


def _counts(tally: _Tally, defn: PlanDefinition) -> list[StepCount]:
    counts = [StepCount(s.number, s.title, *tally.per_step.get(s.number, (0, 0))) for s in defn.steps]
    counts.append(StepCount(DONE, "", *tally.per_step.get(DONE, (0, 0))))
    return counts


def _branch_summaries(tally: _Tally, branches: list[Branch]) -> list[BranchSummary]:
    none = (0, 0, 0)
    return [BranchSummary(b, *tally.per_library.get(b.id, none)) for b in branches]


def _month_starts(today: date, count: int = MONTHS) -> list[date]:
    """The first days of the last ``count`` months, oldest first, this month last."""
    months = []
    year, month = today.year, today.month
    for _month in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _months(org_id: int, branch: Branch | None) -> list[MonthCount]:
    """Completed step instances per calendar month (UTC), over all cycles."""
    starts = _month_starts(utcnow().date())
    since = datetime(starts[0].year, starts[0].month, 1)
    year = extract("year", StepInstance.completed_at)
    month = extract("month", StepInstance.completed_at)
    stmt = (
        select(year, month, func.count())
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .join(Partnership, Partnership.id == Cycle.partnership_id)
        .where(
            Partnership.library_id.in_(coordinated_library_ids(org_id)),
            Partnership.awaiting_org_id.is_(None),
            StepInstance.status == engine.COMPLETED,
            StepInstance.completed_at >= since,
        )
        .group_by(year, month)
    )
    if branch is not None:
        stmt = stmt.where(Partnership.library_id == branch.id)
    found = {(int(y), int(m)): count for y, m, count in db.session.execute(stmt)}
    return [MonthCount(start, found.get((start.year, start.month), 0)) for start in starts]


@dataclass(frozen=True)
class _Order:
    """The matrix's order by branch and partner name: all partnership ids, and each
    branch's own (so a page filtered on one branch slices its list, not all 10,000)."""

    ids: list[int]
    per_library: dict[int, list[int]]

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, int]]) -> _Order:
        ids: list[int] = []
        per_library: dict[int, list[int]] = {}
        for pid, library_id in pairs:
            ids.append(pid)
            per_library.setdefault(library_id, []).append(pid)
        return cls(ids, per_library)


def _total(source: _Source, filters: Filters, tally: _Tally, cutoff: datetime) -> int:
    """Rows matching the filters; only a name search needs SQL, the rest is in ``tally``."""
    if filters.query:
        counted = select(func.count()).select_from(_filtered(source.rows, filters, cutoff).subquery())
        return source.read(counted).scalar() or 0
    return tally.matching(filters.branch.id if filters.branch else None, filters.step, filters.stalled)


@functools.cache
def _page_of(one_branch: bool) -> Select:
    """The matrix rows of a list of partnership ids, built once (see ``_rows_subquery``).

    The ids are written into the SQL text instead of sent as parameters: psycopg prepares
    a statement it has run five times; PostgreSQL then may switch to a generic plan, one
    that does not know the ids. For this query that plan scanned all partnerships of the
    region (12 ms at 10,005 instead of 5). With the ids in the text, the plan is always
    made for them. They are integers from the cached order, never user input."""
    rows = _rows_subquery(one_branch)
    return select(rows).where(rows.c.id.in_(bindparam("page_ids", expanding=True, literal_execute=True)))


def _matrix(source: _Source, filters: Filters, tally: _Tally, cutoff: datetime,
            order: _Order) -> tuple[MatrixPage, Filters]:
    """One page of the matrix. Without a step, "stalled" or name filter the page's ids come
    from ``order`` (the cached name order, see ``_region_figures``) and only those rows are
    read, live; otherwise the filtered query sorts and pages in SQL."""
    rows = source.rows
    total = _total(source, filters, tally, cutoff)
    pages = max(1, math.ceil(total / PER_PAGE))
    if filters.page > pages:
        filters = replace(filters, page=pages)
    start = (filters.page - 1) * PER_PAGE
    if filters.step or filters.stalled or filters.query:
        records = source.read(_ordered(_filtered(rows, filters, cutoff), rows).offset(start).limit(PER_PAGE)).all()
    else:
        in_scope = order.ids if filters.branch is None else order.per_library.get(filters.branch.id, [])
        ids = in_scope[start:start + PER_PAGE]
        position = {pid: n for n, pid in enumerate(ids)}
        found = source.read(_page_of(source.one_branch), page_ids=[int(i) for i in ids]).all()
        records = sorted(found, key=lambda r: position[r.id])
    page_rows = [_to_row(r) for r in records]
    _attach_statuses(page_rows, source)
    return MatrixPage(page_rows, total, filters.page), filters


def definition() -> PlanDefinition:
    """The plan whose steps make the matrix columns (the newest version)."""
    return localized(get_definition(latest_version()))


_FIGURES_LOCK = threading.Lock()
T = TypeVar("T")


def cached(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """Region-wide figures, kept ``DASHBOARD_CACHE_SECONDS`` per app process (0: always
    computed). Only figures live here, never anything access depends on; every key holds
    the coordination organisation and the ``(id, version)`` of each of its regions (see
    ``_region_figures``), so a branch that joins or leaves shows at once."""
    ttl = current_app.config.get("DASHBOARD_CACHE_SECONDS", 0)
    if ttl <= 0:
        return compute()
    cache = current_app.extensions.get("dashboard_figures")
    if cache is None:  # bounded: a few entries per coordination organisation
        # The clock is looked up on each call, so a test can move it on.
        cache = current_app.extensions.setdefault("dashboard_figures", TTLCache(
            maxsize=1000, ttl=ttl, timer=lambda: time.monotonic()))
    with _FIGURES_LOCK:  # cachetools' caches are not thread-safe themselves
        hit = cache.get(key, _MISSING)
    if hit is not _MISSING:
        return cast(T, hit)
    value = compute()
    with _FIGURES_LOCK:
        cache[key] = value
    return value


_MISSING = object()


def _region_figures(
    org_id: int, scope: Branch | None, source: _Source, cutoff: datetime, days: int,
    versions: tuple[tuple[int, int], ...],
) -> tuple[_Tally, list[Row], list[MonthCount], _Order]:
    """The figures over all partnerships of the region (or branch): counts per step,
    the longest-stalled list, the months chart, and the order of the matrix: every
    partnership's (id, branch id) by branch and partner name. To show the first 50 by name
    SQL must join and sort all of them (50 ms with 10,000); kept here, a page reads only
    its own 50 rows. A new partnership and a deletion raise the region's version, so the
    order holds every partnership at once; after a rename the order may lag the names by
    ``DASHBOARD_CACHE_SECONDS``.

    They cost three aggregate queries over every partnership (about 20 ms with 1,000),
    change slowly, and a coordinator's page is refreshed by filtering and paging, so
    each app process keeps them ``DASHBOARD_CACHE_SECONDS`` (``cached``). Only figures
    live here, never anything access depends on: the branch list (opt-in) and the matrix
    page are read anew on every request. The key holds the coordination organisation and
    the ``(id, version)`` of each of its regions: an opt-in, opt-out or deletion raises the
    version in its own transaction (organisations/models.py), so the next render in every
    process computes the figures anew, without the branch.
    """

    def compute() -> tuple[_Tally, list[Row], list[MonthCount], _Order]:
        rows = source.rows
        tally = _Tally.of(_groups(source))
        stalled_rows = [
            _to_row(r)
            for r in source.read(
                select(rows).where(_stalled(rows, cutoff)).order_by(rows.c.last_activity_at, rows.c.id)
                .limit(STALLED_LIST)
            )
        ]
        order = _Order.of((pid, library_id) for pid, library_id in
                          source.read(_ordered(select(rows.c.id, rows.c.library_id), rows)))
        return tally, stalled_rows, _months(org_id, scope), order

    return cached(("dashboard", org_id, scope.id if scope else None, days, versions), compute)


def regions_and_versions(org_id: int) -> tuple[list[str], tuple[tuple[int, int], ...]]:
    """The coordinator's region names, and the key part of ``cached``: (id, version) of each."""
    rows = _regions(org_id)
    return [name for name, _version in rows], tuple(version for _name, version in rows)


def overview(
    org_id: int, branches: list[Branch], filters: Filters, notices: list[str], scope: Branch | None = None
) -> Overview:
    """The dashboard (``scope`` None) or one branch's drill-down, in constant queries."""
    defn = definition()
    days, cutoff = stalled_cutoff()
    regions, versions = regions_and_versions(org_id)
    if not branches:
        empty = MatrixPage([], 0, 1)
        return Overview(regions, branches, scope, defn, days, [], 0, 0, 0, [], [], [], empty, filters, notices)
    source = _rows(org_id, cutoff, scope)
    tally, stalled_rows, months, order = _region_figures(org_id, scope, source, cutoff, days, versions)
    counts = _counts(tally, defn)
    summaries = _branch_summaries(tally, branches) if scope is None else []
    matrix, filters = _matrix(source, filters, tally, cutoff, order)
    return Overview(
        regions=regions,
        branches=branches,
        scope=scope,
        defn=defn,
        stalled_days=days,
        counts=counts,
        total=sum(c.count for c in counts),
        stalled_total=sum(c.stalled for c in counts),
        done_total=next((c.count for c in counts if c.step == DONE), 0),
        branch_summaries=summaries,
        stalled_rows=stalled_rows,
        months=months,
        matrix=matrix,
        filters=filters,
        notices=notices,
        versions=tuple(sorted(tally.per_version.items())),
    )


@dataclass
class Waiting:
    """What waits for a coordinator, for the start page: the stalled partnerships."""

    stalled_days: int
    stalled_total: int
    #: The longest-stalled first, at most ``STALLED_LIST``.
    stalled_rows: list[Row]


def waiting(org_id: int) -> Waiting:
    """The stalled partnerships of the coordinator's regions, from the dashboard's kept
    figures (``_region_figures``): the start page adds no aggregate over the region."""
    days, cutoff = stalled_cutoff()
    regions, versions = regions_and_versions(org_id)
    if not regions:
        return Waiting(days, 0, [])
    source = _rows(org_id, cutoff, None)
    tally, stalled_rows, _months, _order = _region_figures(org_id, None, source, cutoff, days, versions)
    return Waiting(days, sum(c.stalled for c in _counts(tally, definition())), stalled_rows)


def steps_per_branch(org_id: int, defn: PlanDefinition) -> list[BranchSteps]:
    """Per opted-in branch: its partnerships per current step, finished and stalled; one
    aggregate query (the dashboard's), whatever the number of partnerships."""
    _days, cutoff = stalled_cutoff()
    tally = _Tally.of(_groups(_rows(org_id, cutoff)))
    return [
        BranchSteps(
            name=branch.name,
            counts=tuple(tally.matching(branch.id, s.number, False) for s in defn.steps),
            done=tally.matching(branch.id, DONE, False),
            stalled=tally.matching(branch.id, None, True),
        )
        for branch in branches_of(org_id)
    ]


def record_export(user: Any, org: Organisation, fmt: str, rows: int, filters: Filters) -> None:
    """Exports are audited: who took which part of the region's overview out, in which format."""
    record("coordination.export", actor_id=user.id, organisation_id=org.id, format=fmt, rows=rows,
           filters=filters.args())
    db.session.flush()


def export_rows(org_id: int, filters: Filters) -> list[Row]:
    """Every row that matches the filters (no paging), statuses included: two queries."""
    _days, cutoff = stalled_cutoff()
    source = _rows(org_id, cutoff)
    rows = source.rows
    filtered = _filtered(rows, filters, cutoff)
    result = [_to_row(r) for r in source.read(_ordered(filtered, rows))]
    _attach_statuses(result, source, filtered.with_only_columns(rows.c.cycle_id))
    return result
