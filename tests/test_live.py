"""Live worksheets: announcements in the transaction of the change, tickets decided by the
app's access rules, and the stream service passing ids and sequence numbers only."""

from __future__ import annotations

import json
import re
import select as selectmod
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select, text

from stappenplan.extensions import db
from stappenplan.live import tickets
from stappenplan.live.models import LiveEvent
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow.engine import Action
from stappenplan.workflow.models import Cycle, StepInstance
from stappenplan.worksheets.models import Presence
from tests.conftest import DATABASE_URL, ON_POSTGRES, make_app, wipe
from tests.factories import driver, login
from tests.livestream import StreamService, open_stream
from tests.test_worksheets import sheet_url

KEY = "target_parents"
SECRET = "test-secret"
HX = {"HX-Request": "true"}


@pytest.fixture
def live_app(_migrated: None) -> Iterator[Flask]:
    application = make_app(LIVE=True, LIVE_URL="http://127.0.0.1:9/live")
    yield application
    wipe(application)


@pytest.fixture
def step4(world, live_app: Flask) -> str:
    with live_app.app_context():
        driver(world).own_steps(3, 3)
    return sheet_url(world, 4, "samen")


def client_for(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def instance_id(app: Flask, world, step: int = 4) -> int:
    with app.app_context():
        return db.session.scalar(
            select(StepInstance.id).join(Cycle, Cycle.id == StepInstance.cycle_id)
            .join(Partnership, Partnership.id == Cycle.partnership_id)
            .where(Partnership.public_id == world.ids["partnership_a"], StepInstance.step == step,
                   StepInstance.slot == "joint"))


def version_of(page: str, key: str = KEY) -> int:
    found = re.search(rf'id="v-{key}"[^>]*value="(\d+)"', page) or re.search(rf'value="(\d+)"[^>]*id="v-{key}"', page)
    assert found, f"no version input for {key}"
    return int(found.group(1))


def save(client: FlaskClient, url: str, text_: str) -> int:
    base = version_of(client.get(url).get_data(as_text=True))
    reply = client.post(f"{url}/vraag/{KEY}", data={f"q-{KEY}": text_, f"v-{KEY}": str(base)}, headers=HX)
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    return base


# --- the database announces, in the change's own transaction --------------------------------


def test_every_trigger_is_in_place(live_app: Flask) -> None:
    """SQLite drops a table's triggers when a batch migration copies it: a later migration
    must make them again, and this test says so."""
    with live_app.app_context():
        if ON_POSTGRES:
            names = set(db.session.scalars(text("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'live_%'")))
            assert names == {"live_step_instances", "live_sign_offs", "live_presence", "live_practice"}
        else:
            names = set(db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                                " AND name LIKE 'live_%'")))
            assert names == {"live_step_instances", "live_sign_offs_insert", "live_sign_offs_delete",
                             "live_presence_insert", "live_presence_delete", "live_presence_update",
                             "live_practice", "live_events_prune"}


class Listening:
    """What the database announced meanwhile: NOTIFY on PostgreSQL, ``live_events`` on SQLite."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.conn = None
        if ON_POSTGRES:
            import psycopg

            self.conn = psycopg.connect(DATABASE_URL.replace("postgresql+psycopg://", "postgresql://"),
                                        autocommit=True)
            self.conn.execute("LISTEN stappenplan_live")
        else:
            with app.app_context():
                self.last = db.session.scalar(select(func.coalesce(func.max(LiveEvent.id), 0)))

    def heard(self, wait: float = 1.0) -> list[str]:
        if self.conn is not None:
            found: list[str] = []
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                selectmod.select([self.conn.fileno()], [], [], max(0.0, deadline - time.monotonic()))
                found.extend(n.payload for n in self.conn.notifies(timeout=0, stop_after=None) or [])
                if found:
                    deadline = min(deadline, time.monotonic() + 0.2)
            return found
        with self.app.app_context():
            rows = db.session.execute(select(LiveEvent.id, LiveEvent.instance_id, LiveEvent.kind, LiveEvent.seq)
                                      .where(LiveEvent.id > self.last).order_by(LiveEvent.id)).all()
            if rows:
                self.last = rows[-1][0]
            return [f"{i} {k} {s}" for _, i, k, s in rows]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@pytest.fixture
def listening(live_app: Flask) -> Iterator[Listening]:
    listener = Listening(live_app)
    yield listener
    listener.close()


def test_a_save_announces_its_sequence_and_a_rolled_back_save_announces_nothing(
        world, live_app: Flask, step4: str, listening: Listening) -> None:
    instance = instance_id(live_app, world)
    with live_app.app_context():
        driver(world).fill("library", 4, "joint", {KEY: "Teruggedraaid: dit gebeurde nooit"})
        db.session.rollback()
    assert listening.heard() == []
    with live_app.app_context():
        driver(world).fill("library", 4, "joint", {KEY: "Wel bewaard"})
        db.session.commit()
        seq = db.session.scalar(select(StepInstance.content_version).where(StepInstance.id == instance))
    assert listening.heard() == [f"{instance} sheet {seq}"]


def test_an_approval_a_comment_and_presence_announce_themselves(
        world, live_app: Flask, step4: str, listening: Listening) -> None:
    instance = instance_id(live_app, world)
    with live_app.app_context():
        driver(world).fill_joint(4)  # every required answer: the step can be approved
        db.session.commit()
    listening.heard()
    lib = client_for(live_app, world.emails["lib_a"])
    assert lib.get(f"{step4}/live").status_code == 200  # arriving: a presence row
    assert f"{instance} presence 0" in listening.heard()
    with live_app.app_context():
        driver(world).act("library", Action("sign_off", 4, "joint"))
        db.session.commit()
    assert f"{instance} signoff 0" in listening.heard()
    reply = lib.post(f"{step4}/vraag/{KEY}/opmerkingen", data={"body": "Klopt dit?"}, headers=HX)
    assert reply.status_code in (200, 201), reply.get_data(as_text=True)[:300]
    assert any(p.startswith(f"{instance} sheet ") for p in listening.heard())


def test_a_routine_presence_refresh_is_no_news(world, live_app: Flask, step4: str, listening: Listening) -> None:
    lib = client_for(live_app, world.emails["lib_a"])
    lib.get(f"{step4}/live")
    listening.heard()
    with live_app.app_context():
        from stappenplan.worksheets import feed

        feed.refresh(instance_id(live_app, world), db.session.scalar(
            select(Presence.user_id).where(Presence.step_instance_id == instance_id(live_app, world))))
        db.session.commit()
    assert listening.heard(wait=0.5) == []


# --- tickets: the app's access rules ---------------------------------------------------------


def test_the_page_names_its_stream_and_a_ticket_is_for_one_user_and_worksheet(
        world, live_app: Flask, step4: str) -> None:
    cc = client_for(live_app, world.emails["cc_a"])
    page = cc.get(step4).get_data(as_text=True)
    pid = world.ids["partnership_a"]
    assert f'data-live-url="http://127.0.0.1:9/live/stream/{pid}/4/samen"' in page
    assert f'data-live-ticket-url="{step4}/live"' in page
    reply = cc.get(f"{step4}/live")
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    ticket = tickets.read_ticket(SECRET, reply.get_json()["ticket"])
    assert ticket is not None
    assert ticket.worksheet == f"{pid}/4/samen" and ticket.party
    assert ticket.instance_id == instance_id(live_app, world)
    # The CSP lets the page reach the stream service's origin, and nothing else besides itself.
    assert "connect-src 'self' http://127.0.0.1:9;" in cc.get(step4).headers["Content-Security-Policy"]


def test_another_tenants_worksheet_gives_no_ticket(world, live_app: Flask, step4: str) -> None:
    other = client_for(live_app, world.emails["lib_b"])
    assert other.get(f"{step4}/live").status_code == 404
    anonymous = live_app.test_client()
    assert anonymous.get(f"{step4}/live").status_code in (302, 401)


def test_with_push_off_the_page_polls_as_before(world, app: Flask) -> None:
    with app.app_context():
        driver(world).own_steps(3, 3)
    url = sheet_url(world, 4, "samen")
    client = client_for(app, world.emails["lib_a"])
    page = client.get(url).get_data(as_text=True)
    assert "data-live-url" not in page and 'hx-trigger="poll"' in page
    assert "connect-src 'self';" in client.get(url).headers["Content-Security-Policy"]


# --- presence reports of the stream service ----------------------------------------------------


def _report(client: FlaskClient, here: list, left: list, secret: str = SECRET, at: float | None = None):
    body = tickets.presence_body(here, left, time.time() if at is None else at)
    return client.post("/intern/aanwezigheid", data=body, headers={"X-Live-Signature": tickets.sign_body(secret, body),
                                                            "Content-Type": "application/json"})


def test_presence_reports_must_be_signed_and_fresh(world, live_app: Flask, step4: str) -> None:
    lib = client_for(live_app, world.emails["lib_a"])
    lib.get(f"{step4}/live")
    with live_app.app_context():
        pair = db.session.execute(select(Presence.step_instance_id, Presence.user_id)).one()
    anyone = live_app.test_client()
    assert _report(anyone, [], [list(pair)], secret="forged").status_code == 403
    assert _report(anyone, [], [list(pair)], at=time.time() - 600).status_code == 403
    with live_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Presence)) == 1
    assert _report(anyone, [], [list(pair)]).status_code == 204
    with live_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Presence)) == 0
    # A stream still open renews (or makes again) the row.
    assert _report(anyone, [list(pair)], []).status_code == 204
    with live_app.app_context():
        assert db.session.execute(select(Presence.step_instance_id, Presence.user_id)).one() == pair


# --- the stream service -------------------------------------------------------------------------


@pytest.fixture
def stream_service(live_app: Flask) -> Iterator[StreamService]:
    with StreamService(SECRET, DATABASE_URL, heartbeat=1.0) as live:
        yield live


def _old_ticket(worksheet: str, instance: int, user: int, age: int) -> str:
    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    serializer = URLSafeTimedSerializer(SECRET, salt=tickets.TICKET_SALT, signer=Old)
    return str(serializer.dumps([user, instance, worksheet, 1]))


def test_the_stream_passes_a_save_on_as_ids_and_its_sequence(
        world, live_app: Flask, step4: str, stream_service: StreamService) -> None:
    pid = world.ids["partnership_a"]
    cc = client_for(live_app, world.emails["cc_a"])
    ticket = cc.get(f"{step4}/live").get_json()["ticket"]
    stream = open_stream(f"{stream_service.url}/stream/{pid}/4/samen?ticket={ticket}")
    try:
        assert stream.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        hello = stream.next()
        assert hello is not None and hello.name == "hello"
        # (the ticket's own presence may come first, as a change)
        assert stream.next(timeout=2.5, skip=("change",)).name == "ping"  # type: ignore[union-attr]
        lib = client_for(live_app, world.emails["lib_a"])
        save(lib, step4, "Alle ouders van de peutergroep")
        with live_app.app_context():
            seq = db.session.scalar(select(StepInstance.content_version)
                                    .where(StepInstance.id == instance_id(live_app, world)))
        seen = [stream.next(timeout=3) for _ in range(3)]
        data = [e.data for e in seen if e is not None and e.name == "change"]
        assert f"sheet {seq}" in data, seen
        assert all("peutergroep" not in d for d in data)  # ids and sequence numbers, no content
    finally:
        stream.close()


def test_the_stream_refuses_forged_expired_and_other_worksheets_tickets(
        world, live_app: Flask, step4: str, stream_service: StreamService) -> None:
    pid = world.ids["partnership_a"]
    cc = client_for(live_app, world.emails["cc_a"])
    good = cc.get(f"{step4}/live").get_json()["ticket"]
    ticket = tickets.read_ticket(SECRET, good)
    assert ticket is not None
    forged = tickets.make_ticket("another-secret", ticket)
    expired = _old_ticket(ticket.worksheet, ticket.instance_id, ticket.user_id, age=tickets.TICKET_SECONDS + 5)
    for token, path in ((forged, f"{pid}/4/samen"), (expired, f"{pid}/4/samen"), ("", f"{pid}/4/samen"),
                        (good, f"{pid}/5/samen"), (good, f"{world.ids['partnership_b']}/4/samen")):
        stream = open_stream(f"{stream_service.url}/stream/{path}?ticket={token}")
        try:
            assert stream.status == 403, (path, token[:10])
        finally:
            stream.close()
    stream = open_stream(f"{stream_service.url}/stream/{pid}/4/samen?ticket={good}")
    try:  # the good ticket works: the refusals were about the tickets
        assert stream.status == 200 and stream.next().name == "hello"  # type: ignore[union-attr]
    finally:
        stream.close()


def test_the_stream_service_is_ready_and_says_bye_on_shutdown(world, live_app: Flask, step4: str) -> None:
    cc = client_for(live_app, world.emails["cc_a"])
    ticket = cc.get(f"{step4}/live").get_json()["ticket"]
    with StreamService(SECRET, DATABASE_URL) as live:
        ready = open_stream(f"{live.url}/readyz")
        assert ready.status == 200
        assert json.loads(ready.response.read())["status"] == "ok"
        ready.close()
        stream = open_stream(f"{live.url}/stream/{world.ids['partnership_a']}/4/samen?ticket={ticket}")
        assert stream.next().name == "hello"  # type: ignore[union-attr]
        started = time.monotonic()
        live.server.should_exit = True
        bye = stream.next(timeout=5)
        assert bye is not None and (bye.name, bye.data) == ("bye", "shutdown")
        live.thread.join(10)
        assert not live.thread.is_alive() and time.monotonic() - started < 3  # no wait for open streams
        stream.close()


def test_a_stream_ends_with_bye_when_its_time_is_up(world, live_app: Flask, step4: str) -> None:
    """Streams end by themselves (10 minutes in production), so that the page fetches a new
    ticket: a logout or a lost membership ends the listening within that time."""
    cc = client_for(live_app, world.emails["cc_a"])
    ticket = cc.get(f"{step4}/live").get_json()["ticket"]
    with StreamService(SECRET, DATABASE_URL, heartbeat=0.5) as live:
        live.service.settings.stream_seconds = 1.5
        stream = open_stream(f"{live.url}/stream/{world.ids['partnership_a']}/4/samen?ticket={ticket}")
        try:
            assert stream.next().name == "hello"  # type: ignore[union-attr]
            started = time.monotonic()
            bye = stream.next(timeout=4, skip=("ping", "change"))
            assert bye is not None and (bye.name, bye.data) == ("bye", "end")
            assert 1.2 <= time.monotonic() - started <= 2.5
            assert live.service.hub.count() == 0
        finally:
            stream.close()


# --- the practice page: its partnership's practice sequence ------------------------------------


def test_a_practice_change_announces_the_partnership_and_its_ticket_is_checked(
        world, live_app: Flask, listening: Listening) -> None:
    pid = world.ids["partnership_a"]
    with live_app.app_context():
        partnership = db.session.scalar(select(Partnership).where(Partnership.public_id == pid))
        assert partnership is not None
        partnership.practice_seq += 1
        db.session.commit()
        seq, key = partnership.practice_seq, partnership.id
    assert listening.heard() == [f"{key} practice {seq}"]
    lib = client_for(live_app, world.emails["lib_a"])
    page = lib.get(f"/samenwerkingen/{pid}/praktijk").get_data(as_text=True)
    assert f'data-live-url="http://127.0.0.1:9/live/stream/praktijk/{pid}"' in page
    assert 'hx-trigger="every 3s, live"' in page
    reply = lib.get(f"/samenwerkingen/{pid}/praktijk/live")
    ticket = tickets.read_ticket(SECRET, reply.get_json()["ticket"])
    assert ticket is not None
    assert (ticket.worksheet, ticket.instance_id, ticket.party) == (f"praktijk/{pid}", key, False)
    assert client_for(live_app, world.emails["lib_b"]).get(f"/samenwerkingen/{pid}/praktijk/live").status_code == 404


def test_the_practice_stream_hears_only_its_partnership(world, live_app: Flask, stream_service: StreamService) -> None:
    pid = world.ids["partnership_a"]
    lib = client_for(live_app, world.emails["lib_a"])
    ticket = lib.get(f"/samenwerkingen/{pid}/praktijk/live").get_json()["ticket"]
    stream = open_stream(f"{stream_service.url}/stream/praktijk/{pid}?ticket={ticket}")
    try:
        assert stream.next().name == "hello"  # type: ignore[union-attr]
        with live_app.app_context():
            partnership = db.session.scalar(select(Partnership).where(Partnership.public_id == pid))
            assert partnership is not None
            # A worksheet whose step instance has the partnership's id is another topic.
            db.session.execute(text("UPDATE step_instances SET content_version = content_version + 1 WHERE id = :i"),
                               {"i": partnership.id})
            partnership.practice_seq += 1
            db.session.commit()
            seq = partnership.practice_seq
        event = stream.next(timeout=3)
        assert event is not None and (event.name, event.data) == ("change", f"practice {seq}")
        assert stream.next(timeout=1) is None
    finally:
        stream.close()
