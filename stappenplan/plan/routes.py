"""Plan document routes: the samenwerkingsplan as a page and as a PDF download, and the
page that moves a partnership to a newer plan version."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse

from ..access import partnership_or_404, policy
from ..core.pdf import render_pdf
from ..core.templating import render
from ..i18n import gettext as _
from ..workflow import upgrading
from . import services

bp = Blueprint("plan", __name__)


def _document(partnership_id: str) -> services.PlanDocument:
    """Load (404 outside the user's reach), then build the document for the viewer's role."""
    partnership, role = partnership_or_404(partnership_id)
    return services.build(partnership, role, request.args.get("ronde"))


@bp.get("/samenwerkingen/<partnership_id>/plan")
@policy("login")
def show(partnership_id: str) -> str:
    return render("plan/plan.html", doc=_document(partnership_id))


@bp.get("/samenwerkingen/<partnership_id>/plan.pdf")
@policy("login")
def pdf(partnership_id: str) -> Response:
    doc = _document(partnership_id)
    data = render_pdf(render("plan/pdf.html", doc=doc), current_app.static_folder or "")
    services.record_export(doc, current_user)
    filename = services.pdf_filename(doc)
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/samenwerkingen/<partnership_id>/planversie")
@policy("partner")
def upgrade(partnership_id: str) -> str:
    """What a newer plan version changes (before the move) or changed (after it)."""
    partnership, role = partnership_or_404(partnership_id, party_only=True)
    page = services.upgrade_page(partnership, role)
    return render("plan/upgrade.html", view=page, form=FlaskForm(),
                  may_upgrade=role == "library" and current_user.membership.role == "admin")


@bp.post("/samenwerkingen/<partnership_id>/planversie")
@policy("library", "admin")
def upgrade_now(partnership_id: str) -> WerkzeugResponse:
    """The library admin moves the partnership's current round to the newest version."""
    partnership, role = partnership_or_404(partnership_id, party_only=True)
    if role != "library":
        abort(404)
    report = upgrading.upgrade(partnership, current_user)
    if report is None:
        flash(_("Deze samenwerking werkt al met de nieuwste versie van het stappenplan."), "info")
    else:
        flash(_("Het plan is bijgewerkt naar versie %(n)d. Alle antwoorden zijn bewaard; %(partner)s krijgt "
                "bericht.", n=report.to_version, partner=partnership.childcare.name), "success")
    return redirect(url_for("partnerships.show", partnership_id=partnership.public_id))
