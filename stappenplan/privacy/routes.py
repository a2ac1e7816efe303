"""Data export and deletion pages (AVG)."""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, flash, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from ..access import current_org, policy
from ..core.errors import ServiceError, attach
from ..core.forms import Form
from ..core.templating import render
from ..extensions import utcnow
from ..i18n import gettext as _
from . import services

bp = Blueprint("privacy", __name__)


class ConfirmNameForm(Form):
    confirm = StringField(_l("Typ de naam van je organisatie"),
                          description=_l("Zo weten we zeker dat je de goede organisatie verwijdert."))


class PasswordForm(Form):
    password = PasswordField(_l("Je wachtwoord"), render_kw={"autocomplete": "current-password"})


@bp.get("/organisatie/gegevens")
@policy("admin")
def overview():
    return render("privacy/overview.html", org=current_org(), form=ConfirmNameForm(),
                           export_form=FlaskForm())


@bp.post("/organisatie/gegevens/export.json")
@policy("admin")
def export_json():
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("privacy.overview"))
    org = current_org()
    data = services.export(org, current_user)
    slug = re.sub(r"[^a-z0-9]+", "-", org.name.lower()).strip("-")[:60] or "organisatie"
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="stappenplan-{slug}-{utcnow():%Y%m%d}.json"'})


@bp.post("/organisatie/verwijderen")
@policy("admin")
def delete_organisation():
    org = current_org()
    form = ConfirmNameForm()
    if form.validate_on_submit():
        try:
            services.delete_organisation(org, current_user, form.confirm.data or "")
        except ServiceError as error:
            attach(form, error)
        else:
            logout_user()
            flash(_("Je organisatie en alle gegevens zijn verwijderd."), "success")
            return redirect(url_for("accounts.login"))
    return render("privacy/overview.html", org=org, form=form, export_form=FlaskForm()), 422


@bp.route("/account/verwijderen", methods=["GET", "POST"])
@policy("login")
def delete_account():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            services.delete_account(current_user._get_current_object(), form.password.data or "")
        except ServiceError as error:
            if not attach(form, error):
                flash(error.message, "error")
        else:
            logout_user()
            flash(_("Je account is verwijderd. Wat je schreef blijft staan als 'verwijderde gebruiker'."),
                  "success")
            return redirect(url_for("accounts.login"))
    return render("privacy/delete_account.html", form=form)
