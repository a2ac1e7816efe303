"""Security headers, rate limits and sessions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import make_app, wipe
from tests.factories import PASSWORD, build_world, driver, login


@pytest.fixture
def limited(_migrated: None) -> Iterator[Flask]:
    app = make_app(RATELIMIT_ENABLED=True)
    yield app
    wipe(app)


def test_security_headers_on_every_page(client) -> None:
    for url in ("/inloggen", "/bestaat-niet", "/static/css/app.css"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"


def test_no_inline_script_or_style_in_pages(world, app: Flask) -> None:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    for url in ("/start", f"/samenwerkingen/{world.ids['partnership_a']}",
                f"/samenwerkingen/{world.ids['partnership_a']}/stap/1/bibliotheek", "/organisatie/leden"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>" not in page and "style=" not in page and " onclick=" not in page, url
        assert "<script src=" in page


def test_production_cookies_and_hsts(_migrated: None) -> None:
    from config import ProductionConfig

    app = make_app(SESSION_COOKIE_SECURE=ProductionConfig.SESSION_COOKIE_SECURE,
                   REMEMBER_COOKIE_SECURE=True)
    client = app.test_client()
    response = client.get("/inloggen")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_rate_limit_with_dutch_page(limited: Flask) -> None:
    build_world(limited)
    client = limited.test_client()
    for i in range(10):  # other addresses each time: the per-account throttle is not what this tests
        assert client.post("/inloggen", data={"email": f"x{i}@y.nl", "password": "fout-fout-fout"}).status_code == 200
    response = client.post("/inloggen", data={"email": "admin@bieb-a.nl", "password": PASSWORD})
    assert response.status_code == 429
    body = response.get_data(as_text=True)
    assert "Te veel pogingen" in body and "seconden" in body
    assert int(response.headers["Retry-After"]) > 0


def test_password_reset_rate_limit(limited: Flask) -> None:
    client = limited.test_client()
    for _ in range(5):
        assert client.post("/wachtwoord-vergeten", data={"email": "a@b.nl"}).status_code == 200
    assert client.post("/wachtwoord-vergeten", data={"email": "a@b.nl"}).status_code == 429


def test_invitation_rate_limit(limited: Flask) -> None:
    world = build_world(limited)
    client = limited.test_client()
    login(client, world.emails["lib_a"])
    for i in range(30):
        client.post("/organisatie/leden/uitnodigen", data={"email": f"collega{i}@bieb-a.nl", "role": "member"})
    response = client.post("/organisatie/leden/uitnodigen", data={"email": "nog1@bieb-a.nl", "role": "member"})
    assert response.status_code == 429


def test_autosave_rate_limit(limited: Flask) -> None:
    from stappenplan.security import AUTOSAVE

    limit = int(AUTOSAVE.split()[0])
    world = build_world(limited)
    client = limited.test_client()
    login(client, world.emails["lib_a"])
    url = f"/samenwerkingen/{world.ids['partnership_a']}/stap/1/bibliotheek/vraag/why"
    statuses = [client.post(url, data={"q-why": f"tekst {i}", "v-why": i}, headers={"HX-Request": "true"}).status_code
                for i in range(limit + 1)]
    assert statuses[:limit].count(429) == 0 and statuses[-1] == 429


# --- links in e-mails: always BASE_URL, never the request's host ------------------------------------

BASE = "https://stappenplan.example.nl"


@pytest.fixture
def based(_migrated: None) -> Iterator[Flask]:
    """An app with BASE_URL set and one trusted proxy hop (X-Forwarded-Host would count)."""
    app = make_app(BASE_URL=BASE, TRUST_PROXY=1)
    yield app
    wipe(app)


def _mail_links(app: Flask, to: str) -> list[str]:
    from stappenplan.mail import outbox

    with app.app_context():
        return [link for m in outbox() if m.to == to for link in re.findall(r"https?://\S+", m.body)]


@pytest.mark.parametrize("headers", [
    {"Host": "evil.example"},
    {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
], ids=["host", "x-forwarded-host"])
def test_reset_link_uses_base_url_whatever_the_host_header(based: Flask, headers: dict[str, str]) -> None:
    world = build_world(based)
    client = based.test_client()
    response = client.post("/wachtwoord-vergeten", data={"email": world.emails["cc_a"]}, headers=headers)
    assert response.status_code == 200
    links = _mail_links(based, world.emails["cc_a"])
    assert len(links) == 1 and links[0].startswith(BASE + "/wachtwoord-herstellen/"), links
    assert "evil" not in links[0]


def test_mention_link_ignores_a_forwarded_host(_migrated: None) -> None:
    """No BASE_URL (development default) and a trusted proxy: X-Forwarded-Host is still not used."""

    app = make_app(TRUST_PROXY=1)
    try:
        world = build_world(app)
        with app.app_context():
            partnership = driver(world)
            partnership.own_steps(3, 3)
            cc_id = partnership.users["childcare"].public_id
        client = app.test_client()
        login(client, world.emails["lib_a"])
        url = f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen/vraag/target_parents/opmerkingen"
        response = client.post(url, data={"body": "Wat vind jij?", "mentions": [cc_id]},
                               headers={"HX-Request": "true", "X-Forwarded-Host": "evil.example"})
        assert response.status_code == 200
        links = _mail_links(app, world.emails["cc_a"])
        assert links and all(link.startswith("http://127.0.0.1:5000/samenwerkingen/") for link in links), links
    finally:
        wipe(app)


def test_links_without_base_url_use_the_fixed_development_default(app: Flask, client) -> None:
    """Development and tests: no BASE_URL means http://127.0.0.1:5000, not the request's host."""
    world = build_world(app)
    client.post("/wachtwoord-vergeten", data={"email": world.emails["cc_a"]}, headers={"Host": "evil.example"})
    links = _mail_links(app, world.emails["cc_a"])
    assert len(links) == 1 and links[0].startswith("http://127.0.0.1:5000/wachtwoord-herstellen/"), links


# --- proxies: TRUST_PROXY is the number of proxies in front ------------------------------------------


def test_trust_proxy_two_trusts_two_hops(_migrated: None) -> None:
    """Client → proxy A → proxy B → app: the client is the second address from the right;
    whatever the client itself put further left is not trusted."""
    app = make_app(RATELIMIT_ENABLED=True, TRUST_PROXY=2)
    try:
        client = app.test_client()
        for i in range(10):
            forwarded = f"192.0.2.{i}, 203.0.113.7, 10.0.0.1"  # the client rotates its own entry
            response = client.post("/inloggen", data={"email": f"x{i}@y.nl", "password": "fout-fout-fout"},
                                   headers={"X-Forwarded-For": forwarded})
            assert response.status_code == 200
        blocked = client.post("/inloggen", data={"email": "z@y.nl", "password": "fout-fout-fout"},
                              headers={"X-Forwarded-For": "192.0.2.99, 203.0.113.7, 10.0.0.1"})
        assert blocked.status_code == 429
        other = client.post("/inloggen", data={"email": "z@y.nl", "password": "fout-fout-fout"},
                            headers={"X-Forwarded-For": "198.51.100.9, 10.0.0.1"})
        assert other.status_code == 200, "another client behind the same proxies has its own limit"
    finally:
        wipe(app)


@pytest.mark.parametrize(("raw", "hops"), [("", 0), ("0", 0), ("1", 1), ("2", 2), ("true", 1), ("ja", 1),
                                           ("off", 0)])
def test_trust_proxy_setting_is_a_number_of_hops(monkeypatch: pytest.MonkeyPatch, raw: str, hops: int) -> None:
    import config

    monkeypatch.setenv("TRUST_PROXY", raw)
    assert config.proxy_hops("TRUST_PROXY", 0) == hops


def test_trust_proxy_setting_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    import config

    monkeypatch.setenv("TRUST_PROXY", "-1")
    with pytest.raises(ValueError, match="TRUST_PROXY"):
        config.proxy_hops("TRUST_PROXY", 0)


def test_rotating_forwarded_for_without_trust_proxy_does_not_bypass_the_login_limit(limited: Flask) -> None:
    """The app's port reached directly (no proxy, TRUST_PROXY=0): X-Forwarded-For is ignored."""
    assert not limited.config["TRUST_PROXY"]
    client = limited.test_client()
    statuses = [client.post("/inloggen", data={"email": f"x{i}@y.nl", "password": "fout-fout-fout"},
                            headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code for i in range(11)]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429


# --- login throttle per account: a growing wait after the third failure ---------------------------------


class Clock:
    """The throttle's clock, moved by hand (no sleeping)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from stappenplan.accounts import throttle

    moved = Clock()
    monkeypatch.setattr(throttle, "utcnow", moved)
    return moved


def _attempt(client, email: str, password: str = "fout-fout-fout"):
    return client.post("/inloggen", data={"email": email, "password": password})


def _error(response) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', response.get_data(as_text=True), re.S)
    assert match, response.get_data(as_text=True)[:2000]
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(0)).split())


def test_login_throttle_waits_double_from_the_third_failure_up_to_15_minutes(app: Flask, clock: Clock) -> None:
    from stappenplan.accounts import throttle

    waits = []
    with app.app_context():
        for _ in range(15):
            throttle.failed("Iemand@Voorbeeld.nl ")
            waits.append(throttle.wait_left("iemand@voorbeeld.nl"))
            clock.tick(waits[-1])  # the wait is over: the next attempt is allowed again
            assert throttle.wait_left("iemand@voorbeeld.nl") == 0
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_login_throttle_refuses_the_address_after_three_failures(world, app: Flask, clock: Clock,
                                                                  known: bool) -> None:
    email = world.emails["cc_a"] if known else "niemand@nergens.nl"
    client = app.test_client()
    for _ in range(3):
        assert _attempt(client, email).status_code == 200
    refused = _attempt(client, email, PASSWORD)  # even the right password has to wait
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "Probeer het over 1 seconde opnieuw" in _error(refused)
    clock.tick(1)
    assert _attempt(client, email).status_code == 200  # the 4th failure: 2 seconds
    refused = _attempt(client, email)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert "Probeer het over 2 seconden opnieuw" in _error(refused)
    clock.tick(1)
    assert _attempt(client, email, PASSWORD).status_code == 429, "refused attempts do not shorten the wait"
    clock.tick(1)
    if known:
        assert _attempt(client, email, PASSWORD).status_code == 302
        for _ in range(2):  # a successful login starts the count again
            assert _attempt(client.application.test_client(), email).status_code == 200
        assert _attempt(app.test_client(), email).status_code == 200


def test_login_throttle_says_the_same_for_known_and_unknown_addresses(world, app: Flask, clock: Clock) -> None:
    from stappenplan.accounts import throttle

    seen = []
    for email in (world.emails["cc_a"], "niemand@nergens.nl"):
        with app.app_context():
            for _ in range(12):  # 2^9 = 512 s: said in minutes
                throttle.failed(email)
                clock.tick(throttle.wait_left(email))
        client = app.test_client()
        assert _attempt(client, email).status_code == 200
        refused = _attempt(client, email)
        seen.append((refused.status_code, refused.headers["Retry-After"], _error(refused)))
    assert seen[0] == seen[1]
    assert seen[0][:2] == (429, "900") and "Probeer het over 15 minuten opnieuw" in seen[0][2]


def test_login_throttle_is_shared_by_all_app_processes(world, app: Flask, clock: Clock) -> None:
    from stappenplan.extensions import db

    other = make_app()  # another worker on the same database
    try:
        for _ in range(3):
            _attempt(app.test_client(), world.emails["cc_a"])
        assert _attempt(other.test_client(), world.emails["cc_a"], PASSWORD).status_code == 429
    finally:
        with other.app_context():
            db.engine.dispose()


def test_password_reset_ends_the_login_throttle(world, app: Flask, clock: Clock) -> None:
    from stappenplan.mail import outbox

    client = app.test_client()
    for _ in range(3):
        _attempt(client, world.emails["cc_a"])
    client.post("/wachtwoord-vergeten", data={"email": world.emails["cc_a"]})
    with app.app_context():
        link = re.search(r"http://[^/\s]+(/wachtwoord-herstellen/\S+)", outbox()[-1].body).group(1)
    new = "hersteld-wachtwoord-1"
    assert client.post(link, data={"password": new, "confirm": new}).status_code == 302
    assert _attempt(app.test_client(), world.emails["cc_a"], new).status_code == 302


def test_login_throttle_forgets_an_address_after_a_quiet_day(app: Flask, clock: Clock) -> None:
    from sqlalchemy import func

    from stappenplan.accounts import throttle
    from stappenplan.accounts.models import LoginThrottle
    from stappenplan.extensions import db

    with app.app_context():
        for _ in range(3):
            throttle.failed("typo@voorbeeld.nl")
        clock.tick(24 * 3600 + 1)
        throttle.failed("iemand-anders@voorbeeld.nl")  # any failure clears the quiet rows
        assert db.session.scalar(select(func.count()).select_from(LoginThrottle)) == 1
        throttle.failed("typo@voorbeeld.nl")
        assert throttle.wait_left("typo@voorbeeld.nl") == 0, "the count started anew"
