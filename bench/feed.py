"""Time the busiest per-user requests in-process: the idle change feed, autosave, pages.

Loads the demo plus ``--partnerships`` bulk partnerships into a fresh PostgreSQL schema
(as ``bench/overviews.py`` does), then sends requests through the Flask test client as
the demo library admin on the demo's shared step 4 (Tiel + Het Kabouterhuis), and as the
demo coordinator for the coordinator's feed and dashboard. Prints the median and 95th
percentile in ms, the median CPU time of this process (the app's work, the database's
not included) and the SQL statements per request (transaction control included).

    .venv/bin/python bench/feed.py [--database-url URL] [--partnerships 100] [--rls]

Wall-clock figures are noisy on a shared machine; CPU time less so; the statement counts are exact.
The database's ``public`` schema is dropped and re-created: never point it at data you
want to keep.
"""

from __future__ import annotations

import argparse
import cProfile
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from flask.testing import FlaskClient  # noqa: E402
from overviews import COORDINATOR, LIBRARY_ADMIN, client_for, ensure_database, load, make_app  # noqa: E402
from sqlalchemy import event, select  # noqa: E402

from config import normalise_database_url  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/stappenplan_bench"
VERSION = re.compile(r'id="v-target_parents"[^>]*value="(\d+)"')


def timed(engine: Any, requests: int, warmup: int,
          send: Callable[[], None]) -> tuple[list[float], list[int], list[float]]:
    """Run ``send`` warm-up + ``requests`` times; per timed request: ms, statements and
    the CPU ms of this process (the app's own work, without the database's)."""
    counter = [0]

    def count(*_args: Any) -> None:
        counter[0] += 1

    for _ in range(warmup):
        send()
    times, statements, cpu = [], [], []
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(requests):
            counter[0] = 0
            started, started_cpu = time.perf_counter(), time.process_time()
            send()
            cpu.append((time.process_time() - started_cpu) * 1000)
            times.append((time.perf_counter() - started) * 1000)
            statements.append(counter[0])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return times, statements, cpu


def expect(client: FlaskClient, method: str, url: str, codes: set[int], **kwargs: Any) -> str:
    response = client.open(url, method=method, **kwargs)
    body = response.get_data(as_text=True)
    if response.status_code not in codes:
        raise SystemExit(f"{method} {url}: {response.status_code} {body[:300]}")
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--partnerships", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rls", action="store_true", help="connect as the row-level security role stappenplan_app")
    parser.add_argument("--no-load", action="store_true", help="reuse the data of the previous run")
    parser.add_argument("--only", help="comma-separated start of request names, e.g. autosave,worksheet")
    parser.add_argument("--profile", type=Path, help="write a cProfile file per request kind into this folder")
    args = parser.parse_args(argv)

    url = normalise_database_url(args.database_url)
    if not url.startswith("postgresql"):
        raise SystemExit("this benchmark needs PostgreSQL (--database-url postgresql://...)")
    ensure_database(url)
    owner = make_app(url)
    if not args.no_load:
        load(owner, args.partnerships)
    app = make_app(url, "stappenplan_app") if args.rls else owner

    from stappenplan.extensions import db
    from stappenplan.organisations.models import Organisation
    from stappenplan.partnerships.models import Partnership

    with owner.app_context():
        pid = db.session.scalar(
            select(Partnership.public_id)
            .join(Organisation, Organisation.id == Partnership.childcare_id)
            .where(Organisation.name == "Kindcentrum Het Kabouterhuis"))
        db.session.remove()
    with app.app_context():
        engine = db.engine

    library = client_for(app, LIBRARY_ADMIN)
    coordinator = client_for(app, COORDINATOR)
    sheet = f"/samenwerkingen/{pid}/stap/4/samen"
    page = expect(library, "GET", sheet, {200})
    seq = re.search(r'id="sheet-seq" name="seq" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    sig = re.search(r'id="presence-sig" name="presence" value="([0-9a-f]*)"', page).group(1)  # type: ignore[union-attr]
    signed = re.search(r'id="sheet-signed" name="signed" value="([a-z.]*)"', page).group(1)  # type: ignore[union-attr]
    feed = f"{sheet}/wijzigingen?seq={seq}&editing=&presence={sig}&status=open&signed={signed}"
    coord_page = expect(coordinator, "GET", sheet, {200})
    coord_sig = re.search(r'id="presence-sig" name="presence" value="([0-9a-f]*)"', coord_page).group(1)  # type: ignore[union-attr]
    coord_feed = f"{sheet}/wijzigingen?seq={seq}&editing=&presence={coord_sig}&status=open&signed={signed}"
    etag_box: list[str] = []

    def feed_304() -> None:
        response = library.get(feed, headers={"If-None-Match": etag_box[0]} if etag_box else {})
        if response.headers.get("ETag") and not etag_box:
            etag_box.append(response.headers["ETag"])

    version = [0]

    def autosave() -> None:
        body = expect(library, "POST", f"{sheet}/vraag/target_parents", {200},
                      data={"q-target_parents": f"bench {version[0] + 1}", "v-target_parents": version[0]},
                      headers={"HX-Request": "true"})
        found = VERSION.search(body)
        if found is None:
            raise SystemExit(f"autosave: no version in {body[:300]}")
        version[0] = int(found.group(1))

    # The version the first save must start from.
    current = expect(library, "GET", sheet, {200})
    found = VERSION.search(current)
    version[0] = int(found.group(1)) if found else 0

    plan: list[tuple[str, Callable[[], None]]] = [
        ("change feed, idle (library)", lambda: expect(library, "GET", feed, {204})),
        ("change feed, idle (coordinator)", lambda: expect(coordinator, "GET", coord_feed, {204})),
        ("change feed, If-None-Match", feed_304),
        ("autosave", autosave),
        ("worksheet page", lambda: expect(library, "GET", sheet, {200})),
        ("partnership page", lambda: expect(library, "GET", f"/samenwerkingen/{pid}", {200})),
        ("library home", lambda: expect(library, "GET", "/start", {200})),
        ("coordinator dashboard", lambda: expect(coordinator, "GET", "/regio", {200})),
        ("healthz", lambda: expect(library, "GET", "/healthz", {200})),
    ]
    print(f"{'request':<34} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>7} {'statements':>11}")
    for name, send in plan:
        if args.only and not any(name.startswith(part) for part in args.only.split(",")):
            continue
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            profiler = cProfile.Profile()
            profiler.enable()
        times, statements, cpu = timed(engine, args.requests, args.warmup, send)
        if args.profile:
            profiler.disable()
            profiler.dump_stats(args.profile / (re.sub(r"\W+", "-", name).strip("-") + ".prof"))
        ordered = sorted(times)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        low, high = min(statements), max(statements)
        print(f"{name:<34} {statistics.median(times):>10.2f} {p95:>8.2f} {statistics.median(cpu):>7.2f} "
              f"{str(low) if low == high else f'{low}-{high}':>11}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
