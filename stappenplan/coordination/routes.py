"""Coordinator dashboard routes: the region overview, a branch's drill-down, exports."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import to_user_timezone
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.utils import secure_filename

from ..access import coordinated_partnership_or_404, current_org, policy, region_request_or_404
from ..core.errors import ServiceError, attach
from ..core.pdf import render_pdf
from ..core.templating import fragment, render
from ..core.web import int_arg, safe_next, text_arg
from ..extensions import utcnow
from ..i18n import gettext as _
from ..organisations import services as regions
from . import charts, exports, reminders, services, themes
from . import outcomes as outcome_service
from . import report as report_service
from .forms import ReminderForm

bp = Blueprint("coordination", __name__, url_prefix="/regio")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page(template: str, overview: services.Overview, base_url: str) -> str:
    """The whole page, or only the matrix for an htmx filter/paging request (see render)."""
    return render(
        template,
        "coordination/_matrix.html",
        base_url=base_url,
        ov=overview,
        org=current_org(),
        now=utcnow(),
        done=services.DONE,
        # The key figures and charts change only with the (cached) figures.
        figures=lambda: fragment(
            "coordination/_figures.html", counts=tuple(overview.counts), months=tuple(overview.months),
            total=overview.total, joint_total=overview.joint_total, done_total=overview.done_total,
            stalled_total=overview.stalled_total, stalled_days=overview.stalled_days,
            months_total=overview.months_total, matrix_url=base_url, done=services.DONE,
            charts_for=charts.charts_for, versions=overview.versions),
        # Read live (the figures are cached): a reminder shows in the stalled list at once.
        reminded=reminders.last_reminders([(r.public_id, r.last_activity_at) for r in overview.stalled_rows]),
        pending_requests=regions.pending_count(current_org().id),
        # A region may have hundreds of branches; their rows change only with the figures.
        branch_rows=lambda: fragment(
            "coordination/_branch_rows.html", summaries=tuple(overview.branch_summaries),
            multi_region=len(overview.regions) > 1,
            # One url_for for all rows (public ids are URL-safe).
            branch_url=url_for("coordination.branch", branch_id="BRANCH")),
        branch_options=lambda: _branch_options(overview),
        # The page's 50 rows are read live; their HTML is rendered once per distinct rows.
        matrix_rows=lambda: fragment(
            "coordination/_matrix_rows.html", lines=services.lines(overview.matrix.rows, overview.defn),
            partnership_url=url_for("partnerships.show", partnership_id="PARTNERSHIP")),
    )


def _branch_options(overview: services.Overview) -> Markup:
    """The branch filter's options (hundreds in a large region): one fragment per branch
    list, the chosen branch marked in it, so choosing a branch adds no cache entry."""
    html = fragment("coordination/_branch_options.html", branches=tuple(overview.branches))
    chosen = overview.filters.branch
    if chosen is None:
        return html
    # Public ids are URL-safe (letters, digits, - and _): the same in HTML as in Python.
    # str(): Markup.replace would escape its arguments and never match.
    option = f'<option value="{chosen.public_id}">'
    return Markup(str(html).replace(option, f'<option value="{chosen.public_id}" selected>', 1))


@bp.get("")
@policy("coordination")
def dashboard():
    org = current_org()
    branches = services.branches_of(org.id)
    filters, notices = services.parse_filters(request.args, branches, services.definition())
    overview = services.overview(org.id, branches, filters, notices)
    return _page("coordination/dashboard.html", overview, base_url=url_for("coordination.dashboard"))


@bp.get("/vestiging/<branch_id>")
@policy("login")
def branch(branch_id: str):
    """One branch's partnerships. Coordinators only; the branch's own library users
    are sent to their start page (their own overview), everyone else gets a 404."""
    org = current_org()
    if org.kind != "coordination":
        if org.kind == "library" and org.public_id == branch_id:
            return redirect(url_for("home.home"))
        abort(404)
    branches = services.branches_of(org.id)
    scope = services.find_branch(branches, branch_id)
    if scope is None:
        abort(404)
    filters, notices = services.parse_filters(request.args, branches, services.definition(), fixed=scope)
    overview = services.overview(org.id, branches, filters, notices, scope=scope)
    return _page(
        "coordination/branch.html", overview, base_url=url_for("coordination.branch", branch_id=scope.public_id)
    )


@bp.get("/export.csv")
@policy("coordination")
def export_csv():
    return _export("csv")


@bp.get("/export.xlsx")
@policy("coordination")
def export_xlsx():
    return _export("xlsx")


def _export(fmt: str) -> Response:
    """The filtered matrix (all pages) as a download; the export is audited."""
    org = current_org()
    branches = services.branches_of(org.id)
    defn = services.definition()
    filters, _notices = services.parse_filters(request.args, branches, defn)
    rows = services.export_rows(org.id, filters)
    head, body = exports.table(defn, rows)
    services.record_export(current_user, org, fmt, len(rows), filters)
    name = "regio-overzicht"
    if filters.branch:
        name += "-" + (secure_filename(filters.branch.name).lower() or "vestiging")
    name += f"-{utcnow():%Y-%m-%d}.{fmt}"
    if fmt == "csv":
        data, mimetype = exports.to_csv(head, body), "text/csv"  # Flask adds "; charset=utf-8"
    else:
        data, mimetype = exports.to_xlsx(head, body, _("Voortgang")), XLSX_MIMETYPE
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/samenwerking/<partnership_id>/opvolgen", methods=["GET", "POST"])
@policy("coordination")
def follow_up(partnership_id: str):
    """A stalled partnership: who to contact, and a reminder to both organisations."""
    partnership = coordinated_partnership_or_404(partnership_id)
    form = ReminderForm()
    status = 200
    if form.validate_on_submit():
        try:
            reminders.send(current_user, partnership, form.message.data or "", again=bool(form.again.data))
        except ServiceError as error:
            attach(form, error)
        else:
            flash(_("De herinnering is gestuurd naar de beheerders van %(library)s en %(childcare)s.",
                    library=partnership.library.name, childcare=partnership.childcare.name), "success")
            return redirect(url_for("coordination.follow_up", partnership_id=partnership.public_id))
    if form.errors:
        status = 422
    _days, cutoff = services.stalled_cutoff()
    facts = services.partnership_facts(current_org().id, partnership.id, cutoff)
    sent = reminders.history(partnership)
    return render("coordination/follow_up.html", partnership=partnership, form=form, facts=facts,
                           contacts=reminders.contacts(partnership), sent=sent, recent=reminders.recent(sent),
                           follow_up_days=reminders.follow_up_days(), now=utcnow()), status


@bp.get("/aanvragen")
@policy("coordination")
def requests():
    """Branches that asked to join one of the coordinator's regions, and recent decisions."""
    org = current_org()
    return render("coordination/requests.html", org=org, pending=regions.pending_requests(org.id),
                           decided=regions.recent_decisions(org.id), form=FlaskForm())


@bp.post("/aanvragen/<request_id>/aannemen")
@policy("coordination")
def accept_request(request_id: str):
    return _decide(request_id, accept=True)


@bp.post("/aanvragen/<request_id>/afwijzen")
@policy("coordination")
def decline_request(request_id: str):
    return _decide(request_id, accept=False)


def _decide(request_id: str, *, accept: bool) -> ResponseReturnValue:
    region_request = region_request_or_404(request_id)
    if FlaskForm().validate_on_submit():
        try:
            regions.decide_request(current_user, region_request, accept=accept)
        except ServiceError as error:
            flash(error.message, "error")
        else:
            name, region = region_request.library.name, region_request.region.name
            flash(_("%(branch)s doet nu mee in %(region)s.", branch=name, region=region) if accept else
                  _("De aanvraag van %(branch)s voor %(region)s is afgewezen.", branch=name, region=region),
                  "success")
    return redirect(safe_next(url_for("coordination.requests")))


@bp.get("/resultaten")
@policy("coordination")
def outcomes():
    """What happened in the region in a year: activities, families reached, goal scores."""
    org = current_org()
    branches = services.branches_of(org.id)
    today = to_user_timezone(utcnow()).date()
    year = int_arg("jaar", today.year, lo=2000, hi=today.year + 1) or today.year
    raw_branch = text_arg("vestiging", 40)
    branch = services.find_branch(branches, raw_branch) if raw_branch else None
    figures = outcome_service.compute(org.id, year, today, branch.id if branch else None)
    region_themes = themes.region_themes(org.id, services.definition(), branch.id if branch else None)
    minimum = region_themes.minimum if region_themes else themes.minimum()
    practice_branches, practice_partnerships = outcome_service.practice_rows(org.id, year, today,
                                                                             branch.id if branch else None)
    return render("coordination/outcomes.html", org=org, o=figures, branches=branches, branch=branch,
                           themes=region_themes, unknown_branch=bool(raw_branch) and branch is None,
                           how=report_service.how_counted(minimum), practice_branches=practice_branches,
                           practice_partnerships=practice_partnerships)


def _report(*, everything: bool = False) -> report_service.Report:
    """``everything``: list every partnership (the XLSX); the page and the PDF list them only
    up to REPORT_LIST_LIMIT."""
    org = current_org()
    today = to_user_timezone(utcnow()).date()
    year = int_arg("jaar", today.year, lo=2000, hi=today.year + 1) or today.year
    limit = None if everything else current_app.config.get("REPORT_LIST_LIMIT", 200)
    return report_service.build(org.id, org.name, year, today, utcnow(), limit)


def _report_filename(r: report_service.Report, extension: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", secure_filename(f"{'-'.join(r.regions) or r.organisation}").lower()).strip("-")
    return f"jaarverslag-{slug or 'regio'}-{r.year}.{extension}"


@bp.get("/jaarverslag")
@policy("coordination")
def report():
    """The yearly region report, printable; the same as PDF and XLSX."""
    r = _report()
    return render("coordination/report.html", r=r)


@bp.get("/jaarverslag.pdf")
@policy("coordination")
def report_pdf() -> Response:
    r = _report()
    html = render("coordination/report_pdf.html", r=r)
    data = render_pdf(html, current_app.static_folder or "")
    report_service.record_export(current_user, current_org(), r.year, "pdf")
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{_report_filename(r, "pdf")}"'})


@bp.get("/jaarverslag.xlsx")
@policy("coordination")
def report_xlsx() -> Response:
    r = _report(everything=True)
    report_service.record_export(current_user, current_org(), r.year, "xlsx")
    return Response(report_service.to_xlsx(r), mimetype=XLSX_MIMETYPE,
                    headers={"Content-Disposition": f'attachment; filename="{_report_filename(r, "xlsx")}"'})
