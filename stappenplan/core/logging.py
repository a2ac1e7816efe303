"""Structured logs: one line per request, and the application's own log records.

``LOG_FORMAT=json`` (the default in production) writes every record as one JSON
object per line on stderr, for a log collector; ``plain`` writes readable lines.
Under tests (``TESTING``) with the plain format nothing is configured, so pytest
shows records the usual way.

The request line is written by a small WSGI middleware around the whole app
(so it also covers static files, redirects from access checks and errors) and
holds: a request id (the proxy's ``X-Request-ID`` when it is a sane token,
otherwise a new one; always echoed in the response), method, path *without* the
query string (it may hold search terms) and with secret URL tokens masked, the
matched route, status, duration in ms, and the public id of the user's
organisation. Never names, email addresses or IP addresses.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
ENV_REQUEST_ID = "stappenplan.request_id"
ENV_ORG = "stappenplan.org"
ENV_ROUTE = "stappenplan.route"
ENV_PATH = "stappenplan.path"

#: A request id from the proxy is used only when it looks like one (nginx's
#: $request_id is 32 hex digits, a UUID has 36 characters): nothing that could
#: break a log line or smuggle text into it.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
#: URL arguments that are secrets (invitation and password reset links).
SECRET_URL_ARGS = frozenset({"token"})
#: Health checks come every few seconds from the load balancer: logged at DEBUG.
QUIET_PATHS = frozenset({"/healthz", "/readyz"})

request_log = logging.getLogger("stappenplan.request")

# Attributes every LogRecord has; everything else on a record came in as ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message", "asctime", "taskName",
}


def current_request_id() -> str | None:
    if has_request_context():
        return request.environ.get(ENV_REQUEST_ID)
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and value is not None:
                data[key] = value
        if "request_id" not in data:
            rid = current_request_id()
            if rid:
                data["request_id"] = rid
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """Readable lines; the request id of the current request is added when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None) or current_request_id()
        if rid and record.name != request_log.name:
            line += f" [request {rid}]"
        return line


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # a text stream
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure(app: Flask) -> logging.Handler | None:
    """Install the log handler chosen by ``LOG_FORMAT`` on the root logger (once per process).

    Returns the handler, or None when logging is left alone (plain format under tests).
    """
    fmt = (app.config.get("LOG_FORMAT") or "plain").lower()
    level = str(app.config.get("LOG_LEVEL") or "INFO").upper()
    if fmt not in {"json", "plain"}:
        raise RuntimeError("LOG_FORMAT must be 'json' or 'plain'")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_stappenplan", False):
            root.removeHandler(handler)
    if fmt == "plain" and app.testing:
        return None
    handler = _StderrHandler()
    handler._stappenplan = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # Flask's own stderr handler on the app logger would print every record twice.
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)
    return handler


def _sane_request_id(value: str | None) -> str | None:
    if value and SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def _raw_path(environ: dict[str, Any]) -> str:
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:  # WSGI hands the path over as latin-1 decoded bytes
        path = path.encode("latin-1").decode("utf-8", "replace")
    except UnicodeError:
        pass
    return path[:300]


class RequestLogMiddleware:
    """Times each request from the first byte in to the last byte out and logs one line."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        rid = _sane_request_id(environ.get("HTTP_X_REQUEST_ID")) or uuid.uuid4().hex
        environ[ENV_REQUEST_ID] = rid
        seen: dict[str, Any] = {}

        def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status
            seen["length"] = next((v for k, v in headers if k.lower() == "content-length"), None)
            if not any(k.lower() == "x-request-id" for k, _v in headers):
                headers.append((REQUEST_ID_HEADER, rid))
            return start_response(status, headers, exc_info)

        try:
            body = self.wsgi_app(environ, _start_response)
        except BaseException:
            seen.setdefault("status", "500")
            self._log(environ, seen, started)
            raise
        done: list[bool] = []

        def finished() -> None:
            if not done:
                done.append(True)
                self._log(environ, seen, started)

        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            # Keep the server's sendfile() path for files: hook into close() instead of wrapping.
            original_close = body.close  # type: ignore[attr-defined]

            def close() -> None:
                try:
                    original_close()
                finally:
                    finished()

            body.close = close  # type: ignore[attr-defined]
            return body
        return _LoggedBody(body, finished)

    @staticmethod
    def _log(environ: dict[str, Any], seen: dict[str, Any], started: float) -> None:
        if str(environ.get("SERVER_SOFTWARE", "")).startswith("Werkzeug/"):
            return  # `flask run` prints its own request lines
        try:
            status = int(str(seen.get("status", "0")).split(" ", 1)[0])
        except ValueError:
            status = 0
        path = environ.get(ENV_PATH) or _raw_path(environ)
        duration = round((time.perf_counter() - started) * 1000, 2)
        fields = {
            "request_id": environ.get(ENV_REQUEST_ID),
            "method": environ.get("REQUEST_METHOD"),
            "path": path,
            "route": environ.get(ENV_ROUTE),
            "status": status,
            "duration_ms": duration,
            "bytes": int(seen["length"]) if str(seen.get("length") or "").isdigit() else None,
            "org": environ.get(ENV_ORG),
        }
        quiet = path in QUIET_PATHS and status < 400
        level = logging.DEBUG if quiet else logging.ERROR if status >= 500 else logging.INFO
        if request_log.isEnabledFor(level):
            org = f" org={fields['org']}" if fields["org"] else ""
            request_log.log(level, f"{fields['method']} {path} {status} {duration}ms id={fields['request_id']}{org}",
                            extra=fields)


class _LoggedBody:
    """The response body, passed through; the log line is written when the last chunk
    was handed to the server, or when the server closes the body early."""

    def __init__(self, body: Iterable[bytes], finished: Callable[[], None]) -> None:
        self._body = body
        self._finished = finished

    def __iter__(self) -> Iterator[bytes]:
        yield from self._body
        self._finished()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finished()


def _note_route(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """url_value_preprocessor: remember the route, and mask secret tokens in the logged path."""
    environ = request.environ
    if request.url_rule is not None:
        environ[ENV_ROUTE] = request.url_rule.rule
    secrets = [str(v) for k, v in (values or {}).items() if k in SECRET_URL_ARGS and v]
    if secrets:
        path = _raw_path(environ)
        for secret in secrets:
            path = path.replace(secret, "[redacted]")
        environ[ENV_PATH] = path


def _note_organisation() -> None:
    """before_request, after the access check: the organisation of a user already loaded.

    Reads only what the access check loaded, so it never adds a query.
    """
    user = g.get("stappenplan_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return
    from sqlalchemy import inspect as sa_inspect

    state = sa_inspect(user, raiseerr=False)
    if state is None or "membership" in state.unloaded:
        return
    membership = user.membership
    if membership is None or "organisation" in sa_inspect(membership).unloaded:
        return
    org = membership.organisation
    if org is not None and "public_id" not in sa_inspect(org).unloaded:
        request.environ[ENV_ORG] = org.public_id


def note_organisation(public_id: str) -> None:
    """For a request that confirmed its organisation without loading the user (the idle
    change feed): log it like the others."""
    request.environ[ENV_ORG] = public_id


def init(app: Flask) -> None:
    """Configure logging and log every request. Call at the end of ``create_app``:
    the middleware must wrap everything else (the proxy fix included), and the
    organisation is read after the access check has loaded the user."""
    configure(app)
    app.url_value_preprocessor(_note_route)
    app.before_request(_note_organisation)
    app.wsgi_app = RequestLogMiddleware(app.wsgi_app)  # type: ignore[method-assign]
