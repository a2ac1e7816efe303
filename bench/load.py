"""Load test: gunicorn (gunicorn.conf.py) on PostgreSQL with the demo plus 1,000 partnerships,
driven over loopback by a separate load-generator process with 20 concurrent users.

    .venv/bin/python bench/load.py            # or: bench/run.sh, make bench
    .venv/bin/python bench/load.py --duration 10 --users 20 --reuse --profile

What it does, in order:

1. creates a fresh PostgreSQL database (``--database-url``, default
   postgresql://postgres@127.0.0.1:5432/stappenplan_load; **dropped and re-created**
   unless ``--reuse``), runs the migrations and ``flask seed-demo --partnerships 1000``;
2. starts gunicorn with gunicorn.conf.py exactly as in production (STAPPENPLAN_ENV=
   production, JSON logs into a file) except that rate limits are off
   (``bench.load:bench_app()``): 20 closed-loop users save far more often than the
   per-user autosave limit allows;
3. logs in the users it needs, then runs each scenario for ``--warmup`` + ``--duration``
   seconds (at most ``--max-requests`` requests) from a second process (threads with
   keep-alive ``http.client`` connections, loopback only), in two passes:

   * **capacity**: no think time, every user sends its next request as soon as it has
     the answer. This measures throughput (and its ratio to the bare route); the
     latency is then simply 20 users divided by the throughput (Little's law).
   * **paced** (``--paced``, 1 s): every user waits 0.5-1.5 s between requests, i.e. 20
     people who each save, open a page or poll once a second - far busier than people
     typing into a worksheet (autosave fires 1 s after the last keystroke, the change
     feed polls every 3 s). This measures the latency those users get.
4. counts SQL statements per request in-process (Flask test client + a SQLAlchemy
   event listener), reads the peak RSS of every gunicorn worker (VmHWM in
   /proc/<pid>/status, reset per scenario through /proc/<pid>/clear_refs) and prints
   one table per pass with the targets. ``--profile`` adds a pyinstrument profile per
   page scenario (requirements-bench.txt).

The load generator runs on the same 2 cores as gunicorn and PostgreSQL, so the
numbers are a lower bound for a machine with a separate load balancer and database.
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import multiprocessing
import os
import random
import re
import runpy
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/stappenplan_load"
BIN = Path(sys.executable).parent
PASSWORD = "demo-stappenplan-2026"  # stappenplan.demo.PASSWORD (bulk users share it)
COORDINATOR = "coordinator@demo.stappenplan.nl"
KEY = "target_parents"  # a text question of the joint step-4 worksheet
VERSION_RE = re.compile(r'<input[^>]*\bid="v-' + KEY + r'"[^>]*\bvalue="(\d+)"')

# Targets (20 concurrent users, 2 cores): p95 in ms of the paced pass, and throughput in the
# capacity pass as a share of the bare route in the same run (the performance issue's table).
P95_TARGETS = {"autosave": 50, "worksheet": 100, "partnership": 100, "library home": 250, "coordinator": 250,
               "report": 250}
RATIO_TARGETS = {"feed": 0.50, "autosave": 0.25, "worksheet": 0.20, "partnership": 0.20, "library home": 0.12,
                 "coordinator": 0.08}
MEMORY_TARGET_MB = 150
REPORT_URL = "/regio/jaarverslag"


def bench_app():  # gunicorn app factory: `gunicorn 'bench.load:bench_app()'`
    """The production app with rate limits off (closed-loop users exceed the per-user limits)."""
    from stappenplan import create_app

    return create_app({"RATELIMIT_ENABLED": False})


# --- database ----------------------------------------------------------------


def _pg_url(url: str) -> str:
    from config import normalise_database_url

    return normalise_database_url(url)


def prepare_database(url: str, partnerships: int, workdir: Path, env: dict[str, str]) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(_pg_url(url))
    if not parsed.database or parsed.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must name a PostgreSQL database")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    log = workdir / "seed.log"
    for step, argv in (("migrations", ["db", "upgrade"]),
                       ("demo data", ["seed-demo", "--partnerships", str(partnerships)])):
        started = time.perf_counter()
        with log.open("a") as out:
            done = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *argv], cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
        if done.returncode:
            raise SystemExit(f"{step} failed, see {log}")
        print(f"  {step}: {time.perf_counter() - started:.1f} s", flush=True)
    # `seed-demo --partnerships` runs ANALYZE itself: fresh bulk data has no planner statistics
    # until autovacuum gets to it (e.g. 63 ms instead of 13 ms for /regio's biggest query).


@dataclass
class Fixtures:
    """Who does what: one step-4 partnership (and its library admin) per virtual user."""

    sheets: list[tuple[str, str]]  # (partnership public id, library admin email)
    home_user: str
    home_partnerships: int
    total_partnerships: int


def find_fixtures(url: str, users: int) -> Fixtures:
    from sqlalchemy import create_engine, text

    engine = create_engine(_pg_url(url))
    with engine.connect() as conn:
        sheets = conn.execute(text("""
            SELECT DISTINCT ON (p.id) p.public_id, u.email
            FROM partnerships p
            JOIN cycles c ON c.partnership_id = p.id
                 AND c.number = (SELECT max(c2.number) FROM cycles c2 WHERE c2.partnership_id = p.id)
            JOIN step_instances s ON s.cycle_id = c.id AND s.step = 4 AND s.slot = 'joint' AND s.status = 'open'
            JOIN memberships m ON m.organisation_id = p.library_id AND m.role = 'admin'
            JOIN users u ON u.id = m.user_id
            ORDER BY p.id, u.id LIMIT :n"""), {"n": users}).all()
        home = conn.execute(text("""
            SELECT u.email, count(p.id) AS n
            FROM partnerships p
            JOIN memberships m ON m.organisation_id = p.library_id AND m.role = 'admin'
            JOIN users u ON u.id = m.user_id
            GROUP BY u.id, u.email ORDER BY n DESC, u.id LIMIT 1""")).one()
        total = conn.execute(text("SELECT count(*) FROM partnerships")).scalar_one()
    engine.dispose()
    if len(sheets) < users:
        raise SystemExit(f"only {len(sheets)} partnerships with an open joint step 4; need {users}")
    return Fixtures([(r[0], r[1]) for r in sheets], home[0], home[1], total)


# --- gunicorn ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = int(env["PORT"])
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "bench.load:bench_app()"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited, see {self.log}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"gunicorn did not become ready, see {self.log}")

    def workers(self) -> list[int]:
        """Pids of the worker processes (children of the master)."""
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _status_kb(pid: int, field_name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class MemorySampler:
    """Peak RSS of each gunicorn worker, sampled while a scenario runs.

    VmHWM is reset at the start of each scenario (writing 5 to clear_refs), so the
    peak belongs to that scenario; workers recycled by max_requests are sampled
    while they live.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peaks: dict[int, int] = {}
        self.pids_seen: set[int] = set()
        self.reset_ok = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.peaks = {}
        self.pids_seen = set()
        for pid in self.server.workers():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                self.reset_ok = False
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for pid in self.server.workers():
            self.pids_seen.add(pid)
            hwm = _status_kb(pid, "VmHWM")
            if hwm:
                self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def stop(self) -> float:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        return max(self.peaks.values(), default=0) / 1024

    def pss_mb(self) -> float:
        """Largest proportional set size of a worker now: its RSS minus what it shares with the
        master and its siblings (preload_app), i.e. what one more worker really costs."""
        values = []
        for pid in self.server.workers():
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        values.append(int(line.split()[1]))
            except OSError:
                pass
        return max(values, default=0) / 1024


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime (and the reaped children's cutime + cstime) of a process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: workers that exited
    return ticks / TICK


class CpuMeter:
    """CPU time used by the gunicorn workers and by this database's PostgreSQL backends.

    Independent of what else runs on the machine, unlike latency and throughput.
    Workers that exit are counted through the master's cutime/cstime; backends are
    sampled every half second, so one that closes in between loses at most that much.
    """

    def __init__(self, server: Server, url: str) -> None:
        from sqlalchemy import create_engine

        self.server = server
        self.engine = create_engine(_pg_url(url), pool_size=1)
        self.start_app = 0.0
        self.backends: dict[int, tuple[float, float]] = {}  # pid -> (first, last) CPU seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def app(self) -> float:
        master = self.server.process.pid
        return _cpu_seconds(master, children=True) - _cpu_seconds(master) + sum(
            _cpu_seconds(pid) for pid in self.server.workers())

    def _sample_db(self, first: bool = False) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND pid <> pg_backend_pid()")).scalars().all()
        for pid in pids:
            used = _cpu_seconds(pid)
            start = self.backends.get(pid, (used if first else 0.0, 0.0))[0]
            self.backends[pid] = (start, used)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample_db()

    def start(self) -> None:
        self.backends = {}
        self._sample_db(first=True)
        self.start_app = self.app()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        used_app = self.app() - self.start_app
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample_db()
        return used_app, sum(max(0.0, last - first) for first, last in self.backends.values())


# --- HTTP --------------------------------------------------------------------


@dataclass
class Session:
    cookie: str
    token: str = ""


def _request(port: int, method: str, path: str, *, cookie: str = "", form: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, list[str]], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        sent = dict(headers or {})
        body = urlencode(form) if form is not None else None
        if form is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie:
            sent["Cookie"] = cookie
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, {"set-cookie": response.headers.get_all("Set-Cookie") or []}, text
    finally:
        conn.close()


def _cookies(raw: list[str], jar: dict[str, str]) -> dict[str, str]:
    for line in raw:
        parsed = SimpleCookie()
        parsed.load(line)
        for name, morsel in parsed.items():
            jar[name] = morsel.value
    return jar


def login(port: int, email: str) -> Session:
    status, headers, page = _request(port, "GET", "/inloggen")
    jar = _cookies(headers["set-cookie"], {})
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    if status != 200 or not token:
        raise SystemExit(f"login page: {status}")
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    status, headers, body = _request(port, "POST", "/inloggen", cookie=cookie,
                                     form={"csrf_token": html.unescape(token.group(1)), "email": email,
                                           "password": PASSWORD})
    if status != 302:
        raise SystemExit(f"login as {email} failed: {status} {body[:200]}")
    _cookies(headers["set-cookie"], jar)
    return Session("; ".join(f"{k}={v}" for k, v in jar.items()))


def _input(page: str, id_: str) -> str:
    found = re.search(r'<input[^>]*\bid="' + re.escape(id_) + r'"[^>]*\bvalue="([^"]*)"', page)
    if not found:
        raise SystemExit(f"no input #{id_} on the page")
    return html.unescape(found.group(1))


def open_sheet(port: int, session: Session, pid: str) -> dict[str, str]:
    status, headers, page = _request(port, "GET", f"/samenwerkingen/{pid}/stap/4/samen", cookie=session.cookie)
    if status != 200:
        raise SystemExit(f"worksheet {pid}: {status}")
    if headers["set-cookie"]:  # as a browser would
        jar = _cookies(headers["set-cookie"], dict(part.split("=", 1) for part in session.cookie.split("; ")))
        session.cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    token = re.search(r"hx-headers='([^']*)'", page)
    if not token:
        raise SystemExit("no hx-headers on the worksheet page")
    session.token = json.loads(html.unescape(token.group(1)))["X-CSRFToken"]
    return {"version": _input(page, f"v-{KEY}"), "seq": _input(page, "sheet-seq"),
            "presence": _input(page, "presence-sig"), "status": _input(page, "sheet-status"),
            "signed": _input(page, "sheet-signed")}


# --- the load generator (runs in its own process) ------------------------------


@dataclass
class User:
    """One virtual user: what it requests, with which cookie."""

    method: str
    path: str
    cookie: str = ""
    expect: int = 200
    autosave: dict[str, Any] | None = None  # {"version": int, "token": str, "label": str}


@dataclass
class Plan:
    port: int
    users: list[User]
    start_at: float  # time.time() when all processes begin (warm-up)
    warmup: float
    duration: float
    max_requests: int
    think: float = 0.0


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    first_done: float = 0.0
    last_done: float = 0.0
    unexpected: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    reconnects: int = 0


def _drive(plan: Plan, out: Any) -> None:
    """Run the users of this process in threads; send one Outcome back."""
    measure_from = plan.start_at + plan.warmup
    measure_to = measure_from + plan.duration
    outcome = Outcome(first_done=measure_to, last_done=measure_from)
    lock = threading.Lock()
    count = [0]

    def run(user: User, index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=60)
        local: list[float] = []
        unexpected: dict[str, int] = {}
        conflicts = reconnects = 0
        sequence = 0
        pacing = random.Random(index)
        while time.time() < plan.start_at:
            time.sleep(0.001)
        while True:
            now = time.time()
            if now >= measure_to:
                break
            with lock:
                if count[0] >= plan.max_requests:
                    break
            headers = {"Cookie": user.cookie} if user.cookie else {}
            body = None
            if user.autosave is not None:
                sequence += 1
                body = urlencode({f"q-{KEY}": f"Ouders van groep {user.autosave['label']}, versie {sequence}",
                                  f"v-{KEY}": str(user.autosave["version"])})
                headers.update({"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true",
                                "X-CSRFToken": user.autosave["token"]})
            for attempt in (1, 2):
                started = time.perf_counter()
                try:
                    conn.request(user.method, user.path, body=body, headers=headers)
                    response = conn.getresponse()
                    text = response.read()
                    break
                except (http.client.HTTPException, OSError):
                    # keep-alive connection closed by a recycled worker: reconnect once
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", plan.port, timeout=60)
                    reconnects += 1
                    if attempt == 2:
                        raise
            elapsed = (time.perf_counter() - started) * 1000
            done = time.time()
            status = response.status
            if user.autosave is not None:
                if status == 200:
                    found = VERSION_RE.search(text.decode("utf-8", "replace"))
                    if found:
                        user.autosave["version"] = int(found.group(1))
                elif status == 409:  # someone else saved: take the current version and go on
                    conflicts += 1
                    conn.request("GET", user.path + "/veld", headers={"Cookie": user.cookie, "HX-Request": "true"})
                    field_page = conn.getresponse().read().decode("utf-8", "replace")
                    found = VERSION_RE.search(field_page)
                    if found:
                        user.autosave["version"] = int(found.group(1))
            if status != user.expect and not (user.autosave is not None and status == 409):
                unexpected[str(status)] = unexpected.get(str(status), 0) + 1
            if measure_from <= done <= measure_to:
                local.append(elapsed)
                with lock:
                    count[0] += 1
                    outcome.first_done = min(outcome.first_done, done)
                    outcome.last_done = max(outcome.last_done, done)
            if plan.think:  # a person reads or types before the next request (±50 %)
                time.sleep(plan.think * (0.5 + pacing.random()))
        conn.close()
        with lock:
            outcome.latencies_ms.extend(local)
            outcome.conflicts += conflicts
            outcome.reconnects += reconnects
            for key, value in unexpected.items():
                outcome.unexpected[key] = outcome.unexpected.get(key, 0) + value

    threads = [threading.Thread(target=run, args=(user, i)) for i, user in enumerate(plan.users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send(asdict(outcome))
    out.close()


@dataclass
class Result:
    name: str
    url: str
    requests: int = 0
    seconds: float = 0.0
    median_ms: float = 0.0
    p95_ms: float = 0.0
    rps: float = 0.0
    peak_rss_mb: float = 0.0
    app_cpu_ms: float = 0.0
    db_cpu_ms: float = 0.0
    load_before: float = 0.0
    steal_pct: float = 0.0
    workers_seen: int = 0
    unexpected: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    reconnects: int = 0
    queries: str = "-"
    skipped: str = ""


def _cpu_ticks() -> tuple[int, int]:
    """(all, stolen) CPU ticks of the machine since boot (/proc/stat; (0, 0) elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def run_scenario(name: str, url: str, port: int, users: list[User], args: argparse.Namespace,
                 sampler: MemorySampler, cpu: CpuMeter) -> Result:
    ctx = multiprocessing.get_context("spawn")
    processes = max(1, min(args.load_processes, len(users)))
    start_at = time.time() + 1.5  # time for the spawned interpreters to start
    pipes, procs = [], []
    for i in range(processes):
        mine = users[i::processes]
        receive, send = ctx.Pipe(duplex=False)
        plan = Plan(port, mine, start_at, args.warmup, args.duration, args.max_requests // processes, args.think)
        proc = ctx.Process(target=_drive, args=(plan, send), daemon=True)
        proc.start()
        send.close()
        pipes.append(receive)
        procs.append(proc)
    while time.time() < start_at + args.warmup:
        time.sleep(0.01)
    load_before = os.getloadavg()[0]
    ticks_before = _cpu_ticks()
    sampler.start()
    cpu.start()
    outcomes = [Outcome(**pipe.recv()) for pipe in pipes]
    app_cpu, db_cpu = cpu.stop()
    ticks_after = _cpu_ticks()
    for proc in procs:
        proc.join(timeout=30)
    peak = sampler.stop()
    latencies = sorted(x for o in outcomes for x in o.latencies_ms)
    result = Result(name, url)
    if not latencies:
        result.skipped = "no requests completed"
        return result
    last = max(o.last_done for o in outcomes)
    window = min(args.duration, max(last - (start_at + args.warmup), 1e-6))
    result.requests = len(latencies)
    result.seconds = window
    result.median_ms = statistics.median(latencies)
    result.p95_ms = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    result.rps = len(latencies) / window
    result.peak_rss_mb = peak
    result.load_before = load_before
    all_ticks = ticks_after[0] - ticks_before[0]
    result.steal_pct = 100 * (ticks_after[1] - ticks_before[1]) / all_ticks if all_ticks > 0 else 0.0
    # CPU is measured from the end of the warm-up to the end of the run, requests in that window:
    result.app_cpu_ms = app_cpu * 1000 / len(latencies)  # the few requests in flight at the end are ignored
    result.db_cpu_ms = db_cpu * 1000 / len(latencies)
    result.workers_seen = len(sampler.pids_seen)
    for o in outcomes:
        result.conflicts += o.conflicts
        result.reconnects += o.reconnects
        for key, value in o.unexpected.items():
            result.unexpected[key] = result.unexpected.get(key, 0) + value
    return result


# --- SQL statements per request (in-process) ----------------------------------


def count_queries(url: str, fixtures: Fixtures, scenarios: list[str]) -> dict[str, str]:
    """Statements per request for each scenario, through the Flask test client."""
    from flask.testing import FlaskClient
    from sqlalchemy import event

    from stappenplan.extensions import db

    app = _inprocess_app(url)
    counts: dict[str, list[int]] = {}
    with app.app_context():
        engine = db.engine
    current: list[int] = [0]

    def count(*_args: Any) -> None:
        current[0] += 1

    event.listen(engine, "before_cursor_execute", count)

    def measure(name: str, client: FlaskClient, method: str, path: str, times: int = 3, expect: int = 200,
                **kwargs: Any) -> None:
        for i in range(times + 1):
            current[0] = 0
            response = client.open(path, method=method, **kwargs)
            if response.status_code != expect:
                counts.setdefault(name, []).append(-response.status_code)
                return
            if i:  # the first request warms caches
                counts.setdefault(name, []).append(current[0])

    pid, email = fixtures.sheets[0]
    sheet = f"/samenwerkingen/{pid}/stap/4/samen"
    lib = _client_for(app, email)
    measure("bare", app.test_client(), "GET", "/healthz")
    measure("worksheet", lib, "GET", sheet)
    measure("partnership", lib, "GET", f"/samenwerkingen/{pid}")
    measure("library home", _client_for(app, fixtures.home_user), "GET", "/start")
    if "coordinator" in scenarios:
        measure("coordinator", _client_for(app, COORDINATOR), "GET", "/regio")
    if "report" in scenarios:
        measure("report", _client_for(app, COORDINATOR), "GET", REPORT_URL)
    # autosave: each save is based on the version the previous one returned
    page = lib.get(sheet).get_data(as_text=True)
    version = int(VERSION_RE.search(page).group(1))  # type: ignore[union-attr]
    for i in range(4):
        current[0] = 0
        response = lib.post(f"{sheet}/vraag/{KEY}", data={f"q-{KEY}": f"Telling {i}", f"v-{KEY}": str(version)},
                            headers={"HX-Request": "true"})
        version = int(VERSION_RE.search(response.get_data(as_text=True)).group(1))  # type: ignore[union-attr]
        if i:
            counts.setdefault("autosave", []).append(current[0])
    page = lib.get(sheet).get_data(as_text=True)
    feed = sheet + "/wijzigingen?" + urlencode({"seq": _input(page, "sheet-seq"), "presence": _input(
        page, "presence-sig"), "status": _input(page, "sheet-status"), "signed": _input(page, "sheet-signed")})
    measure("feed", lib, "GET", feed, expect=204)
    event.remove(engine, "before_cursor_execute", count)
    with app.app_context():
        db.engine.dispose()
    return {name: _range(values) for name, values in counts.items()}


def _range(values: list[int]) -> str:
    if any(v < 0 for v in values):
        return f"HTTP {-min(values)}"
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _inprocess_app(url: str):
    from config import Config
    from stappenplan import create_app

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = _pg_url(url)
        WTF_CSRF_ENABLED = False
        RATELIMIT_ENABLED = False
        MAIL_BACKEND = "memory"
        LOG_FORMAT = "plain"
        TESTING = True  # leave logging alone; exceptions propagate

    return create_app(BenchConfig)


def _client_for(app: Any, email: str):
    client = app.test_client()
    response = client.post("/inloggen", data={"email": email, "password": PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"in-process login as {email}: {response.status_code}")
    return client


# --- profiling ----------------------------------------------------------------


def profile(url: str, fixtures: Fixtures, workdir: Path, scenarios: list[str], requests: int = 40) -> list[Path]:
    """A pyinstrument profile of each page scenario, written as text next to the logs."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("  pyinstrument is missing: .venv/bin/pip install -r requirements-bench.txt")
        return []
    app = _inprocess_app(url)
    pid, email = fixtures.sheets[1]
    sheet = f"/samenwerkingen/{pid}/stap/4/samen"
    lib = _client_for(app, email)
    targets: list[tuple[str, Any, str]] = [
        ("worksheet", lib, sheet),
        ("partnership", lib, f"/samenwerkingen/{pid}"),
        ("library home", _client_for(app, fixtures.home_user), "/start"),
    ]
    if "coordinator" in scenarios:
        targets.append(("coordinator", _client_for(app, COORDINATOR), "/regio"))
    if "report" in scenarios:
        targets.append(("report", _client_for(app, COORDINATOR), REPORT_URL))
    written = []
    for name, client, path in targets:
        client.get(path)
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(requests):
            client.get(path).close()
        profiler.stop()
        out = workdir / f"profile-{name.replace(' ', '-')}.txt"
        out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
        written.append(out)
    # autosave
    page = lib.get(sheet).get_data(as_text=True)
    version = int(VERSION_RE.search(page).group(1))  # type: ignore[union-attr]
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for i in range(requests):
        response = lib.post(f"{sheet}/vraag/{KEY}", data={f"q-{KEY}": f"Profiel {i}", f"v-{KEY}": str(version)},
                            headers={"HX-Request": "true"})
        version = int(VERSION_RE.search(response.get_data(as_text=True)).group(1))  # type: ignore[union-attr]
    profiler.stop()
    out = workdir / "profile-autosave.txt"
    out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    written.append(out)
    return written


# --- main ---------------------------------------------------------------------


def _target(result: Result, bare_rps: float, ratio: bool = True) -> str:
    notes = []
    if result.name in P95_TARGETS and not ratio:  # latency counts with paced users
        goal = P95_TARGETS[result.name]
        notes.append(f"p95<{goal}: {'ok' if result.p95_ms < goal else 'MISSED'}")
    if result.name in RATIO_TARGETS and ratio:
        goal_ratio = RATIO_TARGETS[result.name]
        ok = bare_rps and result.rps / bare_rps >= goal_ratio
        notes.append(f">={goal_ratio:.0%} bare: {'ok' if ok else 'MISSED'}")
    if result.peak_rss_mb:
        notes.append(f"mem<={MEMORY_TARGET_MB}: {'ok' if result.peak_rss_mb <= MEMORY_TARGET_MB else 'MISSED'}")
    return ", ".join(notes)


def print_table(results: list[Result], args: argparse.Namespace, meta: dict[str, Any]) -> None:
    bare = next((r.rps for r in results if r.name == "bare"), 0.0)
    # With think time every scenario gets the same offered load, so the ratio says nothing.
    check_ratio = not args.think
    mode = (f"closed loop, {args.think:g} s think time (+-50 %)" if args.think
            else "closed loop, no think time (each user sends its next request as soon as it has the answer)")
    print()
    print(f"Stappenplan load test - {meta['partnerships']} partnerships, {args.users} concurrent users ({mode}),")
    print(f"gunicorn {meta['workers']} workers x {meta['threads']} threads (gthread), {meta['cores']} cores shared "
          f"with PostgreSQL and the load generator, {args.duration:g} s per scenario after {args.warmup:g} s warm-up")
    header = (f"{'scenario':<13} {'requests':>8} {'req/s':>6} {'median':>8} {'p95':>8} {'SQL/req':>7} "
              f"{'app CPU':>8} {'DB CPU':>7} {'peak RSS':>8} {'vs bare':>7} {'load':>5} {'steal':>5}  targets")
    print(header)
    print("-" * (len(header) + 40))
    for r in results:
        if r.skipped:
            print(f"{r.name:<13} skipped: {r.skipped}")
            continue
        ratio = f"{r.rps / bare:.0%}" if bare else "-"
        print(f"{r.name:<13} {r.requests:>8} {r.rps:>6.0f} {r.median_ms:>6.1f}ms {r.p95_ms:>6.1f}ms {r.queries:>7} "
              f"{r.app_cpu_ms:>6.1f}ms {r.db_cpu_ms:>5.1f}ms {r.peak_rss_mb:>5.0f} MB {ratio:>7} "
              f"{r.load_before:>5.1f} {r.steal_pct:>4.0f}%  {_target(r, bare, check_ratio)}")
    print()
    print("  URLs: " + "; ".join(f"{r.name} = {r.url}" for r in results))
    print("  app CPU / DB CPU = CPU time of the gunicorn workers / of this database's PostgreSQL backends per "
          "request;")
    print("  peak RSS = highest VmHWM of any worker during the scenario "
          f"({meta['memory_note']});")
    print("  load = 1-minute load average before the scenario (it includes the previous scenario's own load);")
    print("  steal = share of the machine's CPU time the hypervisor gave to other machines during the scenario "
          "(a virtual machine on a shared host: the shares of one run move with it).")
    for r in results:
        extra = []
        if r.unexpected:
            extra.append(f"unexpected statuses {r.unexpected}")
        if r.conflicts:
            extra.append(f"{r.conflicts} conflicts (409, retried with the current version)")
        if r.reconnects:
            extra.append(f"{r.reconnects} reconnects (a worker recycled by max_requests closed keep-alive "
                         "connections)")
        if extra:
            print(f"  {r.name}: " + "; ".join(extra))
    print(f"  memory before the scenarios: RSS up to {meta['idle_rss_mb']} MB per worker, of which {meta['pss_mb']} MB "
          "its own (PSS; the rest is shared with the master, preload_app);")
    print(f"  peak during start-up and the "
          f"{meta['logins']} logins (Argon2id, 19 MiB per hash): {meta['login_peak_mb']} MB.")
    print(f"  library home as {meta['home_user']} ({meta['home_partnerships']} partnerships); "
          f"the coordinator sees all {meta['partnerships']}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--partnerships", type=int, default=1000)
    parser.add_argument("--users", type=int, default=20, help="concurrent virtual users")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each scenario")
    parser.add_argument("--max-requests", type=int, default=40000, help="upper bound per scenario")
    parser.add_argument("--load-processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds each user waits between requests (0: as fast as possible)")
    parser.add_argument("--paced", type=float, default=1.0,
                        help="after the closed-loop pass, run every scenario again with this think time "
                             "(busy people: one request per user per second); 0 skips the second pass")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY for gunicorn (default: gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS (default: gunicorn.conf.py)")
    parser.add_argument("--reuse", action="store_true", help="keep the database of a previous run")
    parser.add_argument("--only", help="comma-separated scenarios, e.g. bare,autosave")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profiles (requirements-bench.txt)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    args.duration = min(args.duration, 120.0)  # bounded, whatever is asked
    args.warmup = min(args.warmup, 30.0)

    workdir = Path(tempfile.mkdtemp(prefix="stappenplan-load-"))
    os.environ["STAPPENPLAN_INSTANCE"] = str(workdir / "instance")
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DB_APP_ROLE", "TEST_DATABASE_URL"}}
    env.update(DATABASE_URL=args.database_url, STAPPENPLAN_INSTANCE=str(workdir / "instance"),
               MAIL_BACKEND="console", FLASK_APP="wsgi")
    print(f"Work folder (logs, profiles): {workdir}", flush=True)
    if args.reuse:
        print("Reusing the database", flush=True)
    else:
        print(f"Preparing {args.database_url} (dropped and re-created) ...", flush=True)
        prepare_database(args.database_url, args.partnerships, workdir, env)
    fixtures = find_fixtures(args.database_url, args.users)

    port = _free_port()
    server_env = dict(env, STAPPENPLAN_ENV="production", SECRET_KEY=secrets.token_hex(32), HOST="127.0.0.1",
                      PORT=str(port), LOG_FORMAT="json", MAIL_BACKEND="memory",
                      BASE_URL=f"http://127.0.0.1:{port}")
    if args.workers:
        server_env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        server_env["GUNICORN_THREADS"] = str(args.threads)
    for name, value in (("WEB_CONCURRENCY", args.workers), ("GUNICORN_THREADS", args.threads)):
        if value:
            os.environ[name] = str(value)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    server = Server(server_env, workdir / "gunicorn.log")
    results: list[Result] = []
    paced_results: list[Result] = []
    wanted = set(args.only.split(",")) if args.only else None
    try:
        server.wait_ready()
        sampler = MemorySampler(server)
        cpu = CpuMeter(server, args.database_url)
        print(f"gunicorn on 127.0.0.1:{port}: {settings['workers']} workers x {settings['threads']} threads; "
              f"logging in ...", flush=True)
        sessions: dict[str, Session] = {}
        for email in sorted({e for _p, e in fixtures.sheets} | {fixtures.home_user, COORDINATOR}):
            sessions[email] = login(port, email)
        sheets = []
        for i, (pid, email) in enumerate(fixtures.sheets):
            session = sessions[email]
            state = open_sheet(port, session, pid)
            sheets.append((pid, session, state, i))
        coordinator_status = _request(port, "GET", "/regio", cookie=sessions[COORDINATOR].cookie)[0]
        # Peak so far: start-up, the logins (Argon2id takes 19 MiB per hash) and the first pages.
        pss_mb = sampler.pss_mb()
        login_peak_mb = max((_status_kb(pid, "VmHWM") or 0 for pid in server.workers()), default=0) / 1024
        idle_rss_mb = max((_status_kb(pid, "VmRSS") or 0 for pid in server.workers()), default=0) / 1024

        def scenario_users(name: str) -> tuple[str, list[User]]:
            if name == "bare":
                return "/healthz", [User("GET", "/healthz") for _ in range(args.users)]
            if name == "autosave":
                users = []
                for pid, s, _st, i in sheets:
                    st = open_sheet(port, s, pid)  # the current version (a previous pass saved too)
                    users.append(User("POST", f"/samenwerkingen/{pid}/stap/4/samen/vraag/{KEY}", s.cookie,
                                      autosave={"version": int(st["version"]), "token": s.token, "label": str(i)}))
                return f"POST .../stap/4/samen/vraag/{KEY}", users
            if name == "worksheet":
                return "GET /samenwerkingen/<id>/stap/4/samen", [
                    User("GET", f"/samenwerkingen/{pid}/stap/4/samen", s.cookie) for pid, s, _st, _i in sheets]
            if name == "partnership":
                return "GET /samenwerkingen/<id>", [
                    User("GET", f"/samenwerkingen/{pid}", s.cookie) for pid, s, _st, _i in sheets]
            if name == "feed":
                users = []
                for pid, s, _st, _i in sheets:
                    st = open_sheet(port, s, pid)  # the sequence number after the autosave scenario
                    query = urlencode({"seq": st["seq"], "presence": st["presence"], "status": st["status"],
                                       "signed": st["signed"]})
                    users.append(User("GET", f"/samenwerkingen/{pid}/stap/4/samen/wijzigingen?{query}", s.cookie,
                                      expect=204))
                return "GET .../wijzigingen (poll, 204)", users
            if name == "library home":
                cookie = sessions[fixtures.home_user].cookie
                return "GET /start", [User("GET", "/start", cookie) for _ in range(args.users)]
            cookie = sessions[COORDINATOR].cookie
            if name == "report":
                return f"GET {REPORT_URL}", [User("GET", REPORT_URL, cookie) for _ in range(args.users)]
            return "GET /regio", [User("GET", "/regio", cookie) for _ in range(args.users)]

        order = ["bare", "autosave", "worksheet", "partnership", "feed", "library home", "coordinator", "report"]
        passes = [(args, results)]
        if args.paced and not args.think:
            passes.append((argparse.Namespace(**{**vars(args), "think": args.paced}), paced_results))
        for pass_args, collected in passes:
            print(f"Pass: {args.users} users, " + (f"{pass_args.think:g} s think time" if pass_args.think
                                                    else "no think time (capacity)"), flush=True)
            for name in order:
                if wanted and name not in wanted and name != "bare":
                    continue
                if name in ("coordinator", "report") and coordinator_status != 200:
                    result = Result(name, "GET /regio")
                    result.skipped = f"/regio answered {coordinator_status} (coordinator dashboard not available)"
                    collected.append(result)
                    print(f"  {name}: {result.skipped}", flush=True)
                    continue
                url, users = scenario_users(name)
                result = run_scenario(name, url, port, users, pass_args, sampler, cpu)
                collected.append(result)
                print(f"  {name:<13} {result.rps:7.0f} req/s  median {result.median_ms:6.1f} ms  "
                      f"p95 {result.p95_ms:6.1f} ms  app CPU {result.app_cpu_ms:5.1f} ms/req  "
                      f"peak RSS {result.peak_rss_mb:4.0f} MB", flush=True)
    finally:
        server.stop()

    print("Counting SQL statements per request (in-process, Flask test client) ...", flush=True)
    scenario_names = [r.name for r in results if not r.skipped]
    queries = count_queries(args.database_url, fixtures, scenario_names)
    for r in results + paced_results:
        r.queries = queries.get(r.name, "-")
    meta = {
        "partnerships": fixtures.total_partnerships, "workers": settings["workers"],
        "threads": settings["threads"], "cores": len(os.sched_getaffinity(0)),
        "home_user": fixtures.home_user, "home_partnerships": fixtures.home_partnerships,
        "memory_note": "VmHWM reset per scenario" if sampler.reset_ok else "VmHWM since worker start",
        "login_peak_mb": round(login_peak_mb), "idle_rss_mb": round(idle_rss_mb), "logins": len(sessions),
        "pss_mb": round(pss_mb),
    }
    print_table(results, args, meta)
    if paced_results:
        print_table(paced_results, argparse.Namespace(**{**vars(args), "think": args.paced}), meta)
    if args.profile:
        print("\nProfiling (pyinstrument, in-process) ...", flush=True)
        for path in profile(args.database_url, fixtures, workdir, scenario_names):
            print(f"  {path}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results],
                                         "paced": [asdict(r) for r in paced_results]}, indent=2))
    print(f"\nLogs: {workdir / 'gunicorn.log'} (JSON request lines), {workdir / 'seed.log'}")
    if os.environ.get("BENCH_KEEP_WORKDIR") != "1":
        for pattern in ("instance",):
            shutil.rmtree(workdir / pattern, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
