"""Row-level security on PostgreSQL: a second line of defence behind access.py.

When ``DB_APP_ROLE`` is set, every connection switches to that role (which has no
BYPASSRLS), and every transaction gets the organisation of the current user with
``set_config('app.org_id', :org, true)`` — the function form of ``SET LOCAL``, so
the value is a bind parameter, never formatted into SQL. Without a scope the
policies show nothing (fail closed); system tasks (CLI, cron) bypass explicitly.
The policies find the kind of the organisation themselves (``app_kind()``, migration
0012), so a coordinator's or a library's scope needs nothing more than its id.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import Flask, current_app, g, has_app_context, has_request_context
from sqlalchemy import event, text
from sqlalchemy.orm import Session

_system: ContextVar[bool] = ContextVar("rls_system", default=False)
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def enabled(app: Flask) -> bool:
    return bool(app.config.get("DB_APP_ROLE")) and app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def bypass_token(app: Flask) -> str:
    """The value of ``app.bypass`` that switches the policies off for a system task.

    Derived from SECRET_KEY, so it never lives in the database: ``app_bypass()`` holds only
    its SHA-256 (migration 0018, ``flask db-guard``). The application role may set
    ``app.bypass`` to anything; without this value the policies stay on (an attacker with
    the role alone, through SQL injection say, cannot switch them off)."""
    key = str(app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"stappenplan:rls-bypass", hashlib.sha256).hexdigest()


def guard_sql(app: Flask) -> list[str]:
    """The two functions that carry the database's own guard, made from this app's settings
    (run by the owner: migration 0018 and ``flask db-guard``): ``app_bypass()`` knows only
    the hash of the bypass value; ``app_theme_floor()`` the minimums below which the tally
    functions give no counts, whatever minimum a caller asks for."""
    digest = hashlib.sha256(bypass_token(app).encode()).hexdigest()
    conversations = max(int(app.config.get("THEME_MIN_CONVERSATIONS", 5)), 1)
    partnerships = max(int(app.config.get("THEME_MIN_PARTNERSHIPS", 2)), 1)
    return [
        "CREATE OR REPLACE FUNCTION app_bypass() RETURNS boolean LANGUAGE sql STABLE AS $$ "
        "SELECT encode(sha256(convert_to(coalesce(current_setting('app.bypass', true), ''), 'UTF8')), 'hex') "
        f"= '{digest}' $$",
        "CREATE OR REPLACE FUNCTION app_theme_floor(kind text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ "
        f"SELECT CASE kind WHEN 'conversations' THEN {conversations} WHEN 'partnerships' THEN {partnerships} "
        "ELSE 1 END $$",
    ]


def _scope() -> tuple[str, str]:
    """(org id or "", the bypass value or "") for the current unit of work."""
    if has_request_context():
        explicit = g.get("rls_org")
        if explicit is not None:
            return str(explicit), ""
        user = g.get("stappenplan_user")
        if user is None and g.get("rls_claim") is not None:
            return str(g.rls_claim), ""  # while the user loader checks the claim (see claimed)
        membership = getattr(user, "membership", None) if user is not None else None
        return (str(membership.organisation_id) if membership is not None else ""), ""
    return "", bypass_token(current_app) if _system.get() and has_app_context() else ""


def apply(session: Session, connection: Any = None) -> None:
    """Put the scope on the current transaction."""
    org, bypass = _scope()
    target = connection if connection is not None else session
    target.execute(text("SELECT set_config('app.org_id', :org, true), set_config('app.bypass', :bypass, true)"),
                   {"org": org, "bypass": bypass})
    if has_request_context():
        g.rls_applied = (org, bypass)  # what the open transaction carries (scope_loaded_user)


def scope_to(org_id: int) -> None:
    """Act for ``org_id`` for the rest of this request (e.g. right after it was created)."""
    from .extensions import db

    g.rls_org = org_id
    if has_app_context() and enabled(current_app):
        apply(db.session())


@contextmanager
def system() -> Iterator[None]:
    """Explicit bypass for system tasks outside requests (CLI, cron, demo data)."""
    token = _system.set(True)
    try:
        yield
    finally:
        _system.reset(token)


@contextmanager
def system_write() -> Iterator[None]:
    """Inside a request: the enclosed writes are the system's, not the user's (notifying the
    people of a branch when its coordinator decides or reminds, which a coordinator scope may
    not write itself). The bypass holds only until the block ends; then the scope is back."""
    from .extensions import db

    if not (has_app_context() and enabled(current_app)):
        yield
        return
    session = db.session()
    session.flush()
    session.execute(text("SELECT set_config('app.bypass', :token, true)"), {"token": bypass_token(current_app)})
    try:
        yield
        session.flush()
    finally:
        session.execute(text("SELECT set_config('app.bypass', '', true)"))


def allow_system_tasks() -> None:
    """For command-line processes: every transaction is a system task."""
    _system.set(True)


_listening = False


def init(app: Flask) -> None:
    global _listening
    if not enabled(app):
        return
    role = app.config["DB_APP_ROLE"]
    if not ROLE_NAME.match(role):
        raise RuntimeError("DB_APP_ROLE must be a plain role name")
    from .extensions import db

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _set_role(dbapi_connection: Any, connection_record: Any) -> None:
        # Outside any transaction (autocommit), so the role holds for the connection's life.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET ROLE "{role}"')  # a validated identifier: roles cannot be bind parameters
        cursor.close()
        dbapi_connection.autocommit = autocommit

    if not _listening:  # one session factory serves every app object in this process
        _listening = True

        @event.listens_for(db.session.session_factory, "after_begin")
        def _scope_transaction(session: Session, transaction: Any, connection: Any) -> None:
            if has_app_context() and enabled(current_app):
                apply(session, connection)


#: The session key of the organisation the user loader last confirmed (see claimed).
SESSION_CLAIM = "rls_org"


@contextmanager
def claimed() -> Iterator[None]:
    """The user loader's own query: when that query starts the transaction, it starts it
    with the organisation this session's user belonged to at its previous request (kept
    in the signed session). ``scope_loaded_user`` then finds the transaction scoped
    already and saves a statement on every request; a claim that is no longer true (user
    removed, moved or logged out everywhere) is replaced before anything else is read.
    The loader's query reads only users, memberships and organisations, which have no
    policies, so the claim decides nothing by itself."""
    from flask import session

    if not (has_request_context() and enabled(current_app)):
        yield
        return
    g.rls_claim = session.get(SESSION_CLAIM)
    try:
        yield
    finally:
        g.pop("rls_claim", None)


def scope_loaded_user(user: Any) -> None:
    """Called by the user loader: the rest of the request acts for this user's organisation
    (or for none when no user was loaded)."""
    if not (has_app_context() and enabled(current_app) and has_request_context()):
        return
    from flask import session

    from .extensions import db

    org_id = user.membership.organisation_id if user is not None and user.membership is not None else None
    g.rls_org = org_id if org_id is not None else ""
    if org_id is not None and session.get(SESSION_CLAIM) != org_id:
        session[SESSION_CLAIM] = org_id
    if g.get("rls_applied") is not None and g.rls_applied != (str(g.rls_org), ""):
        apply(db.session())
