"""Health checks for the load balancer, and long cache headers for versioned static files.

``/healthz``  liveness: the process answers. No database, no session, no cookies.
``/readyz``   readiness: the database answers ``SELECT 1`` and its schema is at the
              head of ``migrations/`` (or newer, see below); 503 with a JSON reason
              otherwise, so a load balancer sends no traffic to a server that would fail.

A database whose revision is *unknown* to this code is newer than the code: during a
rolling deploy the migrations of the next release ran already while this server still
runs the previous one. Migrations are written to be backward compatible (expand, then
contract in a later release), so that server stays ready; a database that is *behind*
the code is not ready.

The reasons and migration ids are for the people who run the servers: only a loopback
client (``request.remote_addr``, after ProxyFix when ``TRUST_PROXY`` counts proxies) or
a request with the ``X-Readyz-Token`` header equal to ``READYZ_TOKEN`` gets them; any
other client gets the status alone (``{"status": "ok"}`` or ``"unavailable"``) with the
same HTTP code, which is all a load balancer needs.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import Connection, inspect, text

from .. import rls
from ..extensions import db

bp = Blueprint("health", __name__)

#: Versioned static URLs (``?v=<hash of the static folder>``) never change content.
IMMUTABLE = "public, max-age=31536000, immutable"
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Revisions:
    heads: frozenset[str]
    known: frozenset[str]


_revisions: Revisions | None = None
_revisions_lock = threading.Lock()


def code_revisions(app: Flask) -> Revisions:
    """The heads and all revisions of ``migrations/`` (read once per process)."""
    global _revisions
    if _revisions is None:
        with _revisions_lock:
            if _revisions is None:
                from alembic.config import Config as AlembicConfig
                from alembic.script import ScriptDirectory

                config = AlembicConfig()
                config.set_main_option("script_location", str(app.extensions["migrate"].directory))
                script = ScriptDirectory.from_config(config)
                _revisions = Revisions(
                    heads=frozenset(script.get_heads()),
                    known=frozenset(rev.revision for rev in script.walk_revisions()),
                )
    return _revisions


TOKEN_HEADER = "X-Readyz-Token"


def _may_see_details() -> bool:
    """A client on this host, or one that sends the configured token."""
    try:
        if ipaddress.ip_address(request.remote_addr or "").is_loopback:
            return True
    except ValueError:
        pass
    token = current_app.config.get("READYZ_TOKEN") or ""
    sent = request.headers.get(TOKEN_HEADER, "")
    return bool(token) and hmac.compare_digest(sent.encode(), token.encode())


def _ready(body: dict[str, object], status: int) -> Response:
    """The readiness answer: in full for operators, the status alone for anyone else."""
    return _no_store(body if _may_see_details() else {"status": body["status"]}, status)


def _no_store(body: dict[str, object], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return _no_store({"status": "ok"}, 200)


@bp.get("/readyz")
def readyz() -> Response:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = _database_revisions(conn)
            guarded = _guard_current(conn)
    except Exception as exc:  # any failure means "not ready"
        current_app.logger.warning("readyz: database unreachable (%s: %s)", type(exc).__name__, exc)
        return _ready({"status": "unavailable", "reason": "database unreachable",
                       "error": type(exc).__name__}, 503)
    code = code_revisions(current_app)
    body: dict[str, object] = {"database": sorted(current), "code": sorted(code.heads)}
    if not current:
        return _ready({"status": "unavailable", "reason": "database not migrated", **body}, 503)
    if current == code.heads and guarded is False:
        # The system tasks of this app (SECRET_KEY) would be refused by the database.
        return _ready({"status": "unavailable", "reason": "database guard out of date: run flask db-guard",
                       **body}, 503)
    if current == code.heads:
        return _ready({"status": "ok", **body}, 200)
    if current <= code.known:
        return _ready({"status": "unavailable", "reason": "migrations pending", **body}, 503)
    # A revision this code does not know: the schema is newer (rolling deploy).
    return _ready({"status": "ok", "note": "database schema is newer than this code", **body}, 200)


def _guard_current(conn: Connection) -> bool | None:
    """Under row-level security: whether the database accepts this app's bypass value
    (``flask db-guard`` made ``app_bypass()`` from the same SECRET_KEY); None otherwise."""
    if not rls.enabled(current_app):
        return None
    row = conn.execute(text("SELECT set_config('app.bypass', :token, true), app_bypass()"),
                       {"token": rls.bypass_token(current_app)}).one()
    conn.rollback()
    return bool(row[1])


def _database_revisions(conn: Connection) -> frozenset[str]:
    """The revision(s) in alembic's version table; empty when the table is missing."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return frozenset()
    return frozenset(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _static_cache(response: Response) -> Response:
    """Versioned static files may be cached for a year; unversioned ones are revalidated.

    Only the *current* version gets the long header: while app servers of two
    releases run side by side, a server with the old files must not let a browser
    keep them for a year under the new version's URL.
    """
    if request.endpoint != "static" or response.status_code not in (200, 304):
        return response
    version = request.args.get("v")
    if version and version == _current_static_version():
        response.headers["Cache-Control"] = IMMUTABLE
    return response


def _current_static_version() -> str | None:
    version = current_app.config.get("STATIC_VERSION")
    if version is None:
        make_url = current_app.jinja_env.globals.get("static_url")
        if callable(make_url):
            make_url("css/app.css")  # computes and keeps STATIC_VERSION (core/templating.py)
            version = current_app.config.get("STATIC_VERSION")
    return version


def init(app: Flask, public: Callable[[Any], Any]) -> None:
    """Register the probes; ``public`` is the access policy's ``policy("public")`` (given by
    the app factory: core knows no domain package, and a view without a policy is refused)."""
    for view in (healthz, readyz):
        public(view)
    app.register_blueprint(bp)
    app.after_request(_static_cache)
