"""Entry points: the start page per role, the background of the plan and the step-5
conversation guide (health checks: core/health.py)."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from ..access import current_org, policy
from ..core.templating import render
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
        return render("home/coordination.html", **home_data.context_for(org))
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
