"""The stream service: one Server-Sent Events stream per open worksheet (plain ASGI).

Why a separate asynchronous process: an open stream waits for hours doing nothing, and in
gunicorn's threads each would hold a thread; here it is one small coroutine. Why plain
ASGI rather than a framework: two routes (a stream, a health check) need no router, and
every byte per idle stream counts (docs/deployment.md has the figures).

What it knows: the tickets' signature (SECRET_KEY) and where the announcements come from
(PostgreSQL LISTEN on one connection, or the ``live_events`` table of SQLite read by one
loop) - never who may see what, and no content. Per stream it sends ``hello`` on open,
``change`` with ``<kind> <seq>`` for each announcement of its worksheet, ``ping`` every
heartbeat, and ``bye`` before it ends (at most LIVE_STREAM_SECONDS, or at shutdown).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sqlite3
import time
import urllib.request
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from .tickets import TICKET_SECONDS, Ticket, presence_body, read_ticket, sign_body

log = logging.getLogger("stappenplan.live")

CHANNEL = "stappenplan_live"
Scope = MutableMapping[str, Any]
# What a stream listens to: a step instance's worksheet, or a partnership's practice page.
Topic = tuple[str, int]
PRACTICE = "practice"
PRACTICE_PREFIX = "praktijk/"
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
BYE = "bye"


@dataclass
class Settings:
    """From the environment, with the app's own defaults (config.py)."""

    secret: str
    database_url: str
    app_url: str = ""          # the app as this service reaches it (presence reports)
    heartbeat: float = 15.0    # seconds between pings; the page gives up after 2 missed ones
    stream_seconds: float = 600.0
    presence_beat: float = 20.0
    sqlite_poll: float = 0.1
    allow_origin: str = ""     # development: the app's origin when the stream is on another port

    @classmethod
    def from_env(cls) -> Settings:
        from config import Config  # settings only; nothing of the app

        env = os.environ
        return cls(
            secret=str(Config.SECRET_KEY),
            database_url=Config.SQLALCHEMY_DATABASE_URI,
            # gunicorn's own default address: the service runs next to it
            app_url=env.get("LIVE_APP_URL", "http://127.0.0.1:8000").rstrip("/"),
            heartbeat=float(env.get("LIVE_HEARTBEAT", "15")),
            stream_seconds=float(env.get("LIVE_STREAM_SECONDS", "600")),
            presence_beat=float(env.get("LIVE_PRESENCE_BEAT", "20")),
            sqlite_poll=float(env.get("LIVE_SQLITE_POLL", "0.1")),
            allow_origin=env.get("LIVE_ALLOW_ORIGIN", ""),
        )


def topic_of(ticket: Ticket) -> Topic:
    """A ticket for ``praktijk/<partnership>`` listens to that partnership's practice page."""
    return (PRACTICE if ticket.worksheet.startswith(PRACTICE_PREFIX) else "sheet", ticket.instance_id)


@dataclass(eq=False)
class Listener:
    """One open stream: what it waits for, and the messages not yet sent."""

    ticket: Ticket
    pending: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, message: str) -> None:
        if message not in self.pending:  # the same announcement twice is one fetch
            self.pending.append(message)
        self.wake.set()


class Hub:
    """Who listens to which worksheet (or practice page), and the presence they stand for."""

    def __init__(self) -> None:
        self.by_topic: dict[Topic, set[Listener]] = defaultdict(set)
        self.closing = False
        self.left: set[tuple[int, int]] = set()
        self.left_flush: asyncio.Event | None = None

    def count(self) -> int:
        return sum(len(v) for v in self.by_topic.values())

    def add(self, listener: Listener) -> None:
        self.by_topic[topic_of(listener.ticket)].add(listener)

    def remove(self, listener: Listener) -> None:
        ticket = listener.ticket
        topic = topic_of(ticket)
        group = self.by_topic.get(topic)
        if group is not None:
            group.discard(listener)
            if not group:
                del self.by_topic[topic]
        if ticket.party and not self.closing and not self.has(ticket.instance_id, ticket.user_id):
            self.left.add((ticket.instance_id, ticket.user_id))
            if self.left_flush is not None:
                self.left_flush.set()

    def has(self, instance_id: int, user_id: int) -> bool:
        """Another tab of this person still listens to this worksheet here."""
        return any(lst.ticket.user_id == user_id and lst.ticket.party
                   for lst in self.by_topic.get(("sheet", instance_id), ()))

    def publish(self, topic: Topic, message: str) -> None:
        for listener in self.by_topic.get(topic, ()):
            listener.put(message)

    def everyone(self, message: str) -> None:
        for group in self.by_topic.values():
            for listener in group:
                listener.put(message)

    def present(self) -> set[tuple[int, int]]:
        return {(lst.ticket.instance_id, lst.ticket.user_id)
                for group in self.by_topic.values() for lst in group if lst.ticket.party}

    def close_all(self) -> None:
        """Shutdown: every stream says ``bye`` and ends (the pages reconnect elsewhere)."""
        self.closing = True
        self.everyone(BYE)


# --- where the announcements come from ----------------------------------------------------


class Source:
    """Reads the database's announcements with one loop for all streams."""

    ready = False

    async def run(self, hub: Hub) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def parse(payload: str) -> tuple[Topic, str] | None:
    """``"<id> <kind> <seq>"`` -> (topic, ``"<kind> <seq>"``); the id is a step instance's,
    or a partnership's for ``practice``."""
    parts = payload.split(" ")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    return (PRACTICE if parts[1] == PRACTICE else "sheet", int(parts[0])), f"{parts[1]} {parts[2]}"


class PostgresSource(Source):
    """LISTEN on one connection; NOTIFY arrives only for committed transactions."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def run(self, hub: Hub) -> None:
        import psycopg

        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if not self.ready:
                        log.info("listening on %s", CHANNEL)
                    else:  # reconnected: what was said meanwhile is lost, so everyone catches up
                        hub.everyone("resync 0")
                    self.ready, delay = True, 0.5
                    async for note in conn.notifies():
                        parsed = parse(note.payload)
                        if parsed:
                            hub.publish(*parsed)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database went away: try again, the pages poll meanwhile
                self.ready = False
                log.warning("LISTEN connection lost (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


class SQLiteSource(Source):
    """Reads ``live_events`` newer than the last row seen, every ``interval`` seconds."""

    def __init__(self, path: str, interval: float) -> None:
        self.path, self.interval = path, interval
        self.last = 0

    def _read(self, first: bool) -> list[tuple[int, int, str, int]]:
        conn = sqlite3.connect(self.path, timeout=5)
        try:
            if first:
                self.last = conn.execute("SELECT coalesce(max(id), 0) FROM live_events").fetchone()[0]
                return []
            return conn.execute("SELECT id, instance_id, kind, seq FROM live_events WHERE id > ? ORDER BY id",
                                (self.last,)).fetchall()
        finally:
            conn.close()

    async def run(self, hub: Hub) -> None:
        first = True
        while True:
            try:
                rows = await asyncio.to_thread(self._read, first)
                first, self.ready = False, True
                for row_id, instance_id, kind, seq in rows:
                    self.last = row_id
                    parsed = parse(f"{instance_id} {kind} {seq}")
                    if parsed:
                        hub.publish(*parsed)
            except asyncio.CancelledError:
                raise
            except sqlite3.Error as error:  # no table yet (before `flask db upgrade`): wait
                self.ready = False
                log.warning("cannot read live_events: %s", error)
                await asyncio.sleep(1)
            await asyncio.sleep(self.interval)


def source_for(url: str, sqlite_poll: float) -> Source:
    if url.startswith("postgresql"):
        return PostgresSource(url.replace("postgresql+psycopg://", "postgresql://", 1))
    if url.startswith("sqlite:///"):
        return SQLiteSource(url[len("sqlite:///"):], sqlite_poll)
    raise ValueError(f"the stream service cannot listen to {url.split(':', 1)[0]}")


# --- presence: the app is told who is connected, and who left -----------------------------


class PresenceReporter:
    """Every ``beat`` seconds the app renews the presence rows of everyone with an open
    stream here; a closed stream is reported at once (within ~0.2 s). The app writes."""

    def __init__(self, settings: Settings, hub: Hub) -> None:
        self.settings, self.hub = settings, hub

    def _post(self, here: list[tuple[int, int]], left: list[tuple[int, int]]) -> None:
        body = presence_body(here, left, time.time())
        request = urllib.request.Request(
            self.settings.app_url + "/intern/aanwezigheid", data=body, method="POST",
            headers={"Content-Type": "application/json",
                     "X-Live-Signature": sign_body(self.settings.secret, body)})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    async def send(self, here: list[tuple[int, int]], left: list[tuple[int, int]]) -> None:
        if not self.settings.app_url or not (here or left):
            return
        try:
            await asyncio.to_thread(self._post, here, left)
        except Exception as error:  # the app is restarting: the next beat tries again
            log.warning("presence report failed: %s", error)

    async def run(self) -> None:
        self.hub.left_flush = asyncio.Event()
        beat = asyncio.create_task(self._beats())
        try:
            while True:
                await self.hub.left_flush.wait()
                await asyncio.sleep(0.2)  # a reload reconnects at once: one report for both
                self.hub.left_flush.clear()
                left = sorted(pair for pair in self.hub.left if not self.hub.has(*pair))
                self.hub.left.clear()
                await self.send([], left)
        finally:
            beat.cancel()

    async def _beats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.presence_beat)
            await self.send(sorted(self.hub.present()), [])


# --- the ASGI application ------------------------------------------------------------------


class LiveService:
    """The ASGI app: ``…/stream/<partnership>/<step>/<slot>?ticket=…`` and ``…/readyz``."""

    def __init__(self, settings: Settings, source: Source | None = None) -> None:
        self.settings = settings
        self.hub = Hub()
        self.source = source or source_for(settings.database_url, settings.sqlite_poll)
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self.source.run(self.hub)),
                      asyncio.create_task(PresenceReporter(self.settings, self.hub).run())]

    async def stop(self) -> None:
        self.hub.close_all()
        for task in self.tasks:
            task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.endswith("/readyz"):
            await self._ready(send)
        elif "/stream/" in path and scope["method"] == "GET":
            await self._stream(scope, receive, send, unquote(path.split("/stream/", 1)[1]))
        else:
            await self._plain(send, 404, b"not found")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _headers(self, content_type: bytes) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", content_type), (b"cache-control", b"no-store"),
                   (b"x-content-type-options", b"nosniff")]
        if self.settings.allow_origin:
            headers.append((b"access-control-allow-origin", self.settings.allow_origin.encode()))
        return headers

    async def _plain(self, send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": self._headers(b"text/plain; charset=utf-8")})
        await send({"type": "http.response.body", "body": body})

    async def _ready(self, send: Send) -> None:
        ready = self.source.ready and not self.hub.closing
        body = json.dumps({"status": "ok" if ready else "unavailable", "streams": self.hub.count(),
                           "source": type(self.source).__name__}).encode()
        await send({"type": "http.response.start", "status": 200 if ready else 503,
                    "headers": self._headers(b"application/json")})
        await send({"type": "http.response.body", "body": body})

    async def _stream(self, scope: Scope, receive: Receive, send: Send, worksheet: str) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ticket = read_ticket(self.settings.secret, (query.get("ticket") or [""])[0], TICKET_SECONDS)
        if ticket is None or ticket.worksheet != worksheet:
            await self._plain(send, 403, b"no valid ticket for this worksheet")
            return
        if self.hub.closing:
            await self._plain(send, 503, b"shutting down")
            return
        listener = Listener(ticket)
        self.hub.add(listener)
        watcher = asyncio.create_task(self._watch(receive, listener))
        try:
            await self._serve(send, listener)
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            self.hub.remove(listener)

    async def _watch(self, receive: Receive, listener: Listener) -> None:
        """The client went away: end its stream now (presence depends on it)."""
        while (await receive())["type"] != "http.disconnect":
            pass
        listener.put(BYE)

    async def _serve(self, send: Send, listener: Listener) -> None:
        headers = self._headers(b"text/event-stream")
        headers.append((b"x-accel-buffering", b"no"))  # nginx: pass each event on at once
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        heartbeat = self.settings.heartbeat
        await self._event(send, f"retry: 5000\nevent: hello\ndata: {int(heartbeat * 1000)}\n\n")
        # Streams end within the limit, spread so that they do not all come back at once.
        ends = time.monotonic() + self.settings.stream_seconds * random.uniform(0.9, 1.0)
        while True:
            left = ends - time.monotonic()
            if left <= 0:
                await self._event(send, "event: bye\ndata: end\n\n")
                return
            try:
                await asyncio.wait_for(listener.wake.wait(), timeout=min(heartbeat, left))
            except TimeoutError:
                await self._event(send, "event: ping\ndata: \n\n")
                continue
            listener.wake.clear()
            messages, listener.pending = listener.pending, []
            if BYE in messages:
                await self._event(send, "event: bye\ndata: shutdown\n\n")
                return
            await self._event(send, "".join(f"event: change\ndata: {m}\n\n" for m in messages))

    @staticmethod
    async def _event(send: Send, text: str) -> None:
        await send({"type": "http.response.body", "body": text.encode(), "more_body": True})


def create_from_env() -> LiveService:
    """For ``uvicorn --factory stappenplan.live.service:create_from_env``."""
    return LiveService(Settings.from_env())
