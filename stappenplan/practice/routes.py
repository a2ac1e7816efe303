"""Practice pages: the year after the plan, kept up by both organisations."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from .. import rls
from ..access import partnership_or_404, policy, practice_record_or_404
from ..core.templating import render, wants_partial
from ..core.web import int_arg, parse_int
from ..extensions import local_today
from ..i18n import gettext as _
from ..live import tickets
from ..workflow import services as workflow
from . import calendar, page, services
from .services import Outcome

bp = Blueprint("practice", __name__, url_prefix="/samenwerkingen/<partnership_id>/praktijk")


def _page(partnership, role: str, outcomes: dict[int, Outcome] | None = None, status: int = 200):
    view = page.build(partnership, role, outcomes)
    return render("practice/show.html", v=view, form=FlaskForm()), status


@bp.get("")
@policy("login")
def show(partnership_id: str):
    partnership, role = partnership_or_404(partnership_id)
    return _page(partnership, role)


@bp.post("/<record_id>")
@policy("partner")
def update(partnership_id: str, record_id: str):
    partnership, party, record = practice_record_or_404(partnership_id, record_id, party_only=True)
    if not FlaskForm().validate_on_submit():
        outcome = Outcome("invalid", record, message=_("Dit formulier is verlopen. Laad de pagina opnieuw."))
    else:
        base = {k[len("base_"):]: v for k, v in request.form.items() if k.startswith("base_")}
        outcome = services.update(record, current_user, party, request.form,
                                  parse_int(request.form.get("version"), 0, lo=0, hi=2**31) or 0, base or None)
    return _answer(partnership, party, outcome)


@bp.post("/notitie")
@policy("partner")
def note(partnership_id: str):
    """The round's note on all activities together (made on first save)."""
    partnership, party = partnership_or_404(partnership_id, party_only=True)
    record = services.round_note(partnership, workflow.current_cycle(partnership))
    if not FlaskForm().validate_on_submit():
        outcome = Outcome("invalid", record, message=_("Dit formulier is verlopen. Laad de pagina opnieuw."))
    else:
        base = {"note": request.form["base_note"]} if "base_note" in request.form else None
        outcome = services.update(record, current_user, party, request.form,
                                  parse_int(request.form.get("version"), 0, lo=0, hi=2**31) or 0, base)
    return _answer(partnership, party, outcome)


@bp.post("/nieuw")
@policy("partner")
def add(partnership_id: str):
    """An activity that was not in the plan."""
    partnership, party = partnership_or_404(partnership_id, party_only=True)
    if not FlaskForm().validate_on_submit():
        outcome = Outcome("invalid", message=_("Dit formulier is verlopen. Laad de pagina opnieuw."))
    else:
        outcome = services.add_activity(partnership, current_user, party, request.form)
    if wants_partial():
        if not outcome.ok:
            response = Response(render("practice/_add_form.html", v=page.build(partnership, party),
                                       form=FlaskForm(), added=outcome), status=422)
            response.headers["HX-Retarget"] = "#praktijk-toevoegen"
            response.headers["HX-Reswap"] = "outerHTML"
            return response
        view = page.build(partnership, party)
        return render("practice/_added.html", v=view, record=outcome.record, form=FlaskForm())
    if outcome.ok:
        flash(_("Activiteit toegevoegd: %(title)s.", title=outcome.record.title if outcome.record else ""), "success")
        return redirect(url_for("practice.show", partnership_id=partnership.public_id) + "#praktijk-activiteiten")
    view = page.build(partnership, party)
    return render("practice/show.html", v=view, form=FlaskForm(), added=outcome), 422


def _answer(partnership, party: str, outcome: Outcome):
    """The record's card again (htmx), or the page (a plain form post)."""
    record = outcome.record
    status = {"saved": 200, "unchanged": 200, "conflict": 409}.get(outcome.status, 422)
    if wants_partial() and record is not None:
        view = page.build(partnership, party, {record.id: outcome})
        return render("practice/_saved.html", v=view, record=record, outcome=outcome,
                               form=FlaskForm()), status
    if outcome.ok and record is not None:
        flash(_("Opgeslagen: %(title)s.", title=_label(record)), "success")
        anchor = f"#praktijk-{record.public_id}"
        return redirect(url_for("practice.show", partnership_id=partnership.public_id) + anchor)
    return _page(partnership, party, {record.id: outcome} if record is not None else None, status)


def _label(record) -> str:
    return record.title or _("wat jullie opvalt")


@bp.get("/<record_id>/geschiedenis")
@policy("login")
def history(partnership_id: str, record_id: str):
    partnership, role, record = practice_record_or_404(partnership_id, record_id)
    return render("practice/history.html", "practice/_history.html", partnership=partnership, record=record,
                  changes=services.history(record))


@bp.get("/live")
@policy("login")
def live_ticket(partnership_id: str):
    """A ticket for this practice page's stream (stappenplan/live), after the page's own
    access check: another organisation's partnership gives 404."""
    partnership, _role = partnership_or_404(partnership_id)
    ticket = tickets.Ticket(current_user.id, partnership.id, f"praktijk/{partnership_id}", False)
    response = jsonify(ticket=tickets.make_ticket(current_app.config["SECRET_KEY"], ticket))
    response.headers["Cache-Control"] = "no-store"
    return response


def live_url(partnership_id: str) -> str | None:
    """The practice page's stream (its ``data-live-url``), or None when push is off."""
    if not current_app.config.get("LIVE"):
        return None
    return f"{current_app.config['LIVE_URL']}/stream/praktijk/{partnership_id}"


bp.add_app_template_global(live_url, "practice_live_url")


@bp.get("/nieuws")
@policy("login")
def feed(partnership_id: str):
    """What changed since the page's sequence: 204 when nothing did (fetched when the page's
    stream announces news, polled every few seconds while it has none)."""
    partnership, role = partnership_or_404(partnership_id)
    since = int_arg("sinds", 0, lo=0, hi=2**31) or 0
    seq, changed = services.changed_since(partnership.id, since)
    if not changed:
        return Response(status=204)
    view = page.build(partnership, role)
    return render("practice/_feed.html", v=view, changed=changed, since=since, seq=seq,
                           form=FlaskForm(), me=current_user.id)


calendar_bp = Blueprint("calendar", __name__)
# The account page shows the person's calendar address (or offers to make one).
calendar_bp.add_app_template_global(calendar.address, "calendar_address_of")


@calendar_bp.get("/agenda/<token>.ics")
@policy("public")
def feed_ics(token: str):
    """A person's calendar: public, the secret address is the key (an old one: 404)."""
    user = calendar.owner(token)
    if user is None:
        abort(404)
    org = user.organisation
    rls.scope_to(org.id)
    body = calendar.render(calendar.items_for(org.id, local_today()), _("Stappenplan: %(org)s", org=org.name))
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = "inline; filename=stappenplan.ics"
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@calendar_bp.post("/account/agenda")
@policy("partner")
def renew():
    """A new secret calendar address (the first one, or one that replaces a leaked one)."""
    if FlaskForm().validate_on_submit():
        had = current_user.calendar_token is not None
        calendar.renew(current_user)
        flash(_("Je nieuwe agenda-adres staat klaar. Het oude werkt niet meer.") if had
              else _("Je agenda-adres staat klaar. Voeg het toe in je agenda."), "success")
    return redirect(url_for("accounts.account") + "#agenda")


@calendar_bp.post("/account/agenda/uit")
@policy("partner")
def stop():
    if FlaskForm().validate_on_submit():
        calendar.stop(current_user)
        flash(_("Je agenda-adres is uitgezet."), "success")
    return redirect(url_for("accounts.account") + "#agenda")
