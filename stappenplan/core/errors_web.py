"""Dutch error pages, for full pages and for htmx requests alike."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, make_response, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..i18n import gettext as _
from . import uow
from .templating import render, wants_partial

MESSAGES = {
    400: ("Dat lukte niet", "Het verzoek klopt niet. Probeer het opnieuw vanaf de vorige pagina."),
    401: ("Log opnieuw in", "Je bent niet (meer) ingelogd. Log in en probeer het opnieuw."),
    403: ("Geen toegang", "Je hebt geen toegang tot deze pagina. Denk je dat dit niet klopt? "
          "Vraag het aan een beheerder van je organisatie."),
    404: ("Pagina niet gevonden", "Deze pagina bestaat niet, of je hebt er geen toegang toe."),
    405: ("Dat kan zo niet", "Deze actie kan op deze manier niet worden uitgevoerd."),
    413: ("Te groot", "Wat je verstuurde is te groot. Probeer een kleiner bestand of minder tekst."),
    429: ("Te veel pogingen", "Je hebt het te vaak geprobeerd. Wacht even en probeer het dan opnieuw."),
    500: ("Er ging iets mis", "Er ging bij ons iets mis. Je wijziging is niet opgeslagen. "
          "Probeer het over een paar minuten opnieuw."),
    503: ("Even niet bereikbaar", "Stappenplan kan de gegevens nu niet bereiken. Er is niets "
          "half opgeslagen. Probeer het over een minuut opnieuw."),
}


def _same_site_referrer() -> str | None:
    ref = request.referrer or ""
    return ref if ref.startswith(request.host_url) and ref != request.url else None


def _page_path() -> str | None:
    """The path of the page the user is on: the referrer for a part of a page (htmx) or a
    form's post, the request itself for a page."""
    if wants_partial() or request.method != "GET":
        ref = _same_site_referrer()
        return ref[len(request.host_url) - 1:] if ref else None
    return request.full_path.rstrip("?")


def error_page(code: int, title: str | None = None, message: str | None = None) -> tuple[str, int]:
    default_title, default_message = MESSAGES.get(code, MESSAGES[500])
    if code == 503:
        g.database_down = True  # render without reading anything (no user, no menu, Dutch)
    template = "errors/_error.html" if request.headers.get("HX-Request") else "errors/error.html"
    return (
        render(
            template, code=code, title=title or _(default_title),
            message=message or _(default_message),
            back=_same_site_referrer(),
            # 401: log in and come back to the page the request came from.
            login_url=url_for("accounts.login", next=_page_path()) if code == 401 else None,
            # 503: render without touching the database again (no menu, no user name).
            database_down=g.get("database_down", False),
        ),
        code,
    )


#: Served when an error escapes Flask itself (for example while the request's database
#: session is closed on a connection that died): still Dutch, still a 503, never the
#: WSGI server's bare English "Internal Server Error".
LAST_RESORT = (
    '<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>Even niet bereikbaar · Stappenplan</title>'
    '</head><body><main><h1>Even niet bereikbaar</h1><p>Stappenplan kan de gegevens nu niet bereiken. '
    "Er is niets half opgeslagen. Probeer het over een minuut opnieuw.</p></main></body></html>"
).encode()


class SafetyNet:
    """WSGI middleware: anything that escapes the app becomes the Dutch 503 page."""

    def __init__(self, app: Any, logger: logging.Logger, propagate: bool = False) -> None:
        self.app = app
        self.logger = logger
        self.propagate = propagate

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started: list[tuple[Any, ...]] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # Flask starts the response before its teardown runs: hold it until the app returned.
            started[:] = [(status, headers, exc_info)]
            return lambda data: None  # Flask never uses write()

        try:
            body = self.app(environ, hold)
        except Exception:  # the last line of defence
            if self.propagate:  # tests: a bug must fail the test, not look like a 503
                raise
            self.logger.exception("error outside the request handlers")
            start_response("503 Service Unavailable", [("Content-Type", "text/html; charset=utf-8"),
                                                       ("Retry-After", "30"),
                                                       ("Content-Length", str(len(LAST_RESORT)))])
            return [LAST_RESORT]
        start_response(*started[0])
        return body


def close_session(error: BaseException | None = None) -> None:
    """Teardown: end the request's session; a connection that died is dropped quietly
    (the request's own answer, already made, stays what it was)."""
    try:
        db.session.remove()
    except Exception:  # a dead connection cannot be rolled back
        current_app.logger.warning("closing the database session failed; connection dropped", exc_info=True)
        try:
            db.session.registry.clear()
        except Exception:
            pass


def commit_failed(error: Exception) -> Response:
    """The answer for a request whose commit failed (nothing of it was saved)."""
    if isinstance(error, OperationalError):
        current_app.logger.warning("database unavailable at commit: %s", error.__class__.__name__)
        body, code = error_page(503)
    else:
        current_app.logger.exception("commit failed", exc_info=error)
        body, code = error_page(500)
    return make_response(body, code)


def register(app: Flask) -> None:
    # Runs before Flask-SQLAlchemy's own teardown (teardowns run in reverse order).
    app.teardown_appcontext(close_session)
    app.wsgi_app = SafetyNet(app.wsgi_app, app.logger,  # type: ignore[method-assign]
                             propagate=bool(app.config.get("PROPAGATE_EXCEPTIONS_IN_TESTS")))
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        uow.failed()
        return error_page(
            400,
            _("Formulier verlopen"),
            _("Dit formulier is verlopen of niet compleet verstuurd. Ga terug, laad de pagina "
              "opnieuw en probeer het nog eens. Er is niets opgeslagen."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        code = error.code or 500
        if code < 400:  # routing redirects are exceptions too
            return error
        uow.failed()  # an abort() after writes undoes them
        return error_page(code if code in MESSAGES else 400)

    @app.errorhandler(OperationalError)
    def database_down(error: OperationalError) -> tuple[str, int]:
        uow.failed()
        app.logger.warning("database unavailable: %s", error.__class__.__name__)
        return error_page(503)

    @app.errorhandler(Exception)
    def server_error(error: Exception) -> tuple[str, int]:
        uow.failed()
        app.logger.exception("unhandled error")
        if app.config.get("PROPAGATE_EXCEPTIONS_IN_TESTS"):
            raise error
        return error_page(500)
