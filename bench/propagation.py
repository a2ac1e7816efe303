"""Propagation: how long after the last keystroke the partner sees an edit.

Production set-up (gunicorn with gunicorn.conf.py, STAPPENPLAN_ENV=production, PostgreSQL
with the demo data), two Chromium browser contexts: the library admin of Bibliotheek Tiel
and the childcare admin of Het Kabouterhuis on their joint step-4 worksheet. The library
types ``--edits`` short edits into one text field (a keystroke every 40 ms, then a pause);
for each edit the script measures the time from the last keystroke to the moment the
partner's field shows it, and prints the median, the 95th percentile and the maximum.

    .venv/bin/python bench/propagation.py [--database-url URL] [--edits 20] [--live]

``--live`` starts the stream service next to gunicorn (``python -m stappenplan.live``) and
lets the pages listen to it; without it the app runs with ``LIVE=off`` and the pages poll.

Needs Chromium (/usr/bin/chromium or $CHROMIUM) and Playwright (requirements-dev.txt).
The database is dropped and re-created. Nothing here is asserted: it is a measurement.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load import PASSWORD, Server, _free_port, _pg_url, prepare_database  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/stappenplan_propagation"
LIBRARY = "bibliotheek@demo.stappenplan.nl"
CHILDCARE = "kabouterhuis@demo.stappenplan.nl"
FIELD = "#input-target_parents"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def worksheet_path(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(_pg_url(url))
    with engine.connect() as conn:
        public_id = conn.execute(text("""
            SELECT p.public_id FROM partnerships p JOIN organisations o ON o.id = p.childcare_id
            WHERE o.name = 'Kindcentrum Het Kabouterhuis'""")).scalar_one()
    engine.dispose()
    return f"/samenwerkingen/{public_id}/stap/4/samen"


def login(page, base: str, email: str) -> None:
    page.goto(base + "/inloggen")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")  # not the language switch
    page.wait_for_url(base + "/start")


def measure(base: str, path: str, edits: int, chromium: str) -> list[float]:
    from playwright.sync_api import sync_playwright

    latencies: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        writer = browser.new_context().new_page()
        reader = browser.new_context().new_page()
        login(writer, base, LIBRARY)
        login(reader, base, CHILDCARE)
        writer.goto(base + path)
        reader.goto(base + path)
        reader.wait_for_timeout(2500)  # both see each other on the worksheet
        field = writer.locator(FIELD)
        field.click()
        field.press("Control+a")
        field.press("Delete")
        writer.wait_for_timeout(1500)
        for n in range(1, edits + 1):
            word = f" woord{n}"
            field.press_sequentially(word, delay=40)
            typed = writer.evaluate("Date.now()")
            seen = reader.wait_for_function(
                "([sel, word]) => { const el = document.querySelector(sel);"
                " return el && el.value.endsWith(word) ? Date.now() : false; }",
                arg=[FIELD, word.strip()], polling="raf", timeout=15000).json_value()
            latencies.append(seen - typed)
            print(f"  edit {n:2d}: {seen - typed:5.0f} ms", flush=True)
            writer.wait_for_timeout(700)
        browser.close()
    return latencies


def start_stream_service(env: dict[str, str], port: int, workdir: Path):
    import subprocess
    import urllib.request

    log = (workdir / "live.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "stappenplan.live", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/live/readyz", timeout=1) as reply:
                if reply.status == 200:
                    print(f"stream service on 127.0.0.1:{port}", flush=True)
                    return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the stream service did not become ready")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--live", action="store_true", help="the stream service instead of polling")
    args = parser.parse_args(argv)
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    workdir = Path(tempfile.mkdtemp(prefix="stappenplan-propagation-"))
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DB_APP_ROLE", "TEST_DATABASE_URL"}}
    env.update(DATABASE_URL=args.database_url, STAPPENPLAN_INSTANCE=str(workdir / "instance"),
               MAIL_BACKEND="console", FLASK_APP="wsgi")
    print(f"Preparing {args.database_url} (dropped and re-created) ...", flush=True)
    prepare_database(args.database_url, 0, workdir, env)
    port = _free_port()
    live_port = _free_port()
    secret = secrets.token_hex(32)
    base = f"http://127.0.0.1:{port}"
    server = Server(dict(env, STAPPENPLAN_ENV="production", SECRET_KEY=secret, HOST="127.0.0.1",
                         PORT=str(port), LOG_FORMAT="json", MAIL_BACKEND="memory", BASE_URL=base,
                         LIVE="on" if args.live else "off", LIVE_URL=f"http://127.0.0.1:{live_port}/live"),
                    workdir / "gunicorn.log")
    stream = None
    try:
        server.wait_ready()
        if args.live:
            stream = start_stream_service(dict(env, SECRET_KEY=secret, LIVE_APP_URL=base, LIVE_ALLOW_ORIGIN=base),
                                          live_port, workdir)
        print(f"gunicorn on {base}; {args.edits} edits", flush=True)
        started = time.perf_counter()
        latencies = measure(base, worksheet_path(args.database_url), args.edits, chromium)
    finally:
        server.stop()
        if stream is not None:
            stream.terminate()
            stream.wait(timeout=10)
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(f"\nFrom the last keystroke to the partner's field ({len(latencies)} edits, "
          f"{time.perf_counter() - started:.0f} s):")
    print(f"  median {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
