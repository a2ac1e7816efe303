"""Log in and out, register a library branch, passwords."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, make_response, redirect, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf

from .. import rls
from ..access import policy
from ..core.errors import ServiceError, attach
from ..core.templating import render
from ..core.web import safe_next
from ..i18n import gettext as _
from ..i18n import refresh as refresh_locale
from ..i18n import remember_choice
from ..security import login_limit, registration_limit, resend_limit, reset_limit
from . import registration, services
from .forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LanguageForm,
    LoginForm,
    NameForm,
    RegisterForm,
    ResetPasswordForm,
)

bp = Blueprint("accounts", __name__)


@bp.route("/inloggen", methods=["GET", "POST"])
@policy("public")
@login_limit()
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.LoginRefused as refused:
            attach(form, refused)
            response = make_response(render("accounts/login.html", form=form), 429)
            response.headers["Retry-After"] = str(refused.retry_after)
            return response
        if user is not None:
            login_user(user, remember=form.remember.data)
            rls.scope_loaded_user(user)
            return redirect(safe_next(url_for("home.home")))
        # One message for unknown email and wrong password: reveals nothing.
        form.password.errors.append(_("Het e-mailadres of het wachtwoord klopt niet."))
    return render("accounts/login.html", form=form)


@bp.post("/uitloggen")
@policy("login")
def logout():
    services.end_all_sessions(current_user)
    logout_user()
    flash(_("Je bent uitgelogd."), "success")
    return redirect(url_for("accounts.login"))


@bp.route("/registreren", methods=["GET", "POST"])
@policy("public")
@registration_limit()
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        registration.register_library(
            form.org_name.data, form.name.data, form.email.data, form.password.data, form.team.data
        )
        # The same page whether or not the address had an account: the mail tells its owner.
        return render("accounts/register_sent.html", email=form.email.data)
    return render("accounts/register.html", form=form)


@bp.route("/e-mailadres-bevestigen/<token>", methods=["GET", "POST"])
@policy("public")
def confirm_email(token: str):
    """A button, not the link itself, confirms: mail scanners that open links change nothing."""
    user, problem = registration.confirm(token)
    if user is None:
        return render("accounts/confirm_invalid.html", problem=problem), 410
    form = FlaskForm()
    if form.validate_on_submit():
        if registration.mark_confirmed(user):
            if not current_user.is_authenticated:
                login_user(user)
                rls.scope_loaded_user(user)
            flash(_("Je e-mailadres is bevestigd. Je kunt nu partners en collega's uitnodigen."), "success")
        else:
            flash(_("Je e-mailadres was al bevestigd."), "info")
        return redirect(url_for("home.home") if current_user.is_authenticated else url_for("accounts.login"))
    return render("accounts/confirm.html", form=form, user=user)


@bp.post("/e-mailadres-bevestigen/opnieuw")
@policy("login")
@resend_limit()
def resend_confirmation():
    if current_user.email_confirmed_at is None:
        registration.send_confirmation(current_user)
        flash(_("We hebben de mail opnieuw gestuurd naar %(email)s.", email=current_user.email), "success")
    else:
        flash(_("Je e-mailadres was al bevestigd."), "info")
    return redirect(safe_next(url_for("home.home")))


@bp.route("/wachtwoord-vergeten", methods=["GET", "POST"])
@policy("public")
@reset_limit()
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        return render("accounts/forgot_sent.html", email=form.email.data)
    return render("accounts/forgot.html", form=form)


@bp.route("/wachtwoord-herstellen/<token>", methods=["GET", "POST"])
@policy("public")
def reset_password(token: str):
    req, problem = services.reset_request_for(token)
    if req is None:
        return render("accounts/reset_invalid.html", problem=problem), 410
    form = ResetPasswordForm()
    if form.validate_on_submit():
        services.reset_password(req, form.password.data)
        logout_user()
        flash(_("Je wachtwoord is gewijzigd. Log in met je nieuwe wachtwoord."), "success")
        return redirect(url_for("accounts.login"))
    return render("accounts/reset.html", form=form)


@bp.route("/account", methods=["GET", "POST"])
@policy("login")
def account():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current.data, form.password.data)
        except ServiceError as error:
            attach(form, error)
        else:
            # The version bump ended every session; start a fresh one here.
            login_user(current_user._get_current_object())
            flash(_("Je wachtwoord is gewijzigd. Op andere apparaten ben je uitgelogd."), "success")
            return redirect(url_for("accounts.account"))
    return render("accounts/account.html", form=form, language_form=_language_form(),
                           name_form=_name_form())


def _name_form() -> NameForm:
    return NameForm(formdata=None, name=current_user.name)


@bp.post("/account/naam")
@policy("login")
def rename():
    """Correct one's own name; a refusal keeps what was typed, with the reason beside it."""
    form = NameForm()
    if form.validate_on_submit():
        try:
            services.rename(current_user, form.name.data or "")
        except ServiceError as error:
            attach(form, error)
        else:
            flash(_("Je naam is gewijzigd."), "success")
            return redirect(url_for("accounts.account"))
    return render("accounts/account.html", form=ChangePasswordForm(formdata=None),
                           language_form=_language_form(), name_form=form), 422


def _language_form() -> LanguageForm:
    return LanguageForm(formdata=None, locale=current_user.locale or "nl")


@bp.post("/account/taal")
@policy("login")
def language():
    """Save the language of the interface; the message already shows in the new language."""
    form = LanguageForm()
    if not form.validate_on_submit():
        return render("accounts/account.html", form=ChangePasswordForm(formdata=None), language_form=form,
                               name_form=_name_form())
    services.set_locale(current_user, form.locale.data)
    refresh_locale()
    flash(_("De taal is gewijzigd."), "success")
    return redirect(url_for("accounts.account"))


@bp.post("/taal")
@policy("public")
def choose_language():
    """The switch on the logged-out pages: the visitor's choice of language is kept in the
    session until they log in; a saved language of their account still wins then."""
    remember_choice(request.form.get("locale", ""))
    return redirect(safe_next(url_for("accounts.login")))


@bp.get("/sessie/token")
@policy("public")
def session_token():
    """A fresh CSRF token for a page that stayed open longer than the token lives (the
    worksheet script asks for one when a save answers 400, then saves again)."""
    if not current_user.is_authenticated:
        return jsonify(error="login"), 401
    response = jsonify(csrf_token=generate_csrf())
    response.headers["Cache-Control"] = "no-store"
    return response
