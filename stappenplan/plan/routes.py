"""Plan document routes: the samenwerkingsplan as a page and as a PDF download."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from flask_login import current_user

from ..access import partnership_or_404, policy
from ..core.pdf import render_pdf
from ..core.templating import render
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
