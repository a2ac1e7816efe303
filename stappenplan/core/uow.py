"""The unit of work: one transaction per request and per command.

Services add and flush; they never commit. This module ends every transaction:

* a request commits in ``after_request``, before its response leaves, so a page that
  says "Opgeslagen" was saved; when the commit fails the error handlers answer
  instead (503 for a database fault) and nothing is half-saved;
* a request that failed (any exception, also one turned into an error page) rolls
  back: the error handlers call ``failed()``;
* everything else that runs in an app context (``flask`` commands, scripts, tests that
  call services) commits when the context ends without an exception, and rolls back
  when it ends with one.

After the commit, ``after_commit`` callbacks run (the outbox delivers mail in
development right away). Row locks stay explicit (``with_for_update``); a service that
must undo tentative work uses a savepoint (``db.session.begin_nested()``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from flask import Flask, Response, current_app, g
from psycopg.rows import namedtuple_row
from sqlalchemy import Executable, Select
from sqlalchemy.exc import DBAPIError, InvalidRequestError

from ..extensions import db

_FAILED = "_uow_failed"
_AFTER = "_uow_after_commit"


def failed() -> None:
    """This request failed: undo its work (called by the error handlers)."""
    setattr(g, _FAILED, True)
    db.session.rollback()
    g.pop(_AFTER, None)


def after_commit(callback: Callable[[], Any]) -> None:
    """Run ``callback`` once the current unit of work committed (never when it rolls back)."""
    g.setdefault(_AFTER, []).append(callback)


def run(statement: Executable, values: dict[str, Any]) -> Any:
    """Execute a kept Core statement (selecting columns, or an UPDATE) on the session's
    connection, in the unit of work. The session is flushed first, as its own
    ``execute`` would. The session's ``execute`` would also copy an UPDATE to add its ORM
    options, so the copy's cache key is worked out anew on every call; here the kept
    statement is executed as it is."""
    db.session.flush()
    return db.session.connection().execute(statement, values)


def checkpoint() -> None:
    """Commit what a long command did so far and go on in a new transaction (bulk
    seeding of thousands of partnerships); its work up to here stays when it fails later."""
    _commit()


def _commit() -> None:
    # The unit of work is over: nothing is read through these objects any more, so they
    # keep their values (a test or template may still look at them; no reload needed).
    session = db.session()
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        session.expire_on_commit = False
        try:
            session.commit()
        finally:
            session.expire_on_commit = True
    # else: the unit of work never began (a request answered without the session, such
    # as the idle change feed): there is nothing to commit.
    for callback in g.pop(_AFTER, []):
        try:
            callback()
        except Exception:  # a side effect after the commit never undoes the commit
            current_app.logger.exception("after-commit callback failed")


def _commit_request(response: Response) -> Response:
    """Requests commit here, before the response leaves: a page that says "opgeslagen" was.
    When the commit itself fails, the answer becomes the error page for that failure."""
    if g.get(_FAILED):
        return response
    try:
        _commit()
    except Exception as error:  # turned into the Dutch error page
        failed()
        return _error_response(error)
    return response


def _error_response(error: Exception) -> Response:
    handler = current_app.extensions["uow_error_page"]
    return handler(error)


def _end_request(error: BaseException | None = None) -> None:
    """A request that failed rolls back; the app context may go on (tests, nested work)."""
    if error is not None or g.pop(_FAILED, False):
        db.session.rollback()
        g.pop(_AFTER, None)


def _end(error: BaseException | None = None) -> None:
    """Commands, scripts and tests: commit when the app context ends well, else roll back."""
    if error is not None:
        db.session.rollback()
        g.pop(_AFTER, None)
        return
    _commit()


def init(app: Flask, error_page: Callable[[Exception], Response]) -> None:
    """Call after the error handlers are registered: ``_end`` must run before the session
    is removed (teardown functions run in reverse order of registration). ``error_page``
    answers a request whose commit failed (a 503 for a database fault)."""
    app.extensions["uow_error_page"] = error_page
    # First in the list, so it runs last of the after_request hooks (they run in reverse order).
    app.after_request_funcs.setdefault(None, []).insert(0, _commit_request)
    app.teardown_request(_end_request)
    app.teardown_appcontext(_end)


def atomic(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A service that changes everything or nothing: when it raises (a ServiceError after
    some writes, say), its own writes are undone with a savepoint; the unit of work goes on."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with savepoint():
            return fn(*args, **kwargs)

    return wrapper


def _sqlite_transaction() -> None:
    """Python's sqlite3 begins a transaction only before a write; a savepoint taken
    outside one would commit on release. Begin it explicitly first (SQLite only).

    ``BEGIN IMMEDIATE`` takes the write lock now, waiting up to ``busy_timeout`` for
    another writer. A plain (deferred) ``BEGIN`` would read first and ask for the lock at
    the first write; if another request committed in between, SQLite refuses that write at
    once (its snapshot is stale; no waiting helps) and two people adding a table row at
    the same moment got a 503."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Savepoint:
    """Tentative work inside the unit of work: ``undo()`` takes it back (the rest stays)."""

    def __init__(self) -> None:
        _sqlite_transaction()
        self._nested = db.session.begin_nested()
        self._undone = False

    def undo(self) -> None:
        """Take the work back (also after a failed flush, which leaves the savepoint inactive)."""
        if not self._undone:
            self._undone = True
            with contextlib.suppress(InvalidRequestError):  # already closed
                self._nested.rollback()

    def _close(self, ok: bool) -> None:
        if self._undone:
            return
        if ok and self._nested.is_active:
            self._nested.commit()  # releases the savepoint: the work joins the unit of work
        else:
            self.undo()


@contextlib.contextmanager
def savepoint() -> Iterator[Savepoint]:
    """``with uow.savepoint() as tentative: ... tentative.undo()``: kept unless undone or failed."""
    point = Savepoint()
    try:
        yield point
    except BaseException:
        point._close(ok=False)
        raise
    point._close(ok=True)


def read_outside_transaction(statement: Select[Any], values: dict[str, Any]) -> Sequence[Any]:
    """Run one read-only statement outside the unit of work, without a transaction (the
    idle change feed: nothing else has been read, nothing is written).

    On PostgreSQL it goes straight to psycopg on a pooled connection (the pool's checkout,
    with its ping after rest, still applies), the statement compiled once: SQLAlchemy's
    ``Connection`` costs as much Python as the rest of the poll (``docs/deployment.md``).
    The engine's ``before_cursor_execute`` listeners still see it, so the statement counts
    of the tests and the benchmark stay true."""
    engine = db.engine
    if engine.dialect.driver != "psycopg":
        with engine.connect() as connection:
            return connection.execution_options(isolation_level="AUTOCOMMIT").execute(statement, values).all()
    sql, defaults = _compiled(statement, engine.dialect)
    parameters = {**defaults, **values}
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        assert driver is not None  # a checked-out connection
        try:
            driver.autocommit = True
            with driver.cursor(row_factory=namedtuple_row) as cursor:
                if engine.dispatch.before_cursor_execute:
                    engine.dispatch.before_cursor_execute(None, cursor, sql, parameters, None, False)
                cursor.execute(sql, parameters)
                rows = cursor.fetchall()
            driver.autocommit = False
            return rows
        except psycopg.Error as error:
            # As SQLAlchemy would: a broken connection leaves the pool, and the error is
            # its OperationalError (the Dutch 503 page), never a 500.
            broken = driver.closed or isinstance(error, psycopg.OperationalError)
            if broken:
                pooled.invalidate(error)
            raise DBAPIError.instance(sql, parameters, error, psycopg.Error,
                                      connection_invalidated=broken) from error
    finally:
        pooled.close()


@functools.lru_cache(maxsize=32)
def _compiled(statement: Select[Any], dialect: Any) -> tuple[str, dict[str, Any]]:
    """The SQL of a statement built once (``access._probe_statement``), with the values of the
    bind parameters it holds itself; the caller's values are added per call."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)
