"""Worksheet pages: render, autosave per field, tables, change feed, history, comments."""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, flash, jsonify, make_response, redirect, request, url_for
from flask_login import current_user

from ..access import (
    StepNotYetOpen,
    lazy_login,
    policy,
    require_login,
    reuse_or_404,
    session_identity,
    sheet_or_404,
    sheet_probe,
)
from ..core.errors import ServiceError
from ..core.logging import note_organisation
from ..core.templating import render, wants_partial
from ..core.web import int_arg, parse_int
from ..extensions import csrf, htmx
from ..i18n import gettext as _
from ..i18n import ngettext
from ..live import tickets
from ..rls import system_write
from ..security import autosave_limit
from ..workflow.definition import Question
from ..workflow.engine import PARTIES
from . import comments as comment_service
from . import feed, fields, history, reuse, services
from . import sheet_view as views
from .services import SaveOutcome, Sheet
from .tables import TableOp

bp = Blueprint("worksheets", __name__, url_prefix="/samenwerkingen/<partnership_id>/stap/<int:step>/<slot>")
# What the stream service tells the app (stappenplan/live): who has a worksheet open.
live_bp = Blueprint("live", __name__, url_prefix="/intern")


def _sheet(partnership_id: str, step: int, slot: str, *, write: bool = False) -> Sheet:
    """``write``: the request saves an answer, so lock the cycle now (see sheet_or_404)."""
    return sheet_or_404(partnership_id, step, slot, lock=write)


def _page(sheet: Sheet, outcomes: dict[str, SaveOutcome] | None = None, status: int = 200):
    view = views.build(sheet, current_user, whole_page=True)
    return render("worksheets/show.html", v=view, outcomes=outcomes or {},
                  client_messages=views.client_messages(), focus_reuse=request.args.get("overgenomen") == "1"), status


@bp.get("")
@policy("login")
def show(partnership_id: str, step: int, slot: str):
    try:
        sheet = _sheet(partnership_id, step, slot)
    except StepNotYetOpen as closed:
        if wants_partial():
            raise  # a part of a page that is not there: 404
        return render("worksheets/not_open.html", closed=closed)
    if sheet.party:
        feed.touch(sheet, current_user, None)
    return _page(sheet)


@bp.post("")
@policy("partner")
def save_all(partnership_id: str, step: int, slot: str):
    """The whole worksheet as one ordinary form post (works without JavaScript)."""
    sheet = _sheet(partnership_id, step, slot, write=True)
    if not sheet.editable:
        abort(404)
    outcomes: dict[str, SaveOutcome] = {}
    goal_ids = [g["id"] for g in views.shared_goals(sheet)]
    current = services.answers_for(sheet.instance)
    for question in sheet.questions():
        base = _int(request.form.get(fields.version_name(question.key)))
        if question.type in ("table", "records"):
            answer = current.get(question.key)
            ops = fields.table_ops(question, request.form, answer.value if answer else None)
            if ops:
                outcomes[question.key] = services.save_table(sheet, current_user, question.key, ops, base)
            continue
        present, raw = fields.read_value(question, request.form, goal_ids)
        if present:
            outcome = services.save(sheet, current_user, question.key, raw, base)
            if outcome.status != "unchanged":
                outcomes[question.key] = outcome
    problems = {k: o for k, o in outcomes.items() if not o.ok}
    if problems:
        return _page(sheet, outcomes, 409 if any(o.status == "conflict" for o in problems.values()) else 422)
    saved = sum(1 for o in outcomes.values() if o.status == "saved")
    message = (ngettext("Opgeslagen: %(num)d antwoord gewijzigd.", "Opgeslagen: %(num)d antwoorden gewijzigd.", saved)
               if saved else _("Er was niets gewijzigd."))
    flash(message, "success")
    return redirect(url_for("worksheets.show", partnership_id=partnership_id, step=step, slot=slot))


@bp.get("/overnemen")
@policy("partner")
def reuse_preview(partnership_id: str, step: int, slot: str):
    """What starting from another partnership's answers of this step would copy (no script needed)."""
    sheet, source = reuse_or_404(partnership_id, step, slot, request.args.get("van", ""))
    if source is None:
        return _to_reuse_panel(partnership_id, step, slot)
    return render("worksheets/reuse.html", s=sheet, source=source, rows=reuse.preview(sheet, source),
                  slug=slot)


@bp.post("/overnemen")
@policy("partner")
def reuse_copy(partnership_id: str, step: int, slot: str):
    """Copy them as this organisation's own answers, through the one write path."""
    sheet, source = reuse_or_404(partnership_id, step, slot, request.form.get("van", ""), lock=True)
    if source is None:
        return _to_reuse_panel(partnership_id, step, slot)
    try:
        changed = reuse.copy(sheet, current_user, source)
    except ServiceError as refused:
        flash(refused.message, "error")
    else:
        flash(ngettext("%(num)d antwoord overgenomen uit de samenwerking met %(partner)s.",
                       "%(num)d antwoorden overgenomen uit de samenwerking met %(partner)s.", changed,
                       partner=source.partner), "success")
    return redirect(url_for("worksheets.show", partnership_id=partnership_id, step=step, slot=slot,
                            overgenomen=1, _anchor="overgenomen"))


def _to_reuse_panel(partnership_id: str, step: int, slot: str) -> Any:
    """No partnership chosen: back to the worksheet, where the choice is."""
    return redirect(url_for("worksheets.show", partnership_id=partnership_id, step=step, slot=slot,
                            _anchor="hergebruik"))


def _int(raw: str | None) -> int:
    """A version number from a form: 0 when missing or not a number."""
    return parse_int(raw, 0, lo=0, hi=2**62) or 0


def _question_or_404(sheet: Sheet, key: str) -> Question:
    question = sheet.question(key)
    if question is None:
        abort(404)
    return question


@bp.post("/vraag/<key>")
@policy("partner")
@autosave_limit()
def save_field(partnership_id: str, step: int, slot: str, key: str):
    """Autosave one answer; 409 with the conflict view when it was based on an old version."""
    sheet = _sheet(partnership_id, step, slot, write=True)
    question = _question_or_404(sheet, key)
    goal_ids = [g["id"] for g in views.shared_goals(sheet)] if question.type == "goal_progress" else None
    _present, raw = fields.read_value(question, request.form, goal_ids)
    merging = bool(request.form.get("merge")) and question.type in ("text", "line")
    if merging:
        raw = request.form.get(f"merge-{key}", "")
    base = request.form.get("base") or request.form.get(fields.version_name(key))
    sent, start = fields.read_base(question, request.form, goal_ids)
    started_from = start if sent and not merging else services.NO_BASE
    outcome = services.save(sheet, current_user, key, raw, _int(base), started_from)
    if merging and outcome.ok:
        # The merged text must replace what is in the field: the user asked for it.
        return _field_area(sheet, question, message=_("De samengevoegde versie is opgeslagen."))
    return _field_response(sheet, question, outcome)


@bp.post("/vraag/<key>/tabel")
@policy("partner")
@autosave_limit()
def table_op(partnership_id: str, step: int, slot: str, key: str):
    """One table operation: edit a cell, add, delete or move a row."""
    sheet = _sheet(partnership_id, step, slot, write=True)
    question = _question_or_404(sheet, key)
    if question.type not in ("table", "records"):
        abort(404)
    op = request.form.get("op", "")
    row_id = (request.form.get("row") or "")[:40]
    base = _int(request.form.get(fields.version_name(key)))
    column = request.form.get("col")
    if op == "edit":
        if not row_id or column not in {c.key for c in question.columns}:
            return _invalid(question, _("Deze cel bestaat niet."))
        seen = request.form.get("force_old") if "force_old" in request.form else \
            request.form.get(fields.orig_name(key, row_id, column))
        ops = [TableOp("edit", row_id, column=column,
                       value=fields.read_cell(question, request.form, row_id, column),
                       old=fields.decode(seen))]
    elif op == "add":
        ops = [TableOp("add", fields.new_row_id(), cells={})]
    elif op == "delete" and row_id:
        old = {c.key: fields.decode(request.form.get(fields.orig_name(key, row_id, c.key)))
               for c in question.columns}
        ops = [TableOp("delete", row_id, old_cells={k: v for k, v in old.items() if v not in (None, "", [])})]
    elif op in ("up", "down") and row_id:
        ops = [TableOp("move", row_id, offset=-1 if op == "up" else 1)]
    else:
        return _invalid(question, _("Deze actie bestaat niet."))
    outcome = services.save_table(sheet, current_user, key, ops, base)
    if op == "edit" and column is not None:
        return _field_response(sheet, question, outcome, cell=(row_id, column))
    if outcome.ok:
        return _field_area(sheet, question, message=_row_message(op, question))
    return _field_response(sheet, question, outcome)


@bp.post("/vraag/<key>/suggestie")
@policy("partner")
@autosave_limit()
def add_suggestion(partnership_id: str, step: int, slot: str, key: str):
    """Add one of the suggested actions as a row (a small form of its own: works without JavaScript)."""
    sheet = _sheet(partnership_id, step, slot, write=True)
    question = _question_or_404(sheet, key)
    if question.suggestions is None:
        abort(404)
    suggestion_key = (request.form.get("suggestion") or "")[:60]
    outcome = services.add_suggestion(sheet, current_user, key, suggestion_key)
    suggestion = question.suggestions.get(suggestion_key)
    if outcome.status == "saved":
        message = _("Toegevoegd aan het actieschema. Je kunt de actie daar aanpassen.")
    elif outcome.status == "unchanged":
        message = _("Deze actie staat al in het actieschema.")
    else:
        message = outcome.message or _("Niet opgeslagen.")
    if not wants_partial():
        flash(message, "success" if outcome.ok else "error")
        return redirect(url_for("worksheets.show", partnership_id=partnership_id, step=step, slot=slot)
                        + f"#vraag-{key}")
    if not outcome.ok or suggestion is None:
        return _invalid(question, message)
    view = views.build(sheet, current_user)
    return render("worksheets/_suggestion_added.html", v=view, q=question, s=suggestion, message=message)


def _row_message(op: str, question: Question) -> str:
    if question.type == "records":  # step 5: each row is a conversation
        return {"add": _("Gesprek toegevoegd."), "delete": _("Gesprek verwijderd."), "up": _("Gesprek verplaatst."),
                "down": _("Gesprek verplaatst.")}[op]
    return {"add": _("Rij toegevoegd."), "delete": _("Rij verwijderd."), "up": _("Rij verplaatst."),
            "down": _("Rij verplaatst.")}[op]


def _invalid(question: Question, message: str) -> tuple[str, int]:
    return render("worksheets/_status.html", q=question,
                           outcome=SaveOutcome("invalid", question=question, message=message)), 422


def _field_response(sheet: Sheet, question: Question, outcome: SaveOutcome,
                    cell: tuple[str, str] | None = None):
    """Status for the field (never the input itself), plus out-of-band version updates."""
    if outcome.status == "conflict":
        view = views.build(sheet, current_user)
        response = make_response(render("worksheets/_conflict.html", v=view, q=question,
                                                 outcome=outcome, cell=cell), 409)
        response.headers["HX-Retarget"] = f"#conflict-{question.key}"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    code = {"saved": 200, "unchanged": 200, "invalid": 422, "refused": 409}[outcome.status]
    if not wants_partial():
        if outcome.ok:
            flash(_("Opgeslagen."), "success")
        else:
            flash(outcome.message or _("Niet opgeslagen."), "error")
        slot = (request.view_args or {})["slot"]
        return redirect(url_for("worksheets.show", partnership_id=sheet.partnership.public_id,
                                step=sheet.step.number, slot=slot) + f"#vraag-{question.key}")
    merged_pairs = merged_by = None
    if outcome.merged:
        # The field must show the combined answer: the script puts these values in place.
        goal_ids = [g["id"] for g in views.shared_goals(sheet)] if question.type == "goal_progress" else None
        merged_pairs = fields.form_pairs(question, outcome.value, goal_ids)
        merged_by = history.last_other_editor(sheet, question, current_user)
    return render("worksheets/_status.html", q=question, outcome=outcome, cell=cell,
                           merged_pairs=merged_pairs, merged_by=merged_by), code


def _field_area(sheet: Sheet, question: Question, message: str | None = None):
    view = views.build(sheet, current_user)
    return render("worksheets/_field_area.html", v=view, q=question,
                           message=message or (_("Dit is de huidige versie.") if htmx else None))


@bp.get("/vraag/<key>/veld")
@policy("login")
def field_area(partnership_id: str, step: int, slot: str, key: str):
    """The current value of one question (to take over someone else's version)."""
    sheet = _sheet(partnership_id, step, slot)
    return _field_area(sheet, _question_or_404(sheet, key))


@bp.get("/wijzigingen")
@policy("login")
@lazy_login
def changes(partnership_id: str, step: int, slot: str):
    """Fetched when the worksheet's live stream announces news (stappenplan/live), and
    polled every 1-3 s while the tab is visible and has no stream: 204 (or 304 on If-None-Match) when
    nothing changed. That answer comes from one statement (``sheet_probe``, which also
    checks the session, so the user is not loaded first), plus one to renew the poller's
    presence every PRESENCE_REFRESH; anything else - news, someone entering another field,
    a refused check - goes the full way, with the user loaded and checked as anywhere."""
    editing = (request.args.get("editing") or "")[:60] or None
    seq = int_arg("seq", 0, lo=0, hi=2**62) or 0
    status = request.args.get("status")
    seen = Seen(seq, request.args.get("signed") or "", request.args.get("presence"))
    quiet = _quiet_without_loading(partnership_id, step, slot, editing, status, seen)
    if quiet is not None:
        return quiet
    refused = require_login()
    if refused is not None:
        return refused
    return _news(_sheet(partnership_id, step, slot), editing, status, seen)


@bp.get("/live")
@policy("login")
def live_ticket(partnership_id: str, step: int, slot: str):
    """A ticket for this worksheet's stream (stappenplan/live): asked by the page on every
    (re)connect, so the access rules, the session and the membership are checked here at
    least once per stream. Another tenant's worksheet: 404, as everywhere. (With LIVE off
    no page asks for one; a ticket alone opens nothing.)"""
    sheet = _sheet(partnership_id, step, slot)
    if sheet.party:  # here (again), in the field the page says (a reconnect keeps it)
        feed.touch(sheet, current_user, (request.args.get("editing") or "")[:60] or None)
    ticket = tickets.Ticket(current_user.id, sheet.instance.id, f"{partnership_id}/{step}/{slot}", bool(sheet.party))
    response = jsonify(ticket=tickets.make_ticket(current_app.config["SECRET_KEY"], ticket))
    response.headers["Cache-Control"] = "no-store"
    return response


@live_bp.post("/aanwezigheid")
@policy("public")
@csrf.exempt
def live_presence():
    """The stream service's report (signed with SECRET_KEY, at most a minute old): these
    people still have a stream open (their presence is renewed), these closed theirs."""
    body = request.get_data(cache=False)
    if not tickets.body_signed(current_app.config["SECRET_KEY"], body, request.headers.get("X-Live-Signature", "")):
        abort(403)
    try:
        report = json.loads(body)
        here = [(int(i), int(u)) for i, u in report.get("here", [])]
        left = [(int(i), int(u)) for i, u in report.get("left", [])]
        fresh = abs(time.time() - float(report["at"])) < 60
    except (ValueError, TypeError, KeyError, AttributeError):
        abort(400)
    if not fresh:
        abort(403)
    with system_write():
        feed.keep_present(here)
        feed.forget(left)
    return Response(status=204)


def _quiet_without_loading(partnership_id: str, step: int, slot: str, editing: str | None, status: str | None,
                           seen: Seen) -> Response | None:
    """The idle answer from one statement (``sheet_probe``), or None: go the full way."""
    identity = session_identity()
    user_id = identity.user_id if identity is not None else current_user.id
    probe = sheet_probe(partnership_id, step, slot, feed.with_presence, feed.presence_params(user_id),
                        identity=identity)
    if probe is None or (status and status != probe.status):
        return None
    presence = feed.quiet_signature(probe.rows, user_id, editing, probe.role in PARTIES)
    if presence is None:
        return None
    sig, stale = presence
    quiet = _quiet(probe.status, Seen(probe.content_version, feed.signed_token(probe.signed), sig), seen)
    if quiet is not None:
        if stale:
            feed.refresh(probe.instance_id, user_id)
        if identity is not None:
            note_organisation(identity.org_public_id)
    return quiet


def _news(sheet: Sheet, editing: str | None, status: str | None, seen: Seen) -> Response:
    """The full way, the user loaded: presence renewed, then 204/304, a reload when the
    step's status changed, or the changed answers, approvals and presence."""
    if sheet.party:
        feed.touch(sheet, current_user, editing)
    present = feed.others(sheet, current_user)
    sig = feed.signature(present)
    if status and status != sheet.instance.status:
        response = Response(status=200)
        response.headers["HX-Refresh"] = "true"
        return response
    signed = feed.signed_token(s.party for s in sheet.instance.signoffs)
    now = Seen(sheet.instance.content_version, signed, sig)
    quiet = _quiet(sheet.instance.status, now, seen)
    if quiet is not None:
        return quiet
    seq = seen.seq
    changed = feed.changed_since(sheet, seq) if sheet.instance.content_version != seq else []
    view = views.build(sheet, current_user)
    # The viewer's own save of the field they are typing in is not news to them.
    keys = [a.question for a in changed if sheet.question(a.question)
            and not (a.question == editing and a.updated_by_id == current_user.id)]
    # A partner's approval (or its withdrawal) changes no answer, but the bar's buttons and
    # notes and the warning above the questions: those are sent again.
    approvals = signed != seen.signed
    response = make_response(render("worksheets/_feed.html", v=view, keys=keys, editing=editing,
                                             changed={a.question: a for a in changed},
                                             refresh_bar=bool(changed) or approvals, approvals=approvals,
                                             content_changed=sheet.instance.content_version != seq))
    response.set_etag(feed.etag(sheet.instance.status, *now))
    return response


class Seen(NamedTuple):
    """What the polling page last heard: the content's sequence number, who had approved
    the step, and the presence signature."""

    seq: int
    signed: str
    presence: str | None


def _quiet(status: str, now: Seen, seen: Seen) -> Response | None:
    """Nothing new for this poller: 304 when it sent the current tag, 204 when what it
    last heard is current; None when there is news."""
    tag = feed.etag(status, *now)
    if request.if_none_match.contains_weak(tag):
        response = Response(status=304)
    elif now == seen:
        response = Response(status=204)
    else:
        return None
    response.set_etag(tag)
    return response


@bp.get("/vraag/<key>/geschiedenis")
@policy("login")
def question_history(partnership_id: str, step: int, slot: str, key: str):
    sheet = _sheet(partnership_id, step, slot)
    # A question the round's former plan version asked keeps its history (read-only).
    retired = next(iter(sheet.old_questions([key])), None) if sheet.question(key) is None else None
    question = retired or _question_or_404(sheet, key)
    view = views.build(sheet, current_user)
    entries = history.entries(sheet, question, view.goal_labels)
    # The panel under the question (htmx) and the page of its own (no script) are two
    # shapes of one list (_history_list.html), not a page and its part.
    panel = "worksheets/_history.html" if wants_partial() else "worksheets/history.html"
    return render(panel, v=view, q=question, entries=entries, retired=retired is not None)


@bp.post("/vraag/<key>/herstellen")
@policy("partner")
def restore(partnership_id: str, step: int, slot: str, key: str):
    sheet = _sheet(partnership_id, step, slot, write=True)
    question = _question_or_404(sheet, key)
    outcome = services.restore(sheet, current_user, key, _int(request.form.get("revision")))
    if wants_partial():
        if outcome.ok:
            return _field_area(sheet, question, message=_("De eerdere versie is teruggezet."))
        return _field_response(sheet, question, outcome)
    if outcome.ok:
        flash(_("De eerdere versie is teruggezet."), "success")
    else:
        flash(outcome.message or _("Terugzetten lukte niet."), "error")
    return redirect(url_for("worksheets.show", partnership_id=partnership_id, step=step, slot=slot)
                    + f"#vraag-{question.key}")


@bp.route("/vraag/<key>/opmerkingen", methods=["GET", "POST"])
@policy("login")
def thread(partnership_id: str, step: int, slot: str, key: str):
    sheet = _sheet(partnership_id, step, slot)
    question = _question_or_404(sheet, key)
    error = None
    if request.method == "POST":
        if sheet.party is None:
            abort(404)
        try:
            comment_service.add_comment(sheet, current_user, key, request.form.get("body", ""),
                                        request.form.getlist("mentions"))
        except ServiceError as exc:
            error = exc.message
        else:
            if not wants_partial():
                flash(_("Je opmerking is geplaatst."), "success")
                return redirect(url_for("worksheets.show", partnership_id=partnership_id, step=step,
                                        slot=slot) + f"#vraag-{key}")
    if request.method != "POST":
        return _thread(sheet, question)
    if error:  # the comment stays typed, its mentions ticked
        return _thread(sheet, question, error, request.form.get("body", ""), request.form.getlist("mentions"),
                       posted=True)
    return _thread(sheet, question, posted=True, said=_("Je opmerking is geplaatst."))


@bp.post("/vraag/<key>/opmerkingen/status")
@policy("partner")
def thread_status(partnership_id: str, step: int, slot: str, key: str):
    sheet = _sheet(partnership_id, step, slot)
    question = _question_or_404(sheet, key)
    error = None
    try:
        comment_service.set_resolved(sheet, current_user, key, request.form.get("resolved") == "1")
    except ServiceError as exc:
        error = exc.message
    if not wants_partial():
        if error:
            flash(error, "error")
        return redirect(url_for("worksheets.show", partnership_id=partnership_id, step=step, slot=slot)
                        + f"#vraag-{key}")
    # A comment being written meanwhile (not posted yet) is sent along and stays typed.
    return _thread(sheet, question, error, request.form.get("body", ""), request.form.getlist("mentions"))


def _thread(sheet: Sheet, question: Question, error: str | None = None, body: str = "",
            mentioned: list[str] | None = None, posted: bool = False, said: str = ""):
    """The thread of a question. ``posted``: the answer to "Plaatsen", which puts the focus
    back in the comment box (the button it came from is gone); ``said``: what the status
    line under the thread says."""
    thread_ = comment_service.thread_for(sheet, question.key)
    view = views.build(sheet, current_user)
    status = 422 if error else 200
    # The thread under the question (htmx) or a page of its own (no script): two shapes.
    panel = "worksheets/_thread.html" if wants_partial() else "worksheets/thread.html"
    return render(panel, v=view, q=question, thread=thread_,
                  error=error, body=body, mentioned=mentioned or [], posted=posted, said=said,
                           people=comment_service.mentionable(sheet)), status


_KEY = "__key__"


@bp.app_template_global()
def live_url(view: views.SheetView) -> str | None:
    """The worksheet's stream (the page's ``data-live-url``), or None when push is off."""
    if not current_app.config.get("LIVE"):
        return None
    s = view.sheet
    return f"{current_app.config['LIVE_URL']}/stream/{s.partnership.public_id}/{s.step.number}/{view.slug}"


@bp.app_template_global()
def sheet_url(view: views.SheetView, endpoint: str = "show", key: str | None = None) -> str:
    """A URL of this worksheet. A page needs ~40 of them that differ only in the
    question key: each endpoint is built once per page with a placeholder key."""
    s = view.sheet
    pattern = view.urls.get((endpoint, key is not None))
    if pattern is None:
        values: dict[str, Any] = {"key": _KEY} if key is not None else {}
        pattern = url_for(f"worksheets.{endpoint}", partnership_id=s.partnership.public_id, step=s.step.number,
                          slot=view.slug, **values)
        view.urls[(endpoint, key is not None)] = pattern
    return pattern.replace(_KEY, quote(key, safe="")) if key is not None else pattern

