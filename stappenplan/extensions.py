"""Flask extensions, created once and bound in ``create_app``."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask_babel import Babel
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention."""

    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)

# The base class of every model: db.Model at run time; for type checkers the typed Base
# (Flask-SQLAlchemy's db.Model is created at run time, so mypy cannot see it).
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
htmx = HTMX()


def utcnow() -> datetime:
    """Timezone-aware now; stored as naive UTC for SQLite/PostgreSQL parity."""
    return datetime.now(UTC).replace(tzinfo=None)


def local_today() -> date:
    """Today where the organisations are (the server may run in UTC): the day practice,
    reminders and calendars reckon with."""
    return datetime.now(ZoneInfo("Europe/Amsterdam")).date()


def new_public_id() -> str:
    """A non-guessable identifier for URLs (128 bits of randomness)."""
    return secrets.token_urlsafe(16)
