"""Ping a pooled database connection before use only when it has rested a while.

``pool_pre_ping`` costs one round trip to the database on every request, also when the
connection served the previous request a millisecond ago. Here a connection is pinged
(the same ping, with the same recovery: a dead one is replaced before the request gets it)
only when it was idle for ``DB_PING_AFTER_IDLE`` seconds (default 2; 0 pings every time,
like ``pool_pre_ping``). A connection that breaks while in steady use fails its request
with the 503 page, as it would between the ping and the query anyway, and SQLAlchemy's
disconnect handling then replaces every older connection of the pool.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from sqlalchemy import event, exc

IDLE_SINCE = "idle_since"


def init(app: Flask) -> None:
    from ..extensions import db

    after = float(app.config.get("DB_PING_AFTER_IDLE", 2.0))
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":  # a file, not a server: nothing to lose
        return
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def _ping_after_rest(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(IDLE_SINCE)
        if since is not None and time.monotonic() - since < after:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool retries with a fresh connection
            raise exc.DisconnectionError() from error

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()
