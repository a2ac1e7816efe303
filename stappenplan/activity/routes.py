"""The audit log for organisation admins: who did what and when."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_wtf import FlaskForm

from ..access import current_org, outbox_message_or_404, policy
from ..core.templating import render
from ..core.web import choice_arg, page_arg
from ..i18n import gettext as _
from ..outbox import services as outbox
from ..workflow.definition import N_
from . import log as admin_log

bp = Blueprint("audit", __name__)
#: What an admin sees for each kind of mail that could not be delivered.
MAIL_LABELS = {
    "invitation": N_("Uitnodiging"),
    "password_reset": N_("Link voor een nieuw wachtwoord"),
    "notification": N_("Melding"),
    "digest": N_("Dagelijks overzicht"),
    "partner_left": N_("Bericht over een vertrokken partner"),
}


@bp.get("/organisatie/logboek")
@policy("admin")
def log():
    org = current_org()
    category = choice_arg("soort", admin_log.CATEGORIES)
    page = admin_log.page(org, category, request.args.get("persoon", ""), page_arg())
    return render("audit/log.html", entries=page.entries, listing=page.listing, total=page.listing.total,
                           category=page.category, person=page.person, people=page.people,
                           categories=list(admin_log.CATEGORIES), undelivered=outbox.undelivered(org.id),
                           mail_labels=MAIL_LABELS, form=FlaskForm())


@bp.post("/organisatie/e-mails/<message_id>/opnieuw")
@policy("admin")
def retry_mail(message_id: str):
    """An admin tries an undelivered mail of their organisation again (another organisation's: 404)."""
    message = outbox_message_or_404(message_id)
    if FlaskForm().validate_on_submit():
        outbox.retry(message)
        flash(_("De e-mail aan %(to)s staat weer klaar om te versturen.", to=message.to_email), "success")
    return redirect(url_for("audit.log") + "#e-mails")
