"""Test helpers for live worksheets: the stream service on a free port (in a thread) and a
small Server-Sent Events reader over http.client."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvicorn

from stappenplan.live.__main__ import _Server
from stappenplan.live.service import LiveService, Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamService:
    """``with StreamService(secret, database_url, app_url) as live: live.url`` -"""

    def __init__(self, secret: str, database_url: str, app_url: str = "", allow_origin: str = "",
                 heartbeat: float = 15.0, presence_beat: float = 20.0, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/live"
        self.service = LiveService(Settings(secret=secret, database_url=database_url, app_url=app_url,
                                            heartbeat=heartbeat, presence_beat=presence_beat,
                                            allow_origin=allow_origin, sqlite_poll=0.05))
        config = uvicorn.Config(self.service, host="127.0.0.1", port=self.port, lifespan="on", log_level="warning",
                                timeout_graceful_shutdown=3)
        self.server = _Server(config, self.service)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> StreamService:
        self.thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.server.started and self.service.source.ready:
                return self
            time.sleep(0.05)
        raise AssertionError("the stream service did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Event:
    name: str
    data: str


@dataclass
class SSE:
    """One open stream: ``status`` and ``events()`` as they arrive."""

    conn: http.client.HTTPConnection
    response: http.client.HTTPResponse
    buffer: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.response.status

    def next(self, timeout: float = 5.0, skip: tuple[str, ...] = ("ping",)) -> Event | None:
        """The next event (pings skipped), or None when none came within ``timeout``."""
        deadline = time.monotonic() + timeout
        name, data = "message", ""
        while time.monotonic() < deadline:
            self.conn.sock.settimeout(max(0.05, deadline - time.monotonic()))  # type: ignore[union-attr]
            try:
                line = self.response.readline().decode()
            except TimeoutError:
                return None
            if not line:
                return None
            line = line.rstrip("\n")
            if line == "":
                if name in skip:
                    name, data = "message", ""
                    continue
                return Event(name, data)
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "event":
                name = value
            elif key == "data":
                data = value
        return None

    def close(self) -> None:
        self.conn.close()


def open_stream(url: str, timeout: float = 10.0) -> SSE:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                 headers={"Accept": "text/event-stream"})
    return SSE(conn, conn.getresponse())
