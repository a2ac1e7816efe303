"""Partnership invitations, accepting them, and the partnership page."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_user
from flask_wtf import FlaskForm

from ..access import current_org, invitation_or_404, partnership_or_404, policy, received_invitation_or_404
from ..accounts.forms import AccountForm, NewOrganisationAccountForm
from ..activity import describe
from ..core.errors import ServiceError, attach
from ..core.templating import render, wants_partial
from ..core.web import int_arg
from ..extensions import local_today, utcnow
from ..i18n import gettext as _
from ..i18n import ngettext
from ..organisations import invitations as member_invitations
from ..practice import services as practice
from ..security import invitation_limit
from ..workflow import actions as workflow_actions
from ..workflow.forms import ActionForm
from ..workflow.slots import SLUG_FOR_SLOT
from ..workflow.timeline import build as build_timeline
from . import invitations
from .forms import AcceptForm, InvitePartnersForm
from .models import Invitation

bp = Blueprint("partnerships", __name__)


@bp.route("/samenwerkingen/uitnodigen", methods=["GET", "POST"])
@policy("admin", "partner")
@invitation_limit()
def invite():
    org = current_org()
    form = InvitePartnersForm(org.kind)
    if form.validate_on_submit():
        entries, problems = form.entries()
        if problems:
            form.emails.errors = [*form.emails.errors, *problems]
        else:
            try:
                sent = invitations.invite_partners(current_user, entries, int(form.situation.data),
                                                   form.message.data or "")
            except ServiceError as error:
                target = form.message if error.field == "message" else form.emails
                target.errors = [*target.errors, *error.message.split("\n")]
            else:
                flash(ngettext("%(num)d uitnodiging verstuurd. Jullie kunnen alvast aan jullie eigen stappen 1 tot en "
                               "met 3 beginnen: de samenwerking staat op de startpagina.",
                               "%(num)d uitnodigingen verstuurd. Jullie kunnen alvast aan jullie eigen stappen 1 tot "
                               "en met 3 beginnen: de samenwerkingen staan op de startpagina.", len(sent)), "success")
                return redirect(url_for("partnerships.invitations_list"))
    status = 422 if form.errors else 200
    return render("partnerships/invite.html", form=form, org=org,
                           invitations_left=invitations.invitations_left(org.id),
                           invitations_per_day=current_app.config["INVITATIONS_PER_DAY"]), status


@bp.get("/uitnodigingen")
@policy("admin", "partner")
def invitations_list():
    org = current_org()
    items = invitations.sent_by(org)
    return render("partnerships/invitations.html", invitations=items, org=org,
                           form=FlaskForm(), now=utcnow())


def _after_invitation_action(inv: Invitation, message: str, error: bool):
    """The invitation's row again with what happened said aloud (htmx), or the list with a
    flash message (a plain form post)."""
    if wants_partial():
        return render("partnerships/_invitation_answer.html", inv=inv, form=FlaskForm(), text=message,
                      urgent=error)
    flash(message, "error" if error else "success")
    if inv.purpose == "member":
        return redirect(url_for("organisations.members"))
    return redirect(url_for("partnerships.invitations_list"))



@bp.post("/uitnodigingen/<invitation_id>/opnieuw")
@policy("admin")
def resend(invitation_id: str):
    inv = invitation_or_404(invitation_id)
    if not FlaskForm().validate_on_submit():
        return _after_invitation_action(inv, _("Dit formulier is verlopen. Laad de pagina opnieuw."), True)
    try:
        invitations.resend(current_user, inv)
    except ServiceError as error:
        return _after_invitation_action(inv, error.message, True)
    return _after_invitation_action(inv, _("Uitnodiging opnieuw verstuurd naar %(email)s. De oude link werkt niet "
                                           "meer.", email=inv.email), False)


@bp.post("/uitnodigingen/<invitation_id>/intrekken")
@policy("admin")
def revoke(invitation_id: str):
    inv = invitation_or_404(invitation_id)
    if not FlaskForm().validate_on_submit():
        return _after_invitation_action(inv, _("Dit formulier is verlopen. Laad de pagina opnieuw."), True)
    try:
        invitations.revoke(current_user, inv)
    except ServiceError as error:
        return _after_invitation_action(inv, error.message, True)
    return _after_invitation_action(inv, _("Uitnodiging voor %(email)s ingetrokken.", email=inv.email), False)


@bp.post("/uitnodigingen/ontvangen/<invitation_id>/accepteren")
@policy("admin")
def accept_received(invitation_id: str):
    """Accept from the start page: the same checks as the mail's link, without the mail."""
    inv = received_invitation_or_404(invitation_id)
    if not FlaskForm().validate_on_submit():
        flash(_("Dit formulier is verlopen. Probeer het opnieuw."), "error")
        return redirect(url_for("home.home"))
    try:
        partnership = invitations.accept_partnership_existing(inv, current_user)
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("home.home"))
    flash(_("De samenwerking met %(org)s is gestart.", org=inv.inviter_org.name), "success")
    return redirect(url_for("partnerships.show", partnership_id=partnership.public_id))


@bp.post("/uitnodigingen/ontvangen/<invitation_id>/afslaan")
@policy("admin")
def decline_received(invitation_id: str):
    inv = received_invitation_or_404(invitation_id)
    if not FlaskForm().validate_on_submit():
        flash(_("Dit formulier is verlopen. Probeer het opnieuw."), "error")
    else:
        try:
            invitations.decline_partnership(inv, current_user)
        except ServiceError as error:
            flash(error.message, "error")
        else:
            flash(_("Je hebt de uitnodiging van %(org)s afgeslagen.", org=inv.inviter_org.name), "success")
    return redirect(url_for("home.home"))


@bp.route("/uitnodiging/<token>", methods=["GET", "POST"])
@policy("public")
def accept(token: str):
    resolved = invitations.resolve(token)
    inv = resolved.invitation
    if resolved.problem or inv is None:
        return render("partnerships/accept_problem.html", problem=resolved.problem), 410
    if inv.purpose == "member":
        return _accept_member(inv)
    return _accept_partnership(inv)


def _accept_member(inv: Invitation):
    if current_user.is_authenticated:
        return render("partnerships/accept_logged_in.html", inv=inv), 409
    form = AccountForm()
    if form.validate_on_submit():
        try:
            user = member_invitations.accept_member(inv, form.name.data, form.password.data)
        except ServiceError as error:
            if not attach(form, error):
                flash(error.message, "error")
        else:
            login_user(user)
            flash(_("Welkom bij %(org)s!", org=inv.inviter_org.name), "success")
            return redirect(url_for("home.home"))
    return render("partnerships/accept_member.html", inv=inv, form=form)


def _accept_partnership(inv: Invitation):
    existing = invitations.needs_existing_org(inv)
    if existing is not None:
        if not current_user.is_authenticated:
            flash(_("Log in om de uitnodiging van %(org)s te accepteren.", org=inv.inviter_org.name), "info")
            return redirect(url_for("accounts.login", next=request.path))
        if current_user.organisation.id != existing.id:
            return render("partnerships/accept_logged_in.html", inv=inv), 409
        form = AcceptForm()
        if form.validate_on_submit():
            try:
                partnership = invitations.accept_partnership_existing(inv, current_user)
            except ServiceError as error:
                flash(error.message, "error")
            else:
                flash(_("De samenwerking met %(org)s is gestart.", org=inv.inviter_org.name), "success")
                return redirect(url_for("partnerships.show", partnership_id=partnership.public_id))
        return render("partnerships/accept_existing.html", inv=inv, form=form, org=existing)
    if current_user.is_authenticated:
        return render("partnerships/accept_logged_in.html", inv=inv), 409
    form = NewOrganisationAccountForm()
    if request.method == "GET":
        form.org_name.data = inv.org_name
    if form.validate_on_submit():
        try:
            user = invitations.accept_partnership_new(
                inv, form.org_name.data, form.name.data, form.password.data
            )
        except ServiceError as error:
            if not attach(form, error):
                flash(error.message, "error")
        else:
            login_user(user)
            flash(_("Welkom! De samenwerking met %(org)s is gestart.", org=inv.inviter_org.name), "success")
            return redirect(url_for("home.home"))
    return render("partnerships/accept_new.html", inv=inv, form=form)


@bp.get("/samenwerkingen/<partnership_id>")
@policy("login")
def show(partnership_id: str):
    partnership, role = partnership_or_404(partnership_id)
    timeline = build_timeline(partnership, role, current_user)
    items = describe.activities([partnership.id], limit=ACTIVITY_PAGE, viewer=role, loaded=[partnership])
    glance = practice.glance([partnership.id], local_today()).get(partnership.id)
    return render("partnerships/show.html", "partnerships/_timeline.html", timeline=timeline, form=ActionForm(),
                  items=items, page_size=ACTIVITY_PAGE, glance=glance, today=local_today())


@bp.get("/samenwerkingen/<partnership_id>/activiteit")
@policy("login")
def activity(partnership_id: str):
    """The partnership's activity feed, ten at a time ("meer laden")."""
    partnership, role = partnership_or_404(partnership_id)
    items = describe.activities([partnership.id], limit=ACTIVITY_PAGE, viewer=role,
                                before=int_arg("voor", None, lo=1, hi=2**62))
    return render("partnerships/activity.html", "partnerships/_activity_items.html", partnership=partnership,
                  items=items, page_size=ACTIVITY_PAGE)


ACTIVITY_PAGE = 10


@bp.post("/samenwerkingen/<partnership_id>/actie")
@policy("partner")
def act(partnership_id: str):
    partnership, party = partnership_or_404(partnership_id, party_only=True)
    form = ActionForm()
    outcome: dict = {}
    if not form.validate_on_submit():
        outcome = {"error": _("Deze actie kon niet worden uitgevoerd. Laad de pagina opnieuw.")}
    else:
        outcome = workflow_actions.perform_action(partnership, party, form)
    if wants_partial():
        # The steps, plus (out of band) the round in the heading and the activity feed.
        timeline = build_timeline(partnership, party, current_user)
        items = describe.activities([partnership.id], limit=ACTIVITY_PAGE, viewer=party, loaded=[partnership])
        status = 422 if outcome.get("error") else 200
        return render("partnerships/_action_result.html", timeline=timeline, form=ActionForm(), outcome=outcome,
                      items=items, page_size=ACTIVITY_PAGE, oob=True), status
    flash(outcome.get("error") or outcome.get("message") or "", "error" if outcome.get("error") else "success")
    for question in outcome.get("missing", []):
        flash(_("Nog niet ingevuld: %(label)s", label=question.label), "error")
    if request.form.get("next") == "sheet" and form.step.data and form.slot.data in SLUG_FOR_SLOT:
        # Pressed on the worksheet's own bar: back to the worksheet (now read-only when completed).
        return redirect(url_for("worksheets.show", partnership_id=partnership.public_id, step=form.step.data,
                                slot=SLUG_FOR_SLOT[form.slot.data]))
    return redirect(url_for("partnerships.show", partnership_id=partnership.public_id))
