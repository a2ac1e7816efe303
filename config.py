"""Settings, read from the environment.

SQLite under ``instance/`` is the embedded default so `make run` works anywhere;
``DATABASE_URL`` switches to PostgreSQL (psycopg 3).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
INSTANCE = Path(os.environ.get("STAPPENPLAN_INSTANCE", ROOT / "instance"))


def normalise_database_url(url: str) -> str:
    """Make plain ``postgres://`` URLs use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


_TRUE = {"1", "true", "yes", "on", "ja"}
_FALSE = {"0", "false", "no", "off", "nee"}


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in _TRUE


def proxy_hops(name: str, default: int) -> int:
    """The number of reverse proxies in front of the app (``TRUST_PROXY``).

    A whole number; the yes/no words of older configurations count as 1 and 0. Anything
    else stops the start: a wrong count either trusts a forged ``X-Forwarded-For`` or
    puts every client behind the proxy's address.
    """
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value.isascii() and value.isdigit():
        return int(value)
    if value in _TRUE:
        return 1
    if value in _FALSE:
        return 0
    raise ValueError(f"{name} must be the number of proxies in front of the app (0, 1, 2 ...), not {value!r}")


class Config:
    """Default (development) configuration."""

    ENV_NAME = os.environ.get("STAPPENPLAN_ENV", "development")
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-secret-change-me")
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'stappenplan.db'}")
    )
    # No ping on every checkout: core/pool.py pings a connection that rested DB_PING_AFTER_IDLE s.
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    DB_PING_AFTER_IDLE = float(os.environ.get("DB_PING_AFTER_IDLE", "2"))
    # PostgreSQL: switch JIT compilation off for the app's sessions (see create_app).
    JIT_OFF = _bool("JIT_OFF", True)
    BABEL_DEFAULT_LOCALE = "nl"
    BABEL_DEFAULT_TIMEZONE = "Europe/Amsterdam"
    LANGUAGES = ("nl", "en")
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    REMEMBER_COOKIE_DURATION = 30 * 24 * 3600
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024

    # Mail: "console" prints and keeps a copy under instance/mail; "smtp" sends.
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "console")
    MAIL_FROM = os.environ.get("MAIL_FROM", "Stappenplan <noreply@stappenplan.local>")
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "587"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", True)
    MAIL_DIR = str(INSTANCE / "mail")
    # The site's address as users reach it (https://stappenplan.example.nl, a path prefix
    # allowed). Every link in every e-mail is built from it, never from the request's Host
    # or X-Forwarded-Host. Required in production; elsewhere unset means
    # http://127.0.0.1:5000 (core/web.py: DEFAULT_BASE_URL).
    BASE_URL = os.environ.get("BASE_URL", "")
    # E-mail leaves through the outbox (stappenplan/outbox). Inline: delivered right after
    # the commit that made it (development, so `make run` shows mails at once); otherwise
    # `flask deliver --loop` (or cron) sends it. Production default: off.
    OUTBOX_INLINE = _bool("OUTBOX_INLINE", True)
    MAIL_ID_DOMAIN = os.environ.get("MAIL_ID_DOMAIN", "stappenplan.local")

    INVITATION_DAYS = 14
    # Invitations (partners and colleagues together) one organisation may send per 24 hours.
    INVITATIONS_PER_DAY = int(os.environ.get("INVITATIONS_PER_DAY", "100"))
    # How long the link that confirms a self-registered account's e-mail address works.
    CONFIRM_EMAIL_DAYS = 7
    PASSWORD_RESET_SECONDS = 3600
    STALLED_DAYS = int(os.environ.get("STALLED_DAYS", "30"))
    # A stalled partnership reminded this many days ago, with no activity since, is marked.
    REMINDER_FOLLOW_UP_DAYS = int(os.environ.get("REMINDER_FOLLOW_UP_DAYS", "14"))
    # The coordinator dashboard's region-wide figures (counts per step, stalled list,
    # months) are kept this many seconds per app process; the matrix itself is always
    # read live, and a branch joining or leaving a region changes the cache key at once
    # (Region.version). 0 switches the cache off (docs/deployment.md).
    DASHBOARD_CACHE_SECONDS = int(os.environ.get("DASHBOARD_CACHE_SECONDS", "30"))
    # The yearly report's page and PDF list the partnerships one by one up to this many;
    # above it, the counts per branch and step, and the whole list in the XLSX.
    REPORT_LIST_LIMIT = int(os.environ.get("REPORT_LIST_LIMIT", "200"))
    #: Step 5's theme counts are shown only when at least this many conversations lie
    #: behind them: with fewer, a count can describe one family.
    THEME_MIN_CONVERSATIONS = int(os.environ.get("THEME_MIN_CONVERSATIONS", "5"))
    #: A coordinator's region-wide themes (or one branch's) are shown only when the
    #: conversations of at least this many partnerships lie behind them: never the
    #: themes of one partnership, which coordinators may not read.
    THEME_MIN_PARTNERSHIPS = int(os.environ.get("THEME_MIN_PARTNERSHIPS", "2"))
    # Rate limits are kept in Redis when REDIS_URL is set (shared by all app servers),
    # otherwise in the memory of each process; RATELIMIT_STORAGE_URI (any storage of the
    # `limits` package) wins over REDIS_URL. Production refuses per-process counting
    # unless SINGLE_PROCESS says the app runs as one process (one server, one worker).
    REDIS_URL = os.environ.get("REDIS_URL") or None
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or None
    SINGLE_PROCESS = _bool("SINGLE_PROCESS", False)
    # How many reverse proxies in front of the app set X-Forwarded-For/Proto/Host
    # (werkzeug's ProxyFix counts). 0: those headers are ignored.
    TRUST_PROXY = proxy_hops("TRUST_PROXY", 0)
    # /readyz shows its reasons and migration ids to loopback clients, and to requests whose
    # X-Readyz-Token header equals this (monitoring elsewhere); others get the status only.
    READYZ_TOKEN = os.environ.get("READYZ_TOKEN") or None
    # PostgreSQL row-level security: the role the application switches to (no BYPASSRLS).
    # Leave it unset for `flask db upgrade`, which runs as the owner of the tables.
    DB_APP_ROLE = os.environ.get("DB_APP_ROLE") or None
    # Step-5 conversation records are removed this many months after a cycle closes.
    RECORDS_RETENTION_MONTHS = int(os.environ.get("RECORDS_RETENTION_MONTHS", "12"))
    # Logs (stappenplan/core/logging.py): "json" (one object per line) or "plain".
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

    # Live worksheets (stappenplan/live, docs/deployment.md): an open worksheet listens to
    # a stream of the stream service and fetches the change feed only when it announces
    # news. LIVE=off: no stream, the pages poll the feed as before. LIVE_URL: the stream
    # service as browsers reach it (nginx: the /live/ path of the site; development: its
    # own port, which the Content-Security-Policy then allows).
    LIVE = _bool("LIVE", True)
    LIVE_URL = os.environ.get("LIVE_URL", "/live").rstrip("/")

    # Argon2id parameters: OWASP's "m=19 MiB, t=2, p=1" profile. The RFC 9106 low-memory
    # profile (64 MiB) pushed a worker past 150 MB when a few logins ran at once (gthread).
    # Older hashes still verify and are re-hashed with these settings at the next login.
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_COST = 19456
    ARGON2_PARALLELISM = 1


class ProductionConfig(Config):
    """Production: secure cookies; SECRET_KEY and DATABASE_URL are required."""

    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    TRUST_PROXY = proxy_hops("TRUST_PROXY", 1)
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "smtp")
    OUTBOX_INLINE = _bool("OUTBOX_INLINE", False)
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")


class TestConfig(Config):
    """Tests: cheap password hashing, mail kept in memory."""

    TESTING = True
    DASHBOARD_CACHE_SECONDS = 0  # figures must follow each change at once (one test turns it on)
    MAIL_BACKEND = "memory"
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024
    ARGON2_PARALLELISM = 1
    SERVER_NAME = None
    BASE_URL = ""  # links use the development default, whatever the environment says
    TRUST_PROXY = 0
    # Tests log in many times a minute from one address; test_security turns limits on.
    RATELIMIT_ENABLED = False
    # Unexpected exceptions fail the test instead of becoming a friendly 500 page.
    PROPAGATE_EXCEPTIONS_IN_TESTS = True
    LOG_FORMAT = "plain"  # readable test output, whatever the environment says
    # Every kept fragment is rendered again and compared (core/templating.fragment).
    FRAGMENT_VERIFY = True
    # No stream service runs beside the test server; tests/test_live*.py start one.
    LIVE = False


def config_for_env() -> type[Config]:
    """Pick the configuration class from STAPPENPLAN_ENV."""
    env = os.environ.get("STAPPENPLAN_ENV", "development")
    return ProductionConfig if env == "production" else Config
