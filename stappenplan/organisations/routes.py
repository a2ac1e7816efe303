"""Members of the own organisation, and the library's region opt-in."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice

from ..access import current_org, member_or_404, policy
from ..core.errors import ServiceError, attach
from ..core.templating import render, wants_partial
from ..extensions import utcnow
from ..i18n import gettext as _
from ..partnerships.invitations import invitations_left
from ..security import invitation_limit
from . import invitations, services
from .forms import ROLE_CHOICES, InviteMemberForm, RegionForm, RoleForm
from .models import Membership, Organisation

bp = Blueprint("organisations", __name__, url_prefix="/organisatie")


def _without_team(form: FlaskForm, org: Organisation) -> FlaskForm:
    """Only library members carry a team."""
    if org.kind != "library":
        del form.team
    return form


def _team(form: FlaskForm) -> str | None:
    return form.team.data or None if "team" in form else None


def _members_context(invite_form: InviteMemberForm | None = None) -> dict:
    org = current_org()
    pending = invitations.pending(org)
    members = services.members_of(org)
    return {
        "org": org,
        "members": members,
        "admin_count": sum(1 for m in members if m.role == "admin"),
        "pending": pending,
        "form": invite_form or _without_team(InviteMemberForm(), org),
        "now": utcnow(),
        "invitations_left": invitations_left(org.id),
        "invitations_per_day": current_app.config["INVITATIONS_PER_DAY"],
    }


@bp.get("/leden")
@policy("login")
def members():
    return render("organisations/members.html", **_members_context())


@bp.post("/leden/uitnodigen")
@policy("admin")
@invitation_limit()
def invite_member():
    form = _without_team(InviteMemberForm(), current_org())
    if form.validate_on_submit():
        try:
            invitations.invite_member(current_user, form.email.data, form.role.data, _team(form))
        except ServiceError as error:
            attach(form, error)
        else:
            flash(_("Uitnodiging verstuurd naar %(email)s.", email=form.email.data), "success")
            return redirect(url_for("organisations.members"))
    return render("organisations/members.html", **_members_context(form)), 422


def last_admin_note(membership: Membership) -> str:
    """Why the only admin is offered neither "Verwijderen" nor the role "Lid"."""
    if membership.user_id == current_user.id:
        return _("Je bent de enige beheerder. Maak eerst een collega beheerder als je zelf Lid wilt worden "
                 "of wilt vertrekken.")
    return _("%(name)s is de enige beheerder en kan daarom niet worden verwijderd of Lid worden.",
             name=membership.user.name)


def _offer_only_admin(form: FlaskForm, membership: Membership) -> None:
    """The form as shown for the only admin: "Beheerder" is the one role on offer. (A post
    is checked with every role: the service refuses a demotion with its own message.)"""
    if membership.role == "admin" and services.admin_count(membership.organisation) <= 1:
        form.role.choices = [choice for choice in ROLE_CHOICES if choice.value == "admin"]
        form.role.description = last_admin_note(membership)


@bp.context_processor
def _row_helpers() -> dict:
    return {"last_admin_note": last_admin_note}


def _role_form(membership: Membership) -> FlaskForm:
    """The role form of one member. Its controls get ids of their own: the editor opens in
    the row of the colleagues' page, where the invite form's controls are "role" and "team"."""
    form = _without_team(RoleForm(obj=membership), membership.organisation)
    for name in ("role", "team"):
        if name in form:
            form[name].id = f"{name}-{membership.public_id}"
    return form


@bp.get("/leden/<member_id>")
@policy("admin")
def member_row(member_id: str):
    """One member's row, with focus on its "Wijzigen" button: where the inline role editor
    returns to when it is cancelled. Without htmx, the colleagues' page."""
    membership = member_or_404(member_id)
    if not wants_partial():
        return redirect(url_for("organisations.members"))
    return render("organisations/_member_row.html", m=membership, focus=True,
                           admin_count=services.admin_count(membership.organisation))


@bp.route("/leden/<member_id>/rol", methods=["GET", "POST"])
@policy("admin")
def change_role(member_id: str):
    membership = member_or_404(member_id)
    form = _role_form(membership)
    # An htmx answer brings its own message for the page's flash area (out of band): a
    # flash would wait in the session and show up on some later page.
    messages: list[tuple[str, str]] | None = None
    if form.validate_on_submit():
        try:
            services.change_role(current_user, membership, form.role.data, _team(form))
        except ServiceError as error:
            attach(form, error)
            messages = []  # the refusal shows at the field; an earlier success goes away
        else:
            message = _("De rol van %(name)s is aangepast.", name=membership.user.name)
            if not wants_partial():
                flash(message, "success")
                return redirect(url_for("organisations.members"))
            # The other admins' rows too: whether one is the only admin may have changed.
            others = [m for m in services.members_of(membership.organisation)
                      if m.role == "admin" and m.id != membership.id]
            return render("organisations/_member_edit_row.html", membership=membership, form=form, saved=True,
                          messages=[("success", message)], others=others,
                          admin_count=services.admin_count(membership.organisation))
    _offer_only_admin(form, membership)
    # Two shapes of one form, not a page and its part: the inline editor in the members
    # table (htmx) or a page of its own.
    editor = "organisations/_member_edit_row.html" if wants_partial() else "organisations/member_edit.html"
    return render(editor, membership=membership, form=form, messages=messages)


@bp.route("/leden/<member_id>/verwijderen", methods=["GET", "POST"])
@policy("admin")
def remove_member(member_id: str):
    membership = member_or_404(member_id)
    form = FlaskForm()
    if form.validate_on_submit():
        try:
            services.remove_member(current_user, membership)
        except ServiceError as error:
            flash(error.message, "error")
        else:
            if membership.user_id == current_user.id:  # their session ends: the login page says it
                flash(_("Je bent verwijderd uit %(org)s.", org=membership.organisation.name), "success")
            else:
                flash(_("%(name)s is verwijderd uit je organisatie.", name=membership.user.name), "success")
        return redirect(url_for("organisations.members"))
    last_admin = membership.role == "admin" and services.admin_count(membership.organisation) <= 1
    return render("organisations/member_remove.html", membership=membership, form=form,
                           own=membership.user_id == current_user.id,
                           refusal=last_admin_note(membership) if last_admin else None)


@bp.route("/regio", methods=["GET", "POST"])
@policy("admin", "library")
def region():
    """Choosing a region asks to join it; a coordinator of that region decides."""
    org = current_org()
    form = RegionForm()
    all_regions = services.regions()
    form.region.choices = [SelectChoice(r.public_id, r.name) for r in all_regions]
    status = 200
    if form.validate_on_submit():
        chosen = next((r for r in all_regions if r.public_id == form.region.data), None)
        if chosen is not None:
            try:
                services.request_region(current_user, chosen)
            except ServiceError as error:  # shown at the top: the form may not be on the page
                flash(error.message, "error")
                status = 422
            else:
                flash(_("Je aanvraag om mee te doen in %(region)s is verstuurd. De regionale ondersteuning "
                        "beslist erover. Tot dan kan zij niet meekijken.", region=chosen.name), "success")
                return redirect(url_for("organisations.region"))
    elif form.is_submitted():
        status = 422
    return render("organisations/region.html", form=form, current=services.region_of(org),
                           pending=services.pending_request(org), decided=services.last_decision(org),
                           regions=all_regions, leave_form=FlaskForm()), status


@bp.post("/regio/aanvraag-intrekken")
@policy("admin", "library")
def withdraw_region_request():
    form = FlaskForm()
    if form.validate_on_submit():
        try:
            withdrawn = services.withdraw_request(current_user)
        except ServiceError as error:
            flash(error.message, "error")
        else:
            flash(_("Je aanvraag voor %(region)s is ingetrokken.", region=withdrawn.region.name), "success")
    return redirect(url_for("organisations.region"))


@bp.post("/regio/afmelden")
@policy("admin", "library")
def leave_region():
    form = FlaskForm()
    if form.validate_on_submit():
        services.opt_out(current_user)
        flash(_("Je vestiging doet niet meer mee in de regio. De regionale ondersteuning heeft "
                "geen toegang meer."), "success")
    return redirect(url_for("organisations.region"))
