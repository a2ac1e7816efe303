"""Security headers, rate limits and sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.conftest import make_app, wipe
from tests.factories import PASSWORD, build_world, login


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
    for _ in range(10):
        assert client.post("/inloggen", data={"email": "x@y.nl", "password": "fout-fout-fout"}).status_code == 200
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
