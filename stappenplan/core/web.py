"""Small helpers for views."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def safe_next(default: str) -> str:
    """The ``next`` parameter when it is a local path; never another site."""
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and "\\" not in target:
        return target
    return default


def external_url(endpoint: str, **values: object) -> str:
    """An absolute URL for emails, also outside a request (CLI, cron)."""
    from flask import current_app, has_request_context, url_for

    base = current_app.config.get("BASE_URL") or ""
    if has_request_context() and not base:
        return url_for(endpoint, _external=True, **values)
    with current_app.test_request_context(base_url=base or "http://127.0.0.1:5000"):
        return url_for(endpoint, _external=True, **values)
