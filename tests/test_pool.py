"""core/pool.py: a pooled connection is pinged only after it rested, and a connection
that died while resting is replaced before a request gets it."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

from stappenplan.extensions import db
from tests.conftest import DATABASE_URL, make_app

pytestmark = pytest.mark.postgres


def test_a_busy_connection_is_not_pinged_and_a_rested_dead_one_is_replaced(_migrated) -> None:
    app = make_app(DB_PING_AFTER_IDLE=0.3)
    with app.app_context():
        engine = db.engine
    selects: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: selects.append(statement))
    pings: list[int] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection):
        pings.append(1)
        return real_ping(dbapi_connection)

    engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
    try:
        with app.app_context():
            backend = db.session.scalar(text("SELECT pg_backend_pid()"))
            db.session.remove()
        assert len(pings) == 1  # a new connection is pinged once
        for _ in range(5):  # handed from one unit of work to the next: no ping
            with app.app_context():
                assert db.session.scalar(text("SELECT pg_backend_pid()")) == backend
                db.session.remove()
        assert len(pings) == 1
        # The server ends the connection while it rests in the pool.
        killer = create_engine(DATABASE_URL, poolclass=NullPool)
        with killer.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            other.commit()
        killer.dispose()
        time.sleep(0.4)
        with app.app_context():  # the ping finds it dead; the request gets a fresh connection
            assert db.session.scalar(text("SELECT 1")) == 1
            assert db.session.scalar(text("SELECT pg_backend_pid()")) != backend
            db.session.remove()
        assert len(pings) >= 2
    finally:
        engine.dialect.do_ping = real_ping  # type: ignore[method-assign]
        engine.dispose()
