"""Database faults: a Dutch 503, nothing half-written, and recovery without a restart."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, select, text

from stappenplan.extensions import db
from stappenplan.worksheets.models import Answer
from tests.conftest import DATABASE_URL, make_app
from tests.factories import PASSWORD, build_world, driver, login

pytestmark = pytest.mark.postgres


def _step4(app: Flask, world) -> str:
    with app.app_context():
        driver(world).own_steps(3, 3)
    return f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen"


def test_connection_killed_mid_request(world, app: Flask) -> None:
    """pg_terminate_backend on the connection of a running save: 503, rollback, recovery."""
    url = _step4(app, world)
    client = app.test_client()
    login(client, world.emails["lib_a"])
    with app.app_context():
        engine = db.engine
    started = threading.Event()

    def slow_revision(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("INSERT INTO answer_revisions") and not started.is_set():
            started.set()
            cursor.execute("SELECT pg_sleep(10)")  # the answer row is already updated in this transaction

    event.listen(engine, "before_cursor_execute", slow_revision)

    def killer() -> None:
        started.wait(10)
        admin = make_app()
        with admin.app_context():
            for _ in range(50):
                killed = db.session.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query LIKE 'SELECT pg_sleep(10)%' AND pid <> pg_backend_pid()")).scalar()
                if killed:
                    break
                time.sleep(0.1)
            db.engine.dispose()

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        response = client.post(f"{url}/vraag/target_parents",
                               data={"q-target_parents": "Half geschreven?", "v-target_parents": 0})
    finally:
        event.remove(engine, "before_cursor_execute", slow_revision)
        thread.join(15)
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Even niet bereikbaar" in page and "niets" in page
    with app.app_context():  # nothing half-written: the update of the answer was rolled back
        assert db.session.scalar(select(Answer).where(Answer.question == "target_parents")) is None
    # the app recovers by itself: pool pre-ping replaces the dead connection
    again = client.post(f"{url}/vraag/target_parents", data={"q-target_parents": "Nu wel", "v-target_parents": 0},
                        headers={"HX-Request": "true"})
    assert again.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Answer.value).where(Answer.question == "target_parents")) == "Nu wel"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        pytest.fail("PostgreSQL server binaries (initdb) not found")
    return versions[-1].parent


class Throwaway:
    """A PostgreSQL server of our own in a temporary folder, on its own port."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="stappenplan-pg-"))
        self.port = _free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_postgres, str(self.bin / tool), *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -h 127.0.0.1", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def throwaway() -> Iterator[Throwaway]:
    server = Throwaway()
    server.start()
    try:
        yield server
    finally:
        server.remove()


def test_database_down_and_back(throwaway: Throwaway) -> None:
    from flask_migrate import upgrade

    assert DATABASE_URL  # the shared test server is never touched here
    app = make_app(SQLALCHEMY_DATABASE_URI=throwaway.url)
    with app.app_context():
        upgrade()
    world = build_world(app)
    client = app.test_client()
    login(client, world.emails["lib_a"], PASSWORD)
    assert client.get("/start").status_code == 200
    throwaway.stop()
    down = client.get("/start")
    assert down.status_code == 503 and "Even niet bereikbaar" in down.get_data(as_text=True)
    assert client.post("/inloggen", data={"email": "x@y.nl", "password": "z"}).status_code == 503
    throwaway.start()
    assert client.get("/start").status_code == 200  # recovered without restarting the app
    with app.app_context():
        db.engine.dispose()
