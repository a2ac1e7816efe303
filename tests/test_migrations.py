"""The schema exists only through migrations, and they match the models exactly."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.conftest import DATABASE_URL, ON_POSTGRES, make_app


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    if ON_POSTGRES:
        url = make_url(DATABASE_URL)
        name = f"{url.database}_migrations"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        folder = Path(tempfile.mkdtemp(prefix="stappenplan-migrate-"))
        yield f"sqlite:///{folder / 'empty.db'}"


def test_migrations_build_the_models_schema(empty_database_url: str) -> None:
    from stappenplan.extensions import db

    app = make_app(SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        assert inspect(db.engine).get_table_names() == []
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": True}
            )
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "organisations", "partnerships", "invitations", "audit_events"} <= tables
        db.engine.dispose()


def test_migrations_downgrade_to_nothing(empty_database_url: str) -> None:
    from stappenplan.extensions import db

    app = make_app(SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
