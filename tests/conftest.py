"""Test set-up: one database per run, migrated from scratch, emptied after each test.

``TEST_DATABASE_URL`` (a PostgreSQL URL) runs the whole suite on PostgreSQL;
without it the suite runs on a temporary SQLite file. Tests marked
``postgres`` need PostgreSQL: on SQLite runs they are deselected (with a
visible note), and under CI they fail rather than skip.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from config import TestConfig, normalise_database_url

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: When set, every HTML page and partial the suite renders is kept there for the
#: Nu HTML Checker (tests/htmlcheck.py; .ci/run does this once per run).
HTML_DIR = os.environ.get("HTML_CHECK_DIR")


def _database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalise_database_url(url)
    folder = Path(tempfile.mkdtemp(prefix="stappenplan-test-"))
    return f"sqlite:///{folder / 'test.db'}"


DATABASE_URL = _database_url()
ON_POSTGRES = DATABASE_URL.startswith("postgresql")


def describe_database() -> str:
    if ON_POSTGRES:
        from sqlalchemy.engine import make_url

        url = make_url(DATABASE_URL)
        return f"PostgreSQL ({url.host}:{url.port or 5432}/{url.database})"
    return f"SQLite ({DATABASE_URL.removeprefix('sqlite:///')})"


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {describe_database()}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (runs in the PostgreSQL pass)")
    config.addinivalue_line("markers", "browser: drives headless Chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("postgres") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        config._stappenplan_deselected = len(drop)  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    dropped = getattr(config, "_stappenplan_deselected", 0)
    if dropped:
        terminalreporter.write_line(
            f"note: {dropped} PostgreSQL-only tests were deselected on SQLite; "
            "they run with TEST_DATABASE_URL set (as .ci/run does)."
        )


def make_app(**overrides: object) -> Flask:
    from stappenplan import create_app

    settings = {
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
        "WTF_CSRF_ENABLED": False,
        "SECRET_KEY": "test-secret",
        "MAIL_DIR": tempfile.mkdtemp(prefix="stappenplan-mail-"),
    }
    settings.update(overrides)

    class _Config(TestConfig):
        pass

    for key, value in settings.items():
        setattr(_Config, key, value)
    app = create_app(_Config)
    if HTML_DIR:
        from tests.htmlcheck import collect

        app.after_request(collect(Path(HTML_DIR)))
    return app


@pytest.fixture(scope="session")
def _migrated() -> Iterator[None]:
    """Create the schema once per run, only through the migrations."""
    from flask_migrate import upgrade

    from stappenplan.extensions import db

    if ON_POSTGRES:
        _create_postgres_database()
    app = make_app()
    with app.app_context():
        if ON_POSTGRES:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        db.session.remove()
    yield


def _create_postgres_database() -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(DATABASE_URL)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
        ).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def wipe(app: Flask) -> None:
    """Empty every table (faster than re-creating the schema for each test)."""
    from stappenplan.extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if ON_POSTGRES:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def app(_migrated: None) -> Iterator[Flask]:
    application = make_app()
    yield application
    wipe(application)
    from stappenplan.extensions import db

    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def csrf_app(_migrated: None) -> Iterator[Flask]:
    """An app with CSRF protection switched on, as in production."""
    application = make_app(WTF_CSRF_ENABLED=True)
    yield application
    wipe(application)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def world(app: Flask):
    """Two library tenants, their childcare partners, and two regions (see factories)."""
    from tests.factories import build_world

    return build_world(app)
