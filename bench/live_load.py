"""Live streams under load: many idle streams, a few active pairs, one stream service.

Starts the stream service (``python -m stappenplan.live``) on PostgreSQL, opens ``--idle``
idle streams (each with its own ticket, for worksheets nobody writes to), then runs
``--pairs`` active pairs: a writer commits a change to a real step instance about once a
second (the ``UPDATE`` a save makes; the trigger of migration 0024 sends the NOTIFY) and
its partner's stream waits for the announcement. It prints the commit -> event latency
(p50, p95, max), and the stream service's RSS and CPU share while idle and while active.

    .venv/bin/python bench/live_load.py --database-url postgresql://postgres@127.0.0.1:5432/stappenplan_live
        [--idle 10000] [--pairs 20] [--seconds 30]

The database must be migrated and hold step instances (``flask db upgrade`` and
``flask seed-demo``); the step instances' sequence numbers move on. Each open stream is a
file descriptor in this process and in the service: ``ulimit -n`` must exceed ``--idle``
plus a few hundred (the script raises its own soft limit to the hard one). Nothing is
asserted: it is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stappenplan.live.tickets import Ticket, make_ticket  # noqa: E402

SECRET = "live-load-secret-0123456789abcdef"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


async def cpu_share(pid: int, seconds: float) -> float:
    """Per cent of one core used by ``pid`` over the next ``seconds``."""
    before, start = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - start)


class Stream:
    """One open stream over a raw connection; ``events`` collects (arrival, data)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.changes: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

    @classmethod
    async def open(cls, port: int, path: str, ticket: str) -> Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path}?ticket={ticket} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(status.decode().strip())
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return cls(reader, writer)

    async def read(self) -> None:
        """Read events (chunked: size lines are skipped) until the stream ends."""
        event = ""
        while True:
            line = await self.reader.readline()
            if not line:
                return
            text = line.decode().rstrip("\r\n")
            if text.startswith("event: "):
                event = text[7:]
            elif text.startswith("data: ") and event == "change":
                self.changes.put_nowait((time.perf_counter(), text[6:]))


async def open_idle(port: int, count: int, batch: int = 250) -> list[Stream]:
    streams: list[Stream] = []
    for start in range(0, count, batch):
        tickets = [make_ticket(SECRET, Ticket(1, 50_000_000 + i, f"idle/{i}/samen", False))
                   for i in range(start, min(count, start + batch))]
        opened = await asyncio.gather(*(Stream.open(port, f"/live/stream/idle/{start + n}/samen", t)
                                        for n, t in enumerate(tickets)), return_exceptions=True)
        for result in opened:
            if isinstance(result, BaseException):
                raise RuntimeError(f"after {len(streams)} streams: {result!r}")
            streams.append(result)
    return streams


async def pair(port: int, url: str, instance_id: int, seconds: float, latencies: list[float]) -> None:
    """A writer commits a change every ~second; the partner's stream hears it."""
    import psycopg

    stream = await Stream.open(port, f"/live/stream/pair/{instance_id}/samen",
                               make_ticket(SECRET, Ticket(2, instance_id, f"pair/{instance_id}/samen", False)))
    reader = asyncio.create_task(stream.read())
    async with await psycopg.AsyncConnection.connect(url) as conn:
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            await asyncio.sleep(0.5 + (instance_id % 10) / 10)
            cur = await conn.execute("UPDATE step_instances SET content_version = content_version + 1 "
                                     "WHERE id = %s RETURNING content_version", (instance_id,))
            row = await cur.fetchone()
            assert row is not None
            # From the moment the COMMIT is sent: PostgreSQL signals the listeners as it
            # commits, so the event can come in before this loop sees the commit's reply.
            committed = time.perf_counter()
            await conn.commit()
            expected = f"sheet {row[0]}"
            while True:
                try:
                    arrived, data = await asyncio.wait_for(stream.changes.get(), timeout=5)
                except TimeoutError:
                    print(f"  instance {instance_id}: no event within 5 s", file=sys.stderr)
                    break
                if data == expected:
                    latencies.append((arrived - committed) * 1000)
                    break
    reader.cancel()
    stream.writer.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


async def main_async(args: argparse.Namespace, service: subprocess.Popen, port: int) -> None:
    import psycopg

    pid = service.pid
    url = args.database_url
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT id FROM step_instances ORDER BY id LIMIT %s", (args.pairs,))
        instances = [r[0] for r in await cur.fetchall()]
    if len(instances) < args.pairs:
        raise SystemExit(f"only {len(instances)} step instances: run `flask seed-demo` first")

    print(f"stream service pid {pid}, port {port}; before any stream: RSS {rss_mb(pid):.1f} MB")
    started = time.monotonic()
    idle = await open_idle(port, args.idle)
    readers = [asyncio.create_task(s.read()) for s in idle]
    print(f"{len(idle)} idle streams open in {time.monotonic() - started:.1f} s")
    await asyncio.sleep(5)
    idle_cpu = await cpu_share(pid, args.seconds)
    print(f"idle: RSS {rss_mb(pid):.1f} MB, CPU {idle_cpu:.2f} % of one core over {args.seconds:.0f} s "
          f"(a ping per stream every 15 s)")

    latencies: list[float] = []
    active_cpu = asyncio.create_task(cpu_share(pid, args.seconds))
    await asyncio.gather(*(pair(port, url, i, args.seconds, latencies) for i in instances))
    cpu = await active_cpu
    print(f"{args.pairs} active pairs beside them: {len(latencies)} commits heard; "
          f"commit -> partner's event p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms (from sending COMMIT)")
    print(f"active: RSS {rss_mb(pid):.1f} MB, CPU {cpu:.2f} % of one core")
    # A deploy: SIGTERM with every idle stream still open.
    stop = time.monotonic()
    service.terminate()
    while service.poll() is None and time.monotonic() - stop < 30:
        await asyncio.sleep(0.05)
    byes = sum(1 for task in readers if task.done())
    print(f"SIGTERM with {len(idle)} open streams: service gone in {time.monotonic() - stop:.2f} s, "
          f"{byes} streams ended by it")
    for task in readers:
        task.cancel()
    for stream in idle:
        stream.writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/stappenplan_live")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.idle + args.pairs * 2 + 200:
        print(f"ulimit -n is {hard}: fewer than {args.idle} streams will open", file=sys.stderr)
    env = dict(os.environ, DATABASE_URL=args.database_url, SECRET_KEY=SECRET, LIVE_HEARTBEAT="15",
               LOG_LEVEL="WARNING")
    env.pop("LIVE_APP_URL", None)  # idle tickets are no party's: no presence reports
    service = subprocess.Popen(
        ["sh", "-c", f'ulimit -n {hard}; exec "$0" -m stappenplan.live --port {args.port}', sys.executable],
        cwd=ROOT, env=env)
    try:
        import urllib.request

        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/live/readyz", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(main_async(args, service, args.port))
    finally:
        if service.poll() is None:
            service.kill()
    print(f"(this machine: {os.cpu_count()} cores; the load script shares them)")


if __name__ == "__main__":
    main()
