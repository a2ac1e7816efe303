"""Production serving: refusing to start without secrets, health checks, JSON request
logs with request ids, cache headers for versioned static files, gunicorn settings."""

from __future__ import annotations

import json
import logging
import os
import re
import runpy
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import make_app
from tests.factories import login

ROOT = Path(__file__).resolve().parent.parent


# --- refusing to start ---------------------------------------------------------


def _start_app(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"SECRET_KEY", "DATABASE_URL", "STAPPENPLAN_ENV", "LOG_FORMAT", "BASE_URL", "TRUST_PROXY",
                          "REDIS_URL", "RATELIMIT_STORAGE_URI", "SINGLE_PROCESS"}}
    clean.update(STAPPENPLAN_INSTANCE=str(tmp_path / "instance"), **env)
    return subprocess.run([sys.executable, "-c", "import wsgi; print('started', wsgi.app.config['ENV_NAME'])"],
                          cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, ["SECRET_KEY", "DATABASE_URL", "BASE_URL"]),
        ({"SECRET_KEY": "s3cret-value", "BASE_URL": "https://stappenplan.example.nl"}, ["DATABASE_URL"]),
        ({"DATABASE_URL": "postgresql://app@db.example/stappenplan"}, ["SECRET_KEY", "BASE_URL"]),
    ],
)
def test_production_refuses_to_start_without_secrets(tmp_path: Path, env: dict[str, str],
                                                     missing: list[str]) -> None:
    result = _start_app(tmp_path, STAPPENPLAN_ENV="production", **env)
    assert result.returncode != 0
    assert "started" not in result.stdout
    message = re.search(r"RuntimeError: (.*)", result.stderr)
    assert message, result.stderr[-2000:]
    named = set(re.findall(r"\b[A-Z_]+\b", message.group(1)))
    for name in missing:
        assert name in named
    for name in {"SECRET_KEY", "DATABASE_URL", "BASE_URL"} - set(missing):
        assert name not in named


def test_production_starts_with_secrets(tmp_path: Path) -> None:
    result = _start_app(tmp_path, STAPPENPLAN_ENV="production", SECRET_KEY="s3cret-value",
                        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}", BASE_URL="https://stappenplan.example.nl",
                        SINGLE_PROCESS="1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "started production" in result.stdout


def test_development_starts_without_secrets(tmp_path: Path) -> None:
    result = _start_app(tmp_path, STAPPENPLAN_ENV="development")
    assert result.returncode == 0, result.stderr[-2000:]


# --- health checks -------------------------------------------------------------


def test_healthz_answers_without_database_or_cookies() -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/nope")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_ok_when_migrated(app: Flask) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == body["code"] and body["code"]
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://postgres@127.0.0.1:1/nope",
    "sqlite:////nonexistent-folder-stappenplan/missing/app.db",
])
def test_readyz_503_when_database_unreachable(url: str) -> None:
    response = make_app(SQLALCHEMY_DATABASE_URI=url).test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["reason"] == "database unreachable"
    assert "127.0.0.1" not in json.dumps(body) and "nonexistent" not in json.dumps(body)  # no connection details


def _sqlite_url() -> str:
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='stappenplan-ready-')) / 'app.db'}"


def test_readyz_503_when_database_not_migrated() -> None:
    response = make_app(SQLALCHEMY_DATABASE_URI=_sqlite_url()).test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["reason"] == "database not migrated" and body["database"] == [] and body["code"]


def test_readyz_503_when_migrations_are_behind() -> None:
    from flask_migrate import upgrade

    from stappenplan.core.health import code_revisions

    app = make_app(SQLALCHEMY_DATABASE_URI=_sqlite_url())
    with app.app_context():
        upgrade(revision="0001_foundation")
    assert "0001_foundation" not in code_revisions(app).heads
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["reason"] == "migrations pending"
    assert body["database"] == ["0001_foundation"]


def test_readyz_stays_ready_when_schema_is_newer() -> None:
    """A rolling deploy: the next release migrated already, this server still runs."""
    url = _sqlite_url()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    response = make_app(SQLALCHEMY_DATABASE_URI=url).test_client().get("/readyz")
    assert response.status_code == 200
    assert "newer" in response.get_json()["note"]


# --- request logs --------------------------------------------------------------


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict]]]:
    """Root logging as in production (JSON on stderr); restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    capsys.readouterr()

    def lines() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]

    yield lines
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "stappenplan.request"]


def test_json_request_log_line(world, json_logs) -> None:
    app = make_app(LOG_FORMAT="json")
    client = app.test_client()
    login(client, world.emails["lib_a"])
    json_logs()  # forget the login
    response = client.get("/start?zoek=Vlinder%20geheim&status=stil", headers={"X-Request-ID": "proxy-id-12345678"})
    response.close()  # a WSGI server closes the body; the line is written then
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "proxy-id-12345678"
    lines = json_logs()
    [line] = _request_lines(lines)
    assert line["request_id"] == "proxy-id-12345678"
    assert line["method"] == "GET" and line["path"] == "/start" and line["route"] == "/start"
    assert line["status"] == 200 and line["level"] == "INFO"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["org"] == world.ids["lib_a"]
    raw = json.dumps(lines, ensure_ascii=False)
    assert "@" not in raw and "geheim" not in raw and "Vlinder" not in raw  # no email, no query string
    assert "Bibliotheek A" not in raw  # no organisation names


def test_request_id_generated_when_missing_or_not_sane(json_logs) -> None:
    client = make_app(LOG_FORMAT="json").test_client()
    ids = []
    for header in (None, "bad id with spaces", "x" * 300, "kort", '"><script>'):
        headers = {"X-Request-ID": header} if header else {}
        response = client.get("/inloggen", headers=headers)
        response.close()
        rid = response.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
        ids.append(rid)
    assert len(set(ids)) == len(ids)
    logged = [line["request_id"] for line in _request_lines(json_logs())]
    assert logged == ids


def test_app_log_records_are_json_with_the_request_id(json_logs) -> None:
    app = make_app(LOG_FORMAT="json", SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/nope")
    response = app.test_client().get("/readyz", headers={"X-Request-ID": "ready-check-0001"})
    response.close()
    assert response.status_code == 503
    lines = json_logs()
    warning = next(line for line in lines if line["logger"] == "stappenplan" and line["level"] == "WARNING")
    assert warning["request_id"] == "ready-check-0001" and "readyz" in warning["msg"]
    [line] = _request_lines(lines)
    assert line["status"] == 503 and line["level"] == "ERROR"


def test_secret_tokens_are_masked_in_the_logged_path(app: Flask, json_logs) -> None:
    make_app(LOG_FORMAT="json").test_client().get("/wachtwoord-herstellen/SuperGeheimResetToken123").close()
    [line] = _request_lines(json_logs())
    assert line["path"] == "/wachtwoord-herstellen/[redacted]"
    assert line["route"] == "/wachtwoord-herstellen/<token>"


def test_plain_format_is_readable(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    from stappenplan.core import logging as request_logging

    root = logging.getLogger()
    level = root.level
    plain = make_app(TESTING=False, LOG_FORMAT="plain")
    try:
        plain.test_client().get("/inloggen", headers={"X-Request-ID": "plain-request-01"}).close()
        err = capsys.readouterr().err
    finally:
        request_logging.configure(app)  # the test app: removes the handler again
        root.setLevel(level)
    line = next(line for line in err.splitlines() if "stappenplan.request" in line)
    assert "GET /inloggen 200" in line and "id=plain-request-01" in line
    assert not line.lstrip().startswith("{")
    assert not any(getattr(h, "_stappenplan", False) for h in root.handlers)


# --- static files --------------------------------------------------------------


def test_versioned_static_files_are_cached_for_a_year(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/inloggen").get_data(as_text=True)
    css = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]+)"', page)
    assert css, "the page links its stylesheet with a version"
    versioned = client.get(css.group(1))
    assert versioned.status_code == 200
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    plain = client.get("/static/css/app.css")
    assert "immutable" not in plain.headers.get("Cache-Control", "")
    other = client.get("/static/css/app.css?v=0000000000")  # another release's version
    assert "immutable" not in other.headers.get("Cache-Control", "")
    for response in (versioned, plain, other):
        response.close()


# --- gunicorn settings ---------------------------------------------------------


def test_gunicorn_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "PORT", "HOST", "LOG_FORMAT", "GUNICORN_MAX_REQUESTS",
                 "SINGLE_PROCESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAPPENPLAN_ENV", "production")
    defaults = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert defaults["worker_class"] == "gthread" and defaults["preload_app"] is True
    assert defaults["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    assert defaults["bind"] == ["127.0.0.1:8000"] and defaults["accesslog"] is None
    assert defaults["max_requests"] > 0 and 0 < defaults["max_requests_jitter"] < defaults["max_requests"]
    assert "json" in defaults["logconfig_dict"]["formatters"]

    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("GUNICORN_THREADS", "8")
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("LOG_FORMAT", "plain")
    custom = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (custom["workers"], custom["threads"], custom["bind"]) == (3, 8, ["0.0.0.0:9000"])
    assert "logconfig_dict" not in custom


@pytest.mark.postgres
def test_postgresql_sessions_run_without_jit(app: Flask) -> None:
    """JIT compilation cost the dashboard's region aggregate 25 ms; the app switches it off."""
    from sqlalchemy import text

    from stappenplan.extensions import db

    with app.app_context():
        assert db.session.execute(text("SHOW jit")).scalar_one() == "off"
    kept = make_app(JIT_OFF=False)
    with kept.app_context():
        assert db.session.execute(text("SHOW jit")).scalar_one() == "on"


# --- refusing to start: configuration checked inside create_app ------------------------------------


def _production_app(monkeypatch: pytest.MonkeyPatch, **config: object) -> Flask:
    """create_app in production mode (not TESTING), with the required secrets in the environment."""
    from stappenplan import create_app

    monkeypatch.setenv("SECRET_KEY", "s3cret-value")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + tempfile.mkdtemp(prefix="stappenplan-prod-") + "/app.db")
    settings: dict[str, object] = {
        "ENV_NAME": "production", "TESTING": False, "LOG_FORMAT": "plain",
        "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"],
        "BASE_URL": "https://stappenplan.example.nl", "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    settings.update(config)
    return create_app(settings)


def test_production_refuses_to_start_without_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="BASE_URL"):
        _production_app(monkeypatch, BASE_URL="")


@pytest.mark.parametrize("url", ["stappenplan.example.nl", "ftp://stappenplan.example.nl", "https://",
                                 "https://stappenplan.example.nl/?next=x"])
def test_production_refuses_a_base_url_that_is_not_a_site(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(RuntimeError, match="BASE_URL"):
        _production_app(monkeypatch, BASE_URL=url)


def test_production_starts_with_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _production_app(monkeypatch)
    assert app.config["BASE_URL"] == "https://stappenplan.example.nl"


@pytest.mark.parametrize("storage", [
    {"REDIS_URL": None},
    {"REDIS_URL": None, "RATELIMIT_STORAGE_URI": "memory://"},
    {"REDIS_URL": "redis://127.0.0.1:6379/0", "RATELIMIT_STORAGE_URI": "memory://"},
], ids=["nothing", "memory", "memory-over-redis"])
def test_production_refuses_to_start_with_rate_limits_per_process(monkeypatch: pytest.MonkeyPatch,
                                                                  storage: dict[str, object]) -> None:
    with pytest.raises(RuntimeError, match="REDIS_URL.*SINGLE_PROCESS"):
        _production_app(monkeypatch, **storage)


def test_production_with_one_process_may_keep_rate_limits_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _production_app(monkeypatch, REDIS_URL=None, SINGLE_PROCESS=True)
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_production_keeps_rate_limits_in_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _production_app(monkeypatch, REDIS_URL="redis://redis.internal:6379/0")
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://redis.internal:6379/0"


def test_gunicorn_runs_one_worker_when_the_app_says_single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    monkeypatch.setenv("SINGLE_PROCESS", "1")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"] == 1



def test_gunicorn_compiles_every_template_in_the_master_before_forking(app: Flask,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """preload_app: ``when_ready`` compiles the templates once, so a worker (also one
    recycled after max_requests) renders its first pages without compiling anything."""
    import gc
    from types import SimpleNamespace

    from jinja2 import Environment

    messages: list[str] = []
    frozen: list[bool] = []
    monkeypatch.setenv("GUNICORN_TUNE_MALLOC", "0")  # malloc: see the test below, in a process of its own
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))  # the test process keeps collecting
    server = SimpleNamespace(cfg=SimpleNamespace(preload_app=True), app=SimpleNamespace(wsgi=lambda: app),
                             log=SimpleNamespace(info=lambda msg, *args: messages.append(msg % args)))
    runpy.run_path(str(ROOT / "gunicorn.conf.py"))["when_ready"](server)
    names = [n for n in app.jinja_env.list_templates() if n.endswith((".html", ".txt"))]
    assert len(names) > 40 and messages == [f"compiled {len(names)} templates before forking the workers"]
    assert frozen == [True], "what the master built is frozen before the workers fork"
    assert app.config["STATIC_VERSION"]

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("a template was compiled after the warm-up")

    monkeypatch.setattr(Environment, "compile", no_compiling)
    client = app.test_client()
    assert client.get("/inloggen").status_code == 200
    assert client.get("/wachtwoord-vergeten").status_code == 200


def test_gunicorn_master_tunes_malloc_so_big_blocks_go_back_to_the_system() -> None:
    """After ``_tune_malloc`` a freed 19 MiB block (Argon2id's memory at every login) is
    returned at once; with glibc's default the threshold grows past it after the first
    free, and the next such block stays with the process."""

    probe = f"""
import runpy, ctypes
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024
tune = {{}}
if TUNE:
    conf = runpy.run_path({str(ROOT / "gunicorn.conf.py")!r})
    conf["_tune_malloc"](type("Log", (), {{"info": staticmethod(print)}})())
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def block():
    p = libc.malloc(19 << 20)
    ctypes.memset(p, 1, 19 << 20)
    return p
libc.free(block())
before = rss()
p = block()
libc.free(p)
print("kept", rss() - before)
"""
    results = {}
    for tune in (False, True):
        done = subprocess.run([sys.executable, "-c", f"TUNE = {tune}\n" + probe], capture_output=True, text=True,
                              check=True, env={**os.environ, "MALLOC_ARENA_MAX": "", "GUNICORN_TUNE_MALLOC": "1"})
        results[tune] = done.stdout
    assert "malloc: 2 arenas, blocks from 128 KiB mmapped" in results[True]
    kept = {tune: int(out.split("kept")[1]) for tune, out in results.items()}
    assert kept[False] >= 15, kept  # the default keeps the second block
    assert kept[True] <= 2, kept


# --- /readyz details: loopback or token only ---------------------------------------------------------

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def test_readyz_shows_only_the_status_to_other_clients(app: Flask) -> None:
    client = app.test_client()
    outside = client.get("/readyz", environ_base=OUTSIDE)
    assert outside.status_code == 200 and outside.get_json() == {"status": "ok"}
    for loopback in ("127.0.0.1", "::1"):
        inside = client.get("/readyz", environ_base={"REMOTE_ADDR": loopback}).get_json()
        assert inside["status"] == "ok" and inside["database"] and inside["code"], loopback


def test_readyz_failure_shows_only_the_status_to_other_clients() -> None:
    response = make_app(SQLALCHEMY_DATABASE_URI=_sqlite_url()).test_client().get("/readyz", environ_base=OUTSIDE)
    assert response.status_code == 503 and response.get_json() == {"status": "unavailable"}


def test_readyz_shows_details_with_the_token(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/readyz", environ_base=OUTSIDE, headers={"X-Readyz-Token": "x"}).get_json() == {
        "status": "ok"}, "no token configured: no header opens the details"
    app.config["READYZ_TOKEN"] = "readyz-token-of-the-monitoring"
    for wrong in ("", "readyz-token-of-the-monitorin", "READYZ-TOKEN-OF-THE-MONITORING"):
        response = client.get("/readyz", environ_base=OUTSIDE, headers={"X-Readyz-Token": wrong})
        assert response.get_json() == {"status": "ok"}, wrong
    right = client.get("/readyz", environ_base=OUTSIDE, headers={"X-Readyz-Token": "readyz-token-of-the-monitoring"})
    assert right.get_json()["database"] and right.get_json()["code"]


def test_readyz_loopback_is_the_address_after_the_trusted_proxies(_migrated: None) -> None:
    direct = make_app().test_client()  # TRUST_PROXY=0: a forged X-Forwarded-For changes nothing
    forged = direct.get("/readyz", environ_base=OUTSIDE, headers={"X-Forwarded-For": "127.0.0.1"})
    assert forged.get_json() == {"status": "ok"}
    proxied = make_app(TRUST_PROXY=1).test_client()  # nginx on the same host: the client is in X-Forwarded-For
    outside = proxied.get("/readyz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.get_json() == {"status": "ok"}
    monitoring = proxied.get("/readyz", headers={"X-Forwarded-For": "127.0.0.1"})  # a check on the host itself
    assert "database" in monitoring.get_json()
