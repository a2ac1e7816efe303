"""Signed, time-limited tokens for links sent by email."""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def sign(payload: Any, salt: str) -> str:
    return _serializer(salt).dumps(payload)


def unsign(token: str, salt: str, max_age: int) -> tuple[Any | None, str | None]:
    """The payload, or None and a reason: 'expired' or 'invalid'."""
    if not token or len(token) > 1000:
        return None, "invalid"
    try:
        return _serializer(salt).loads(token, max_age=max_age), None
    except SignatureExpired:
        return None, "expired"
    except BadSignature:
        return None, "invalid"
