"""Errors after the response was made: a dead connection at teardown keeps the answer,
and anything that escapes Flask still gets the Dutch 503 page (never a bare 500)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.conftest import make_app
from tests.factories import login


def test_a_failing_session_close_at_teardown_keeps_the_response(world, app: Flask,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    calls = []
    close = Session.close

    def dead(self) -> None:
        calls.append(1)
        if len(calls) == 1:  # the connection died: the rollback at the end of the request fails
            close(self)
            raise OperationalError("ROLLBACK", {}, Exception("server closed the connection unexpectedly"))
        close(self)

    monkeypatch.setattr(Session, "close", dead)
    response = client.get("/start")
    monkeypatch.undo()
    assert calls and response.status_code == 200 and "Start" in response.get_data(as_text=True)
    assert client.get("/start").status_code == 200  # and the next request works


def test_an_error_escaping_flask_gives_the_dutch_503_page(_migrated: None) -> None:
    app = make_app(PROPAGATE_EXCEPTIONS_IN_TESTS=False)  # as in production

    @app.teardown_request
    def explode(error: BaseException | None) -> None:
        raise OperationalError("ROLLBACK", {}, Exception("connection reset"))

    response = app.test_client().get("/inloggen")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "Even niet bereikbaar" in body and "Internal Server Error" not in body
    assert response.headers["Retry-After"] == "30"
