"""In-app notifications and email preferences."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ..access import policy
from ..core.templating import render
from ..core.web import page_arg, safe_next
from ..i18n import gettext as _
from . import services
from .models import KINDS, MODES

bp = Blueprint("notifications", __name__)
PER_PAGE = 25


@bp.app_template_global()
def unread_notifications() -> int:
    """The number in the menu (base.html): unread notifications of the person logged in."""
    return services.unread_count(current_user) if current_user.is_authenticated else 0


@bp.get("/meldingen")
@policy("login")
def index():
    listing = services.listing(current_user, page_arg(), PER_PAGE)
    return render("notifications/index.html", items=listing.items, listing=listing, form=FlaskForm(),
                           notification_texts=services.shown)


@bp.get("/meldingen/<notification_id>")
@policy("login")
def open_notification(notification_id: str):
    note = services.open_for(current_user, notification_id)
    if note is None:
        abort(404)
    # Links are absolute (they are mailed too); keep only the local path.
    parts = urlsplit(note.link or url_for("notifications.index"))
    return redirect(parts.path + (f"?{parts.query}" if parts.query else "")
                    + (f"#{parts.fragment}" if parts.fragment else ""))


@bp.post("/meldingen/alles-gelezen")
@policy("login")
def mark_all_read():
    if FlaskForm().validate_on_submit():
        services.mark_all_read(current_user)
        flash(_("Alle meldingen zijn gelezen."), "success")
    return redirect(safe_next(url_for("notifications.index")))


@bp.route("/account/meldingen", methods=["GET", "POST"])
@policy("login")
def preferences():
    form = FlaskForm()
    if form.validate_on_submit():
        # A kind missing from the form (a page opened before that kind existed) keeps its choice.
        current = services.preferences(current_user)
        choices = {kind: request.form.get(kind, current[kind]) for kind in KINDS}
        bad = [k for k, v in choices.items() if v not in MODES]
        if bad:
            flash(_("Kies voor elke soort melding: direct, dagelijks overzicht, wekelijks overzicht of uit."), "error")
        else:
            services.set_preferences(current_user, choices)
            flash(_("Je keuzes voor e-mail zijn opgeslagen."), "success")
            return redirect(url_for("notifications.preferences"))
    return render("notifications/preferences.html", form=form, prefs=services.preferences(current_user),
                           labels=services.labels_for(current_user))
