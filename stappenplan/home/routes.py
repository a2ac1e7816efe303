"""Entry points: the start page per role (health checks: core/health.py)."""

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
    template = "home/coordination.html" if org.kind == "coordination" else "home/party.html"
    return render(template, "results", **home_data.context_for(org))
