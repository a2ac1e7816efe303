"""Benchmark the overview pages on PostgreSQL with 1,000 partnerships.

Loads the demo plus ``--partnerships`` bulk partnerships into a fresh schema, then
times requests through the Flask test client (no network, no web server) as the
demo coordinator and the demo library admin, counting SQL statements per request.

    .venv/bin/python bench/overviews.py [--database-url URL] [--partnerships 1000]

The database is created when missing; its ``public`` schema is dropped and
re-created, so never point this at data you want to keep.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import create_engine, event, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from config import Config, normalise_database_url  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/stappenplan_bench"
COORDINATOR = "coordinator@demo.stappenplan.nl"
LIBRARY_ADMIN = "bibliotheek@demo.stappenplan.nl"


@dataclass
class Result:
    name: str
    url: str
    times_ms: list[float]
    queries: list[int]

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        """Nearest-rank 95th percentile."""
        ordered = sorted(self.times_ms)
        return ordered[max(0, round(0.95 * len(ordered)) - 1)]

    @property
    def query_range(self) -> str:
        low, high = min(self.queries), max(self.queries)
        return str(low) if low == high else f"{low}-{high}"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist yet."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def make_app(url: str, app_role: str | None = None) -> Flask:
    from stappenplan import create_app

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        WTF_CSRF_ENABLED = False  # the test client logs in with a plain form post
        MAIL_BACKEND = "memory"  # the demo sends an invitation; keep it out of the console
        DB_APP_ROLE = app_role  # row-level security role (None: connect as the table owner)
        RATELIMIT_ENABLED = False  # 100+ requests from one client in a minute are the point here

    return create_app(BenchConfig)


@contextmanager
def system_task() -> Iterator[None]:
    """Loading data is a system task: bypass row-level security explicitly when it is on."""
    try:
        from stappenplan import rls
    except ImportError:  # pragma: no cover - older trees without row-level security
        yield
        return
    with rls.system():
        yield


def load(app: Flask, partnerships: int) -> tuple[float, float]:
    """Fresh schema through the migrations, then the demo and the bulk data (seconds)."""
    from flask_migrate import upgrade

    from stappenplan import demo, demo_bulk
    from stappenplan.extensions import db

    with app.app_context(), system_task():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        started = time.perf_counter()
        demo.seed()
        seeded = time.perf_counter()
        demo_bulk.generate(partnerships)
        done = time.perf_counter()
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        db.session.remove()
    return seeded - started, done - seeded


def client_for(app: Flask, email: str) -> FlaskClient:
    from stappenplan import demo

    client = app.test_client()
    response = client.post("/inloggen", data={"email": email, "password": demo.PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"login failed for {email}: {response.status_code}")
    return client


def measure(app: Flask, name: str, client: FlaskClient, url: str, requests: int, warmup: int) -> Result:
    from stappenplan.extensions import db

    with app.app_context():
        engine = db.engine
    counter = [0]

    def count(*_args: Any) -> None:
        counter[0] += 1

    for _ in range(warmup):
        _get(client, url)
    times, queries = [], []
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(requests):
            counter[0] = 0
            started = time.perf_counter()
            _get(client, url)
            times.append((time.perf_counter() - started) * 1000)
            queries.append(counter[0])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return Result(name, url, times, queries)


def _get(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code}")
    response.get_data()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--partnerships", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--export-requests", type=int, default=10, help="timed requests per export format")
    parser.add_argument(
        "--rls", action="store_true", help="connect as the row-level security role stappenplan_app (DB_APP_ROLE)"
    )
    args = parser.parse_args(argv)

    url = normalise_database_url(args.database_url)
    if not url.startswith("postgresql"):
        raise SystemExit("this benchmark needs PostgreSQL (--database-url postgresql://...)")
    ensure_database(url)
    owner = make_app(url)
    seed_s, bulk_s = load(owner, args.partnerships)  # migrations run as the owner of the tables
    app = make_app(url, "stappenplan_app") if args.rls else owner

    from stappenplan.extensions import db
    from stappenplan.organisations.models import Organisation
    from stappenplan.partnerships.models import Partnership
    from stappenplan.workflow.models import StepInstance

    with owner.app_context():
        total = db.session.scalar(select(db.func.count(Partnership.id)))
        instances = db.session.scalar(select(db.func.count(StepInstance.id)))
        tiel = db.session.scalar(select(Organisation.public_id).where(Organisation.name.like("%vestiging Tiel")))
        db.session.remove()

    coordinator = client_for(app, COORDINATOR)
    library = client_for(app, LIBRARY_ADMIN)
    plan: list[tuple[str, FlaskClient, str, int]] = [
        ("coordinator dashboard", coordinator, "/regio", args.requests),
        ("coordinator dashboard, page 3 + filter", coordinator, "/regio?pagina=3&stil=1", args.requests),
        ("coordinator branch drill-down", coordinator, f"/regio/vestiging/{tiel}", args.requests),
        ("library admin home", library, "/start", args.requests),
        ("coordinator CSV export (all rows)", coordinator, "/regio/export.csv", args.export_requests),
        ("coordinator XLSX export (all rows)", coordinator, "/regio/export.xlsx", args.export_requests),
        ("coordinator outcomes of the year", coordinator, "/regio/resultaten", args.requests),
        ("coordinator yearly report (page)", coordinator, "/regio/jaarverslag", args.requests),
        ("coordinator yearly report (XLSX)", coordinator, "/regio/jaarverslag.xlsx", args.export_requests),
        ("coordinator yearly report (PDF)", coordinator, "/regio/jaarverslag.pdf", args.export_requests),
    ]
    results = [measure(app, name, client, path, n, args.warmup) for name, client, path, n in plan]

    report: Callable[[str], None] = print
    report(f"database      {make_url(url).render_as_string(hide_password=True)}")
    report(f"data          {total} partnerships, {instances} step instances")
    report(f"load          demo {seed_s:.1f} s, {args.partnerships} bulk partnerships {bulk_s:.1f} s")
    report(f"requests      {args.requests} timed after {args.warmup} warm-up (exports: {args.export_requests})")
    report(f"row security  {'on (DB_APP_ROLE=stappenplan_app)' if args.rls else 'off (table owner)'}")
    report("")
    report(f"{'page':<40} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for r in results:
        report(f"{r.name:<40} {r.median:>10.1f} {r.p95:>8.1f} {r.query_range:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
