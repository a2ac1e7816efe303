"""Entry points: the start page per role, the background of the plan and the step-5
conversation guide (health checks: core/health.py)."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ..access import current_org, policy
from ..coordination import reminders
from ..coordination import services as coordination
from ..core.templating import render
from ..extensions import utcnow
from ..organisations import services as regions
from . import services as home_data

bp = Blueprint("home", __name__)


@bp.get("/")
@policy("public")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("home.home"))
    return redirect(url_for("accounts.login"))


@bp.get("/start")
@policy("login")
def home():
    org = current_org()
    if org.kind == "coordination":
        # What waits first: requests to join, stalled partnerships, unanswered reminders.
        waits = coordination.waiting(org.id)
        return render("home/coordination.html", **home_data.context_for(org), waits=waits,
                      requests=regions.pending_requests(org.id), form=FlaskForm(), now=utcnow(),
                      reminded=reminders.last_reminders([(r.public_id, r.last_activity_at)
                                                         for r in waits.stalled_rows]))
    return render("home/party.html", "home/_results.html", **home_data.context_for(org))


@bp.get("/over-het-stappenplan")
@policy("public")
def about():
    """Why the plan exists and where it comes from; no data of anyone, so public."""
    return render("home/about.html", plan=home_data.current_plan())


@bp.get("/gespreksleidraad")
@policy("public")
def guide():
    """The guide for step 5's conversations with parents, made to be printed."""
    return render("home/guide.html")
