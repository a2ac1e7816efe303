"""Stappenplan: a Flask + HTMX application for the 8-step plan of cooperation
between public libraries and childcare organisations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine

from config import ROOT, Config, config_for_env

from . import i18n
from .extensions import babel, csrf, db, htmx, login_manager, migrate


def _tune_engine(app: Flask) -> None:
    """PostgreSQL sessions without JIT compilation.

    The dashboard's aggregate over all partnerships of a region is estimated above
    PostgreSQL's ``jit_above_cost``; compiling it took 25 ms of a 35 ms query. Short
    OLTP queries never gain from JIT, so it is off for the application's sessions
    (``JIT_OFF=0`` keeps the server's setting).
    """
    uri = str(app.config.get("SQLALCHEMY_DATABASE_URI", ""))
    if not uri.startswith("postgresql") or not app.config.get("JIT_OFF", True):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args["options"] = (connect_args.get("options", "") + " -c jit=off").strip()
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def create_app(test_config: dict[str, Any] | type[Config] | None = None) -> Flask:
    """Application factory."""
    app = Flask(
        __name__,
        instance_path=str(Path(Config.MAIL_DIR).parent),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(config_for_env())
    if isinstance(test_config, dict):
        app.config.update(test_config)
    elif test_config is not None:
        app.config.from_object(test_config)
    _check_production(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _tune_engine(app)

    db.init_app(app)
    from . import rls
    from .core import pool

    pool.init(app)

    rls.init(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=lambda: "Europe/Amsterdam")
    i18n.init(app)
    from .workflow import definition

    definition.set_translator(i18n.translate)  # the pure plan modules translate through it
    from .workflow import plan_loader

    # Every plan file and every way from one version to the next is checked before the app
    # serves anything: a bad file stops the deploy, not a user (DefinitionError names it).
    plan_loader.load_all()
    from .workflow import services as workflow_services
    from .worksheets.store import ANSWERS

    workflow_services.install_answer_store(ANSWERS)  # the workflow asks the worksheets about answers
    _init_login(app)

    from . import models  # noqa: F401 - register every table

    _register_blueprints(app)
    _connect_receivers()
    from .core import errors_web, templating

    errors_web.register(app)
    from .core import uow

    uow.init(app, errors_web.commit_failed)
    from .workflow.slots import SLUG_FOR_SLOT
    from .worksheets import display, fields

    templating.register(app, {"fields": fields, "display": display, "slug_for_slot": SLUG_FOR_SLOT})

    from . import access, security

    app.before_request(access.enforce)
    security.init(app)
    app.after_request(_vary_on_htmx)
    # Health checks, static cache headers, request logs (last: the log middleware wraps everything).
    from .core import health
    from .core import logging as request_logging

    health.init(app, public=access.policy("public"))
    request_logging.init(app)

    from .cli import register as register_cli

    register_cli(app)
    return app


def _connect_receivers() -> None:
    """Who reacts to the domain's signals, in one place (blinker keeps one connection per
    receiver, so a second app in the same process connects nothing twice)."""
    from .core import signals
    from .notifications import services as notifications
    from .practice import services as practice

    # A step with a practice table that is agreed makes its practice records, in its transaction.
    signals.workflow_events.connect(practice.on_workflow_events)
    # Who hears of what: notifications in the sender's transaction, mail through the outbox.
    signals.workflow_events.connect(notifications.on_workflow_events)
    signals.mentioned.connect(notifications.on_mention)
    signals.commented.connect(notifications.on_comment)
    signals.region_reminder.connect(notifications.on_region_reminder)
    signals.region_request.connect(notifications.on_region_request)
    signals.plan_upgraded.connect(notifications.on_plan_upgraded)


def _check_production(app: Flask) -> None:
    """Refuse to start with settings that are unsafe: in production without real secrets,
    without the site's address (links in e-mails) or with rate limits counted per process;
    anywhere with a malformed BASE_URL."""
    from .core.web import base_url_problem
    from .security import limit_storage_problem

    base = app.config.get("BASE_URL") or ""
    problem = base_url_problem(base) if base else None
    if app.config.get("ENV_NAME") != "production" or app.config.get("TESTING"):
        if problem:
            raise RuntimeError(problem)
        return
    import os

    problems = []
    missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not os.environ.get(name)]
    if not base:
        missing.append("BASE_URL")
    if missing:
        problems.append("STAPPENPLAN_ENV=production needs these environment variables: " + ", ".join(missing))
    if problem:
        problems.append(problem)
    limits = limit_storage_problem(app.config)
    if limits:
        problems.append(limits)
    if problems:
        raise RuntimeError("; ".join(problems))


def _select_locale() -> str:
    if g.get("database_down"):  # the 503 page: no user can be read now
        return "nl"
    saved = None
    if current_user and getattr(current_user, "is_authenticated", False):
        saved = current_user.locale
    return i18n.choose_locale(saved)


def _init_login(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l
    from flask_login import user_logged_in, user_logged_out

    from .access import user_by_public_id
    from .accounts.models import User

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Log in om verder te gaan.")
    login_manager.login_message_category = "info"

    @user_logged_in.connect_via(app)
    def _remember_at_login(_sender: Flask, user: User) -> None:
        # The first poll after logging in can already use the change feed's session check.
        from .access import remember_identity

        if user.membership is not None:
            remember_identity(user)

    @user_logged_out.connect_via(app)
    def _forget_at_logout(_sender: Flask, user: User | None = None) -> None:
        from flask import session

        from .access import SESSION_IDENTITY

        session.pop(SESSION_IDENTITY, None)

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        if g.get("database_down"):  # the 503 page renders for an anonymous visitor
            return None
        from . import rls
        from .access import remember_identity

        public_id, _sep, version = session_id.partition(".")
        with rls.claimed():
            user = db.session.scalar(user_by_public_id(), {"public_id": public_id})
        if user is None or str(user.session_version) != version or user.membership is None:
            rls.scope_loaded_user(None)
            return None
        g.stappenplan_user = user  # who this request acts for, for code that must not load it again
        rls.scope_loaded_user(user)
        remember_identity(user)
        return user


def _register_blueprints(app: Flask) -> None:
    from .accounts.routes import bp as accounts_bp
    from .activity.routes import bp as audit_bp
    from .coordination.routes import bp as coordination_bp
    from .home.routes import bp as home_bp
    from .notifications.routes import bp as notifications_bp
    from .organisations.routes import bp as organisations_bp
    from .partnerships.routes import bp as partnerships_bp
    from .plan.routes import bp as plan_bp
    from .practice.routes import bp as practice_bp
    from .practice.routes import calendar_bp
    from .privacy.routes import bp as privacy_bp
    from .worksheets.routes import bp as worksheets_bp
    from .worksheets.routes import live_bp

    blueprints = (home_bp, accounts_bp, organisations_bp, partnerships_bp, worksheets_bp, coordination_bp, plan_bp,
                  notifications_bp, audit_bp, privacy_bp, practice_bp, calendar_bp, live_bp)
    for bp in blueprints:
        app.register_blueprint(bp)


def _vary_on_htmx(response: Response) -> Response:
    """One URL may answer with a page or a partial: caches must key on HX-Request."""
    if response.mimetype == "text/html":
        response.vary.add("HX-Request")
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _is_sqlite(dbapi_connection: Any) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Enforce foreign keys on SQLite and let readers work while one writer writes (WAL)."""
    if _is_sqlite(dbapi_connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
