"""A growing wait for one e-mail address after failed logins.

The IP rate limit (security.py) stops one client guessing fast; this stops many clients
guessing one account's password slowly. The first ``FREE_FAILURES`` failures cost nothing;
from then on every failure makes the address wait 2^(n - 3) seconds (1, 2, 4 … s), at most
``MAX_WAIT``. An address without failures for ``FORGET_AFTER`` is forgotten (its row goes);
a successful login or a password reset ends the count at once. Attempts during the wait are refused without checking the
password, and they do not count.

Known and unknown addresses are counted and refused alike, so the answers reveal nothing
about which accounts exist. The count lives in the database (``login_throttles``): every
worker and app server sees it at once. ``utcnow`` is the clock (tests move it).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update

from ..extensions import db, utcnow
from .models import LoginThrottle

FREE_FAILURES = 3
MAX_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=24)


def wait_after(failures: int) -> timedelta:
    """The wait that the ``failures``-th failure in a row starts."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    if failures - FREE_FAILURES >= 10:  # 2^10 s is past the cap already
        return MAX_WAIT
    return min(timedelta(seconds=2 ** (failures - FREE_FAILURES)), MAX_WAIT)


def _key(email: str) -> str:
    normalised = email.strip().lower().encode()
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"login-throttle:" + normalised, hashlib.sha256).hexdigest()


def wait_left(email: str) -> int:
    """Whole seconds this address must still wait before a login attempt (0: none)."""
    until = db.session.scalar(select(LoginThrottle.locked_until).where(LoginThrottle.key == _key(email)))
    now = utcnow()
    if until is None or until <= now:
        return 0
    return math.ceil((until - now).total_seconds())


def failed(email: str) -> None:
    """Count a failed login for this address, in one statement (no lost count when two
    workers fail at once), and start its wait."""
    key, now = _key(email), utcnow()
    # Addresses quiet for FORGET_AFTER are forgotten: their count starts anew, and no trace
    # of a mistyped address stays longer than that.
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - FORGET_AFTER)
                       .execution_options(synchronize_session=False))
    table = LoginThrottle.__table__
    failures = db.session.scalar(
        _insert()(table).values(key=key, failures=1, last_failure_at=now)
        .on_conflict_do_update(index_elements=[table.c.key],
                               set_={"failures": table.c.failures + 1, "last_failure_at": now})
        .returning(table.c.failures)
    )
    wait = wait_after(failures or 1)
    if wait:
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == key)
                           .values(locked_until=now + wait).execution_options(synchronize_session=False))


def forget(email: str) -> None:
    """A successful login or a new password: the count starts again."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == _key(email))
                       .execution_options(synchronize_session=False))


def _insert() -> Any:
    """INSERT … ON CONFLICT DO UPDATE of the database in use (both have it)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
