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
        # The tables of 0016 (three for practice), 0017 (invitation_sends) and 0019
        # (theme_snapshots) went down with them.
        assert after == {"tenant_scope": before["tenant_scope"] - 5}
        upgrade()
        with db.engine.connect() as conn:
            assert dict(conn.execute(text(policies)).all()) == before
        db.engine.dispose()


def test_the_facts_move_from_the_plan_into_practice_and_count_once(empty_database_url: str) -> None:
    """0016 on a database of the shape before it: step 6's held/parents/children/worked
    cells and step 7's status become practice records; an activity counts as held where
    the figures counted it (marked, or its date passed); round 2's copy of a held row is
    no second fact; the cells leave the current answers, nothing else changes."""
    import datetime as dt

    from stappenplan.extensions import db

    app = make_app(SQLALCHEMY_DATABASE_URI=empty_database_url)
    now = dt.datetime(2026, 6, 1, 12, 0)
    past, future = "2026-03-10", (dt.date.today() + dt.timedelta(days=40)).isoformat()
    held_row = {"id": "a1", "cells": {"activity": "Voorleesochtend", "date": past, "held": "held", "parents": 6,
                                      "children": 8, "worked": "Boeken mee naar huis."}}
    rows_1 = [held_row,
              {"id": "a2", "cells": {"activity": "Liedjes", "date": "2026-02-01", "children": 3}},  # date passed
              {"id": "a3", "cells": {"activity": "Later", "date": future, "held": "planned"}}]
    actions = [{"id": "s1", "cells": {"action": "Training", "deadline": future, "status": "done", "who": "Bieb"}},
               {"id": "s2", "cells": {"action": "Beleid", "status": "planned"}}]
    with app.app_context():
        upgrade(revision="0015_region_tally_partnerships")
        with db.engine.begin() as conn:
            def insert(table: str, **values: object) -> int:
                columns = ", ".join(values)
                marks = ", ".join(f":{k}" for k in values)
                return conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id"),
                                    values).scalar_one()
            import json

            lib = insert("organisations", public_id="l", name="Bieb", kind="library", created_at=now)
            cc = insert("organisations", public_id="c", name="Opvang", kind="childcare", created_at=now)
            p = insert("partnerships", public_id="p", library_id=lib, childcare_id=cc, situation=2, plan_version=1,
                       created_at=now)
            user = insert("users", public_id="u", email="a@b.nl", name="A", password_hash="x", session_version=1,
                          created_at=now)
            insert("memberships", public_id="m", user_id=user, organisation_id=lib, role="admin", created_at=now)
            insert("notification_preferences", user_id=user, kind="reminder", mode="digest")
            ids = {}
            for number, status in ((1, "completed"), (2, "open")):
                cycle = insert("cycles", public_id=f"c{number}", partnership_id=p, number=number, plan_version=1,
                               created_at=now, last_activity_at=now)
                for step in (6, 7):
                    ids[(number, step)] = insert("step_instances", public_id=f"s{number}{step}", cycle_id=cycle,
                                                 step=step, slot="joint", status=status if step == 6 or number == 1
                                                 else "locked", content_version=3)
            def answer(number: int, step: int, question: str, value: object, draft: bool = False) -> None:
                insert("answers", step_instance_id=ids[(number, step)], question=question, value=json.dumps(value),
                       version=3, draft=draft, updated_at=now, instance_seq=1)
            answer(1, 6, "activities", rows_1)
            answer(1, 6, "what_worked", "Ouders kwamen graag.")
            answer(1, 7, "action_schema", actions)
            answer(2, 6, "activities", [held_row], draft=True)  # round 2 copied the held row
        upgrade()
        with db.engine.connect() as conn:
            records = conn.execute(text(
                "SELECT c.number, r.kind, r.source_row, r.status, r.date, r.parents, r.children, r.note, r.who "
                "FROM practice_records r JOIN cycles c ON c.id = r.cycle_id ORDER BY c.number, r.kind, r.source_row"
            )).all()
            values = dict(conn.execute(text("SELECT step_instance_id, value FROM answers "
                                            "WHERE question IN ('activities', 'action_schema')")).all())
            seq = conn.execute(text("SELECT practice_seq FROM partnerships")).scalar_one()
            revisions = conn.execute(text("SELECT count(*) FROM practice_revisions WHERE kind = 'migration'")).scalar()
        found = [(n, kind, row, status, str(day)[:10] if day else None, parents, children, note, who)
                 for n, kind, row, status, day, parents, children, note, who in records]
        assert found == [
            (1, "action", "s1", "done", future, None, None, None, "Bieb"),
            (1, "action", "s2", "planned", None, None, None, None, None),
            (1, "activity", "a1", "held", past, 6, 8, "Boeken mee naar huis.", None),
            (1, "activity", "a2", "held", "2026-02-01", None, 3, None, None),  # counted as before: date passed
            (1, "activity", "a3", "planned", future, None, None, None, None),
            (1, "note", "what_worked", "planned", None, None, None, "Ouders kwamen graag.", None),
        ]  # and nothing for round 2: its copy of a1 is round 1's fact
        assert seq == len(found) == revisions
        for value in values.values():
            stored = json.loads(value) if isinstance(value, str) else value
            for row in stored:
                assert not {"held", "parents", "children", "worked", "status"} & set(row["cells"])
        plan_cells = json.loads(values[ids[(1, 6)]]) if isinstance(values[ids[(1, 6)]], str) else values[ids[(1, 6)]]
        assert plan_cells[0]["cells"] == {"activity": "Voorleesochtend", "date": past}
        def kept(conn: object) -> tuple[int, ...]:
            """Rows that point at a table a migration rebuilds (SQLite): none may go with it."""
            return tuple(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # type: ignore[attr-defined]
                         for table in ("users", "memberships", "notification_preferences", "cycles", "answers"))

        with db.engine.connect() as conn:
            assert kept(conn) == (1, 1, 1, 2, 4)
        downgrade(revision="0015_region_tally_partnerships")
        with db.engine.connect() as conn:
            assert kept(conn) == (1, 1, 1, 2, 4)
            back = conn.execute(text("SELECT value FROM answers "
                                     "WHERE step_instance_id = :i AND question = 'activities'"),
                                {"i": ids[(1, 6)]}).scalar_one()
        back = json.loads(back) if isinstance(back, str) else back
        assert back[0]["cells"]["held"] == "held" and back[0]["cells"]["parents"] == 6
        db.engine.dispose()
