"""The language before logging in: the browser's, or the visitor's choice on the switch;
after logging in a saved language of the account wins."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from tests.factories import login


def _lang(page: str) -> str:
    found = re.search(r'<html lang="(\w+)"', page)
    assert found, page[:200]
    return found.group(1)


def test_the_login_page_speaks_the_browsers_language(client: FlaskClient) -> None:
    english = client.get("/inloggen", headers={"Accept-Language": "en-GB,en;q=0.9"})
    page = english.get_data(as_text=True)
    assert _lang(page) == "en" and "Forgotten your password?" in page and "Wachtwoord vergeten?" not in page
    assert "Accept-Language" in english.headers.get("Vary", "")
    dutch = client.get("/inloggen", headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.8"}).get_data(as_text=True)
    assert _lang(dutch) == "nl" and "Wachtwoord vergeten?" in dutch
    # A language the app does not speak, or none at all: Dutch.
    assert _lang(client.get("/inloggen", headers={"Accept-Language": "de-DE"}).get_data(as_text=True)) == "nl"
    assert _lang(client.get("/inloggen").get_data(as_text=True)) == "nl"


def test_the_switch_changes_the_language_and_is_remembered(client: FlaskClient) -> None:
    page = client.get("/wachtwoord-vergeten?x=1").get_data(as_text=True)
    switch = re.search(r'<form class="lang-switch".*?</form>', page, re.S)
    assert switch, "the logged-out layout offers the language switch"
    assert 'name="locale" value="en"' in switch.group(0) and 'aria-current="true">Nederlands' in switch.group(0)
    assert 'name="next" value="/wachtwoord-vergeten?x=1"' in switch.group(0)
    response = client.post("/taal", data={"locale": "en", "next": "/wachtwoord-vergeten?x=1"})
    assert response.status_code == 302 and response.headers["Location"] == "/wachtwoord-vergeten?x=1"
    # Remembered: the next pages are English even though the browser asks for Dutch.
    login_page = client.get("/inloggen", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert _lang(login_page) == "en" and "Forgotten your password?" in login_page
    assert 'name="locale" value="nl"' in login_page
    # Back to Dutch; a foreign address or an unknown language changes nothing harmful.
    assert client.post("/taal", data={"locale": "nl", "next": "//evil.example"}).headers["Location"] == "/inloggen"
    assert _lang(client.get("/inloggen", headers={"Accept-Language": "en"}).get_data(as_text=True)) == "nl"
    client.post("/taal", data={"locale": "xx"})
    assert _lang(client.get("/inloggen").get_data(as_text=True)) == "nl"


def test_the_switch_needs_a_csrf_token(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    assert client.post("/taal", data={"locale": "en"}).status_code == 400
    assert _lang(client.get("/inloggen").get_data(as_text=True)) == "nl"


def test_a_saved_language_wins_over_the_browser_and_the_switch(app: Flask, world) -> None:
    client = app.test_client()
    client.post("/taal", data={"locale": "en"})
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "admin@bieb-a.nl"))
        assert user is not None
        user.locale = "nl"
        db.session.commit()
    login(client, "admin@bieb-a.nl")
    page = client.get("/account", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert _lang(page) == "nl" and 'class="lang-switch"' not in page
    # Choosing English on the account page saves it, and then it wins over a Dutch browser.
    client.post("/account/taal", data={"locale": "en"})
    assert _lang(client.get("/account", headers={"Accept-Language": "nl"}).get_data(as_text=True)) == "en"
