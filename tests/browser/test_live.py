"""Live worksheets in two browsers: news comes through the stream (no polling), through
polling when the stream is blocked, and someone who closes the tab leaves at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from stappenplan.extensions import db
from stappenplan.workflow.engine import Action
from stappenplan.worksheets import comments
from stappenplan.worksheets.services import load_sheet
from tests.browser.conftest import LiveServer, login, new_page
from tests.conftest import DATABASE_URL, make_app, wipe
from tests.factories import PASSWORD, build_world
from tests.factories import driver as partner_driver
from tests.livestream import StreamService

KEY = "target_parents"
FEED = "/wijzigingen"


class Live:
    def __init__(self, server: LiveServer, stream: StreamService) -> None:
        self.server, self.stream = server, stream
        self.app, self.url = server.app, server.url

    def streams(self) -> int:
        return self.stream.service.hub.count()


@pytest.fixture
def live(_migrated: None) -> Iterator[Live]:
    stream = StreamService("test-secret", DATABASE_URL, presence_beat=2.0)
    app = make_app(WTF_CSRF_ENABLED=True, MAIL_BACKEND="memory", LIVE=True, LIVE_URL=stream.url)
    try:
        with LiveServer(app) as server:
            stream.service.settings.app_url = server.url
            stream.service.settings.allow_origin = server.url
            with stream:
                yield Live(server, stream)
    finally:
        wipe(app)


def _prepare(live: Live) -> tuple[str, dict[str, str], object]:
    world = build_world(live.app)
    with live.app.app_context():
        partner_driver(world).own_steps(3, 3)
    return f"{live.url}/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen", world.emails, world


def _feed_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if FEED in request.url else None)
    return seen


def _wait_for(condition, page: Page, timeout: float = 8.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out: {what}")


def _two(live: Live, browser, page: Page, url: str, emails: dict[str, str], block_stream: bool = False) -> Page:
    login(page, live.server, emails["lib_a"], PASSWORD)
    other = new_page(browser)
    if block_stream:
        other.route("**/live/stream/**", lambda route: route.abort())
    login(other, live.server, emails["cc_a"], PASSWORD)
    page.goto(url)
    other.goto(url)
    return other


def test_an_edit_an_approval_and_a_comment_reach_the_partner_through_the_stream(live: Live, browser, page) -> None:
    url, emails, world = _prepare(live)
    other = _two(live, browser, page, url, emails)
    assert other.locator("#changes").get_attribute("data-live-url") == (
        f"{live.stream.url}/stream/{world.ids['partnership_a']}/4/samen")  # type: ignore[attr-defined]
    _wait_for(lambda: live.streams() == 2, other, what="both pages have a stream")
    other.wait_for_timeout(1500)  # each page's arrival is news for the other: let it settle
    feed = _feed_requests(other)
    other.wait_for_timeout(4000)  # idle: polling would have asked the feed 2-4 times
    assert feed == [], feed

    # An edit: typed in one browser, shown in the other, fetched once through the feed.
    text = "Alle ouders van de peutergroep, live"
    page.locator(f"#input-{KEY}").fill(text)
    expect(other.locator(f"#input-{KEY}")).to_have_value(text, timeout=5000)
    assert 1 <= len(feed) <= 4, feed

    # An approval, made through the app's services as a click would make it.
    with live.app.app_context():
        d = partner_driver(world)
        d.fill_joint(4)
        db.session.commit()
    expect(other.locator(f"#input-{KEY}")).not_to_have_value(text, timeout=5000)
    with live.app.app_context():
        partner_driver(world).act("library", Action("sign_off", 4, "joint"))
        db.session.commit()
    expect(other.locator("#sheet-signed")).to_have_value("library", timeout=5000)

    # A comment: the question's count moves on.
    before = int(other.locator(f"#comment-count-{KEY}").get_attribute("data-count") or "0")
    with live.app.app_context():
        d = partner_driver(world)
        comments.add_comment(load_sheet(d.p, "library", 4, "joint"), d.users["library"], KEY, "Klopt dit?", [])
        db.session.commit()
    expect(other.locator(f"#comment-count-{KEY}")).to_have_attribute("data-count", str(before + 1), timeout=5000)

    # Every fetch followed an announcement: idle again, nothing is asked.
    other.wait_for_timeout(500)
    settled = len(feed)
    other.wait_for_timeout(3000)
    assert len(feed) == settled, feed
    assert other.js_errors == []  # type: ignore[attr-defined]


def test_with_the_stream_blocked_news_comes_through_polling(live: Live, browser, page) -> None:
    url, emails, _ = _prepare(live)
    other = _two(live, browser, page, url, emails, block_stream=True)
    feed = _feed_requests(other)
    text = "Via het oude vragen, want de stroom is dicht"
    page.locator(f"#input-{KEY}").fill(text)
    expect(other.locator(f"#input-{KEY}")).to_have_value(text, timeout=8000)
    other.wait_for_timeout(3500)
    assert len(feed) >= 2, feed  # polling, silently
    assert live.streams() == 1  # only the page whose stream was not blocked
    expect(other.locator("#live-assertive")).to_have_text("")  # nothing said to the user
    assert other.locator(".flash--error").count() == 0
    assert other.js_errors == []  # type: ignore[attr-defined]


def test_who_closes_the_tab_is_gone_for_the_partner_within_five_seconds(live: Live, browser, page) -> None:
    url, emails, _ = _prepare(live)
    other = _two(live, browser, page, url, emails)
    _wait_for(lambda: live.streams() == 2, other, what="both pages have a stream")
    presence = other.locator("#presence")
    expect(presence).to_contain_text("bibliotheek", timeout=5000)
    leaving = page.context.new_page()  # the library closes its tab
    page.close()
    started = time.monotonic()
    expect(presence).not_to_contain_text("bibliotheek", timeout=5000)
    assert time.monotonic() - started <= 5.0
    leaving.close()
    assert other.js_errors == []  # type: ignore[attr-defined]


def test_after_the_stream_service_restarts_the_page_catches_up_without_a_reload(live: Live, browser, page) -> None:
    url, emails, _ = _prepare(live)
    other = _two(live, browser, page, url, emails)
    _wait_for(lambda: live.streams() == 2, other, what="both pages have a stream")
    loads: list[str] = []
    other.on("framenavigated", lambda frame: loads.append(frame.url) if frame == other.main_frame else None)

    # A deploy: the service says bye and is gone; an edit made meanwhile still arrives (polling).
    settings = live.stream.service.settings
    live.stream.__exit__(None, None, None)
    meanwhile = "Gewijzigd terwijl de stroom weg was"
    page.locator(f"#input-{KEY}").fill(meanwhile)
    expect(other.locator(f"#input-{KEY}")).to_have_value(meanwhile, timeout=8000)

    # The service is back on the same address: both pages reconnect by themselves.
    restarted = StreamService(settings.secret, settings.database_url, app_url=settings.app_url,
                              allow_origin=settings.allow_origin, presence_beat=2.0, port=live.stream.port)
    with restarted:
        live.stream = restarted
        _wait_for(lambda: restarted.service.hub.count() == 2, other, timeout=20, what="both pages reconnected")
        other.wait_for_timeout(1500)  # each reconnect catches up once from the feed
        feed = _feed_requests(other)
        other.wait_for_timeout(3000)
        assert feed == [], feed  # live again: no polling
        after = "En weer live na de herstart"
        page.locator(f"#input-{KEY}").fill(after)
        expect(other.locator(f"#input-{KEY}")).to_have_value(after, timeout=5000)
    assert loads == [], loads  # no reload
    assert other.js_errors == []  # type: ignore[attr-defined]


def test_a_hidden_tab_closes_its_stream_and_opens_it_again_when_shown(live: Live, browser, page) -> None:
    url, emails, _ = _prepare(live)
    other = _two(live, browser, page, url, emails)
    _wait_for(lambda: live.streams() == 2, other, what="both pages have a stream")
    show = "(state) => { Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});" \
           " document.dispatchEvent(new Event('visibilitychange')); }"
    other.evaluate(show, "hidden")
    _wait_for(lambda: live.streams() == 1, other, what="the hidden tab's stream is closed")
    other.evaluate(show, "visible")
    _wait_for(lambda: live.streams() == 2, other, what="the shown tab listens again")
    assert other.js_errors == []  # type: ignore[attr-defined]


def test_a_stream_silent_past_its_heartbeat_gives_way_to_polling(live: Live, browser, page) -> None:
    """A buffering proxy lets the stream open and then holds every event back: after two
    missed heartbeats the page closes it and polls, saying nothing."""
    service = live.stream.service
    service.settings.heartbeat = 0.5
    send_event = service._event

    async def held_back(send, text: str) -> None:
        if "event: hello" in text:
            await send_event(send, text)  # what comes later never arrives

    service._event = held_back  # type: ignore[method-assign]
    url, emails, _ = _prepare(live)
    other = _two(live, browser, page, url, emails)
    _wait_for(lambda: live.streams() >= 1, other, what="a stream opened")
    other.wait_for_timeout(1500)
    feed = _feed_requests(other)
    other.wait_for_timeout(3000)
    assert feed == [], feed  # within 2 heartbeats + 5 s the page still trusts its stream
    other.wait_for_timeout(5000)
    assert len(feed) >= 2, feed  # then it polls
    text = "Gezien ondanks een stroom die niets doorlaat"
    page.locator(f"#input-{KEY}").fill(text)
    expect(other.locator(f"#input-{KEY}")).to_have_value(text, timeout=8000)
    expect(other.locator("#live-assertive")).to_have_text("")
    assert other.js_errors == []  # type: ignore[attr-defined]


def test_the_practice_page_fetches_its_news_when_the_stream_says_so(live: Live, browser, page) -> None:
    from sqlalchemy import select

    from stappenplan.partnerships.models import Partnership

    world = build_world(live.app)
    pid = world.ids["partnership_a"]
    url = f"{live.url}/samenwerkingen/{pid}/praktijk"
    login(page, live.server, world.emails["lib_a"], PASSWORD)
    other = new_page(browser)
    login(other, live.server, world.emails["cc_a"], PASSWORD)
    page.goto(url)
    other.goto(url)
    _wait_for(lambda: live.streams() == 2, other, what="both practice pages have a stream")
    other.wait_for_timeout(1000)
    news: list[str] = []
    other.on("request", lambda request: news.append(request.url) if "/praktijk/nieuws" in request.url else None)
    other.wait_for_timeout(4000)  # polling would have asked once or twice
    assert news == [], news
    with live.app.app_context():
        partnership = db.session.scalar(select(Partnership).where(Partnership.public_id == pid))
        partnership.practice_seq += 1  # what every practice change does (services._next_seq)
        db.session.commit()
    _wait_for(lambda: len(news) >= 1, other, timeout=3, what="the practice feed fetched after the announcement")
    assert other.js_errors == []  # type: ignore[attr-defined]
