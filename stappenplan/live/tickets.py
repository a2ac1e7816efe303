"""Stream tickets: what the app signs and the stream service checks (one SECRET_KEY)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

TICKET_SALT = "stappenplan-live-ticket"
PRESENCE_SALT = b"stappenplan-live-presence"
# A ticket opens a stream only this many seconds after it was made (the page asks for a
# new one on every (re)connect); the stream itself ends after at most STREAM_SECONDS.
TICKET_SECONDS = 60


@dataclass(frozen=True)
class Ticket:
    """Who listens to which worksheet: the user's and the step instance's ids, the
    worksheet's address (``<partnership>/<step>/<slot>``, what the stream URL names) and
    whether the user is a party (and so counts as present while the stream is open)."""

    user_id: int
    instance_id: int
    worksheet: str
    party: bool


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=TICKET_SALT)


def make_ticket(secret: str, ticket: Ticket) -> str:
    return str(_serializer(secret).dumps([ticket.user_id, ticket.instance_id, ticket.worksheet, int(ticket.party)]))


def read_ticket(secret: str, token: str, max_age: int = TICKET_SECONDS) -> Ticket | None:
    """The ticket, or None when it is forged, malformed or older than ``max_age``."""
    try:
        user_id, instance_id, worksheet, party = _serializer(secret).loads(token, max_age=max_age)
        return Ticket(int(user_id), int(instance_id), str(worksheet), bool(party))
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None


def sign_body(secret: str, body: bytes) -> str:
    """The stream service's signature on what it tells the app about presence."""
    key = hmac.new(secret.encode(), PRESENCE_SALT, hashlib.sha256).digest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def body_signed(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign_body(secret, body), signature or "")


def presence_body(here: list[tuple[int, int]], left: list[tuple[int, int]], sent_at: float) -> bytes:
    """``here``/``left``: (step instance id, user id) pairs; ``sent_at`` (epoch seconds)
    lets the app refuse a replayed message."""
    return json.dumps({"here": here, "left": left, "at": sent_at}, separators=(",", ":")).encode()
