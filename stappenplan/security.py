"""Security headers, proxy handling and rate limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)


def csp_for(live: bool, live_url: str) -> str:
    """The policy, with the stream service's origin when it lives on another one
    (development: its own port; production serves it under the site's /live/)."""
    if live and "://" in live_url:
        scheme, rest = live_url.split("://", 1)
        origin = f"{scheme}://{rest.split('/', 1)[0]}"
        return CSP.replace("connect-src 'self'", f"connect-src 'self' {origin}")
    return CSP


def _user_or_ip() -> str:
    """Limit logged-in work per user (an office shares one IP address), the rest per IP."""
    if current_user and getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.public_id}"
    return f"ip:{get_remote_address()}"


limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True,
                  strategy="moving-window")

# The limits, in one place (see README: "Rate limits").
LOGIN = "10 per minute"
PASSWORD_RESET = "5 per hour"
INVITATIONS = "30 per hour"
REGISTRATION = "5 per hour"
CONFIRMATION_RESEND = "3 per hour"
AUTOSAVE = "240 per minute"


def login_limit():  # a decorator
    return limiter.limit(LOGIN, methods=["POST"], key_func=get_remote_address)


def reset_limit():
    return limiter.limit(PASSWORD_RESET, methods=["POST"], key_func=get_remote_address)


def invitation_limit():
    return limiter.limit(INVITATIONS, methods=["POST"], key_func=_user_or_ip)


def registration_limit():
    return limiter.limit(REGISTRATION, methods=["POST"], key_func=get_remote_address)


def resend_limit():
    return limiter.limit(CONFIRMATION_RESEND, methods=["POST"], key_func=_user_or_ip)


def autosave_limit():
    return limiter.limit(AUTOSAVE, methods=["POST"], key_func=_user_or_ip)


def limit_storage(config: Mapping[str, Any]) -> str:
    """Where the rate limits are counted: RATELIMIT_STORAGE_URI, else REDIS_URL, else the
    memory of this process."""
    return config.get("RATELIMIT_STORAGE_URI") or config.get("REDIS_URL") or "memory://"


def limit_storage_problem(config: Mapping[str, Any]) -> str | None:
    """Why the rate limits would not hold in production, or None.

    Counted in each process's memory, a limit of 10 logins a minute is 10 per worker and
    server. That is only right when the app runs as one process (``SINGLE_PROCESS``).
    """
    if not config.get("RATELIMIT_ENABLED", True) or config.get("SINGLE_PROCESS"):
        return None
    if limit_storage(config).startswith("memory://"):
        return ("rate limits would be counted per process: set REDIS_URL (or RATELIMIT_STORAGE_URI) to "
                "storage that all processes share, or SINGLE_PROCESS=1 when the app runs as one process")
    return None


def init(app: Flask) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = limit_storage(app.config)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    hops = proxy_hops(app)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # X-Forwarded-* are believed for exactly this many proxies: the client's address is the
        # hops-th entry from the right, whatever the client itself wrote further left. Without
        # proxies (0) the headers are ignored and the limits count the socket's address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.config["CONTENT_SECURITY_POLICY"] = csp_for(bool(app.config.get("LIVE")), app.config.get("LIVE_URL", ""))
    app.after_request(_headers)

    @app.errorhandler(RateLimitExceeded)
    def too_many(error: RateLimitExceeded):
        from .core.errors_web import error_page
        from .i18n import gettext as _

        retry = _retry_after(error)
        minutes = max(1, (retry + 59) // 60)
        body, code = error_page(
            429, _("Te veel pogingen"),
            _("Je hebt dit te vaak geprobeerd. Wacht %(n)d seconden en probeer het dan opnieuw.", n=retry)
            if retry < 120 else
            _("Je hebt dit te vaak geprobeerd. Wacht %(n)d minuten en probeer het dan opnieuw.", n=minutes),
        )
        response = current_app.make_response((body, code))
        response.headers["Retry-After"] = str(retry)
        return response


def proxy_hops(app: Flask) -> int:
    """``TRUST_PROXY``: the number of reverse proxies in front (``True`` from an older
    configuration counts as one)."""
    hops = int(app.config.get("TRUST_PROXY") or 0)
    if hops < 0:
        raise RuntimeError("TRUST_PROXY must be 0 or more")
    return hops


def _retry_after(error: RateLimitExceeded) -> int:
    try:
        reset = limiter.current_limit.reset_at if limiter.current_limit else None
    except Exception:  # a missing value just means "a minute"
        reset = None
    if reset:
        import time

        return max(1, int(reset - time.time()))
    return 60


def _headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.config.get("CONTENT_SECURITY_POLICY", CSP))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
    if current_app.config.get("SESSION_COOKIE_SECURE") or request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
