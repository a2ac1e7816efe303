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


@pytest.mark.postgres
def test_role_policies_downgrade_to_the_tenant_policies(empty_database_url: str) -> None:
    """0013_role_rls goes back cleanly: its policies and functions go, 0006's stay."""
    from stappenplan.extensions import db

    app = make_app(SQLALCHEMY_DATABASE_URI=empty_database_url)
    policies = "SELECT policyname, count(*) FROM pg_policies WHERE schemaname = 'public' GROUP BY policyname"
    functions = "SELECT proname FROM pg_proc WHERE proname IN ('app_kind', 'app_childcare_only', 'record_tally')"
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            before = dict(conn.execute(text(policies)).all())
            assert len(conn.execute(text(functions)).all()) == 3
        assert before["role_coordinator_insert"] >= 10 and before["role_childcare_only"] == 2
        downgrade(revision="0013_role_rls-1")
        with db.engine.connect() as conn:
            after = dict(conn.execute(text(policies)).all())
            assert conn.execute(text(functions)).all() == []
        assert after == {"tenant_scope": before["tenant_scope"]}
        upgrade()
        with db.engine.connect() as conn:
            assert dict(conn.execute(text(policies)).all()) == before
        db.engine.dispose()
