"""The app servers are stateless: two gunicorn processes on one PostgreSQL database
behave as one application.

A library admin works through server 1 and the childcare admin through server 2
(separate processes, separate ports, same SECRET_KEY and DATABASE_URL). A joint answer
saved through server 1 shows up in server 2's change feed, and a save through server 2
based on the old version is refused with 409. Sessions, CSRF tokens, versions and the
feed live in signed cookies and in the database, never in a process.

Each app server has its stream service next to it (``python -m stappenplan.live``): a
save through server 1 reaches a stream opened on stream service 2, through the
database's NOTIFY, and closing that stream takes the childcare admin's presence away
through app server 2.
"""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask

from tests.conftest import DATABASE_URL, ON_POSTGRES
from tests.factories import PASSWORD, driver

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
SECRET = "two-servers-shared-secret-0123456789"
KEY = "target_parents"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    text: str


@dataclass
class Browser:
    """A tiny cookie-keeping HTTP client for one server (plain http.client)."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = dict(headers or {})
            body = None
            if form is not None:
                body = urlencode(form)
                sent["Content-Type"] = "application/x-www-form-urlencoded"
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            text = response.read().decode("utf-8")
            for raw in response.headers.get_all("Set-Cookie") or []:
                jar = SimpleCookie()
                jar.load(raw)
                for name, morsel in jar.items():
                    if morsel["max-age"] == "0" or not morsel.value:
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            return Reply(response.status, response.headers, text)
        finally:
            conn.close()

    def get(self, path: str, **kwargs: object) -> Reply:
        return self.request("GET", path, **kwargs)  # type: ignore[arg-type]

    def login(self, email: str) -> None:
        page = self.get("/inloggen")
        assert page.status == 200
        token = _input_value(page.text, name="csrf_token")
        reply = self.request("POST", "/inloggen", form={"csrf_token": token, "email": email, "password": PASSWORD})
        assert reply.status == 302, reply.text[:500]
        assert reply.headers["Location"].endswith("/start")


def _input_value(page: str, *, name: str | None = None, id_: str | None = None) -> str:
    """The value of the <input> with this name or id."""
    attr = f'name="{name}"' if name else f'id="{id_}"'
    for tag in re.findall(r"<input\b[^>]*>", page):
        if attr in tag:
            found = re.search(r'value="([^"]*)"', tag)
            assert found, tag
            return html.unescape(found.group(1))
    raise AssertionError(f"no input with {attr}")


def _htmx_token(page: str) -> str:
    """The CSRF token htmx sends, from <body hx-headers='{"X-CSRFToken": "..."}'>."""
    found = re.search(r"hx-headers='([^']*)'", page)
    assert found, "no hx-headers on the page"
    return json.loads(html.unescape(found.group(1)))["X-CSRFToken"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: Path

    def output(self, tail: int = 4000) -> str:
        text = self.log.read_text(errors="replace")
        return text[-tail:] if tail else text


def _start(port: int, folder: Path) -> Server:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DB_APP_ROLE", "WEB_CONCURRENCY"}}
    env.update(
        STAPPENPLAN_ENV="development",
        DATABASE_URL=DATABASE_URL,
        SECRET_KEY=SECRET,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
        LOG_FORMAT="json",
        STAPPENPLAN_INSTANCE=str(folder / f"instance-{port}"),
        MAIL_BACKEND="console",
    )
    log = folder / f"gunicorn-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    return Server(port, process, log)


def _wait_until_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"gunicorn on port {server.port} exited:\n{server.output()}")
        try:
            if Browser(server.port).get("/readyz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn on port {server.port} did not become ready:\n{server.output()}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


def _start_stream_service(port: int, app_port: int, folder: Path) -> Server:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DB_APP_ROLE"}}
    env.update(DATABASE_URL=DATABASE_URL, SECRET_KEY=SECRET, LIVE_APP_URL=f"http://127.0.0.1:{app_port}",
               LIVE_HEARTBEAT="2", LIVE_PRESENCE_BEAT="2")
    log = folder / f"live-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "stappenplan.live", "--port", str(port)], cwd=ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(port, process, log)


def _wait_until_streaming(service: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"the stream service on port {service.port} exited:\n{service.output()}")
        try:
            if Browser(service.port).get("/live/readyz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the stream service on port {service.port} did not become ready:\n{service.output()}")


@pytest.fixture
def step_four(world, app: Flask):
    """Partnership A with steps 1-3 done by both: the joint step 4 is open."""
    from stappenplan.extensions import db

    with app.app_context():
        driver(world).own_steps(3, 3)
        db.session.commit()
        db.session.remove()
    return world


@pytest.fixture
def servers(step_four) -> Iterator[tuple[Server, Server, Server, Server]]:
    """App server 1 and 2, and stream service 1 and 2 (each reports presence to its app server)."""
    if not ON_POSTGRES:  # pragma: no cover - deselected by conftest on SQLite
        pytest.skip("needs PostgreSQL")
    folder = Path(tempfile.mkdtemp(prefix="stappenplan-two-servers-"))
    started: list[Server] = []
    try:
        ports: list[int] = []
        while len(ports) < 4:
            port = _free_port()
            if port not in ports:
                ports.append(port)
        for port in ports[:2]:
            started.append(_start(port, folder))
        for port, app_port in zip(ports[2:], ports[:2], strict=True):
            started.append(_start_stream_service(port, app_port, folder))
        deadline = time.monotonic() + 40
        for server in started[:2]:
            _wait_until_ready(server, deadline)
        for service in started[2:]:
            _wait_until_streaming(service, deadline)
        yield started[0], started[1], started[2], started[3]
    finally:
        for server in started:
            _stop(server)


def test_two_app_servers_share_one_database(servers: tuple[Server, Server, Server, Server], step_four) -> None:
    one, two = servers[:2]
    assert one.process.pid != two.process.pid and one.port != two.port
    world = step_four
    sheet = f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen"

    library = Browser(one.port)
    library.login(world.emails["lib_a"])
    childcare = Browser(two.port)
    childcare.login(world.emails["cc_a"])

    # The library opens the joint worksheet on server 1, the childcare admin on server 2.
    lib_page = library.get(sheet)
    assert lib_page.status == 200, lib_page.text[:300]
    lib_token = _htmx_token(lib_page.text)
    base = int(_input_value(lib_page.text, id_=f"v-{KEY}"))

    cc_page = childcare.get(sheet)
    assert cc_page.status == 200
    cc_token = _htmx_token(cc_page.text)
    assert int(_input_value(cc_page.text, id_=f"v-{KEY}")) == base
    feed = sheet + "/wijzigingen?" + urlencode({
        "seq": _input_value(cc_page.text, id_="sheet-seq"),
        "presence": _input_value(cc_page.text, id_="presence-sig"),
        "status": _input_value(cc_page.text, id_="sheet-status"),
    })

    # Nothing changed yet: server 2's feed answers 204.
    assert childcare.get(feed).status == 204

    # The library saves a joint answer through server 1.
    text = "Alle ouders van de peutergroep, via server een opgeslagen"
    saved = library.request("POST", f"{sheet}/vraag/{KEY}", form={f"q-{KEY}": text, f"v-{KEY}": str(base)},
                            headers={"HX-Request": "true", "X-CSRFToken": lib_token})
    assert saved.status == 200, saved.text[:500]
    new_version = int(_input_value(saved.text, id_=f"v-{KEY}"))
    assert new_version > base

    # Server 2 sees it in its change feed, with the new text and version.
    changed = childcare.get(feed, headers={"HX-Request": "true"})
    assert changed.status == 200, changed.text[:300]
    assert text in html.unescape(changed.text)
    assert int(_input_value(changed.text, id_=f"v-{KEY}")) == new_version

    # A save through server 2 based on the old version is refused.
    stale = childcare.request("POST", f"{sheet}/vraag/{KEY}",
                              form={f"q-{KEY}": "Een oudere gedachte", f"v-{KEY}": str(base)},
                              headers={"HX-Request": "true", "X-CSRFToken": cc_token})
    assert stale.status == 409, stale.text[:500]

    # Based on the version it got from the feed, the save goes through.
    fresh = childcare.request("POST", f"{sheet}/vraag/{KEY}",
                              form={f"q-{KEY}": text + " en aangevuld", f"v-{KEY}": str(new_version)},
                              headers={"HX-Request": "true", "X-CSRFToken": cc_token})
    assert fresh.status == 200, fresh.text[:500]

    # Both processes logged the requests with their own request ids.
    for server in servers[:2]:
        lines = [json.loads(line) for line in server.output(tail=0).splitlines() if line.startswith("{")]
        requests = [entry for entry in lines if entry.get("logger") == "stappenplan.request"]
        assert requests and all(entry.get("request_id") for entry in requests)


def _presence(browser: Browser, feed: str) -> str:
    """The "Ook op dit werkblad" part of a change-feed answer."""
    text = browser.get(feed, headers={"HX-Request": "true"}).text
    found = re.search(r'<div id="presence".*?</div>', text, re.S)
    assert found, text[:300]
    return found.group(0)


def test_a_save_through_server_one_reaches_a_stream_on_stream_service_two(
        servers: tuple[Server, Server, Server, Server], step_four) -> None:
    from tests.livestream import open_stream

    one, two, _live_one, live_two = servers
    world = step_four
    pid = world.ids["partnership_a"]
    sheet = f"/samenwerkingen/{pid}/stap/4/samen"
    library = Browser(one.port)
    library.login(world.emails["lib_a"])
    childcare = Browser(two.port)
    childcare.login(world.emails["cc_a"])
    lib_page = library.get(sheet)
    cc_page = childcare.get(sheet)
    assert 'data-live-url="/live/stream/' + pid + '/4/samen"' in cc_page.text

    # The childcare admin's ticket comes from app server 2; the stream from stream service 2.
    ticket_reply = childcare.get(sheet + "/live")
    assert ticket_reply.status == 200, ticket_reply.text[:300]
    ticket = json.loads(ticket_reply.text)["ticket"]
    stream = open_stream(f"http://127.0.0.1:{live_two.port}/live/stream/{pid}/4/samen?ticket={ticket}")
    try:
        assert stream.status == 200
        assert stream.next().name == "hello"  # type: ignore[union-attr]
        # The library saves through app server 1.
        base = int(_input_value(lib_page.text, id_=f"v-{KEY}"))
        saved = library.request("POST", f"{sheet}/vraag/{KEY}",
                                form={f"q-{KEY}": "Door server een, gehoord op stroom twee", f"v-{KEY}": str(base)},
                                headers={"HX-Request": "true", "X-CSRFToken": _htmx_token(lib_page.text)})
        assert saved.status == 200, saved.text[:300]
        seen = []
        for _ in range(4):
            event = stream.next(timeout=3)
            if event is None:
                break
            seen.append((event.name, event.data))
            if event.name == "change" and event.data.startswith("sheet "):
                break
        assert ("change", f"sheet {int(_input_value(cc_page.text, id_='sheet-seq')) + 1}") in seen, seen
        # The childcare admin is on the worksheet for the library (ticket: presence row)...
        feed = sheet + "/wijzigingen?" + urlencode({"seq": "0", "presence": "", "status": "open"})
        assert "kinderopvang" in _presence(library, feed)
    finally:
        stream.close()
    # ... and gone within seconds of closing the stream: stream service 2 tells app server 2.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if "kinderopvang" not in _presence(library, feed):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the closed stream's presence stayed")
