"""Putting e-mail in the outbox, and delivering it.

``enqueue`` adds a row to the current transaction: when the change that caused the
mail rolls back, the mail is gone too; when it commits, the mail waits to be sent.
``deliver`` sends what is due, one row at a time, each in its own transaction: a
sent row is marked sent, a failure is retried with back-off (1 min … 12 h) and after
``MAX_ATTEMPTS`` it is "dead" and shown to the organisation's admins. Delivery is at
least once (a crash between sending and marking resends); ``dedupe_key`` keeps a
message from entering the outbox twice, and it is the mail's Message-ID, so a
receiving server can drop a resent copy.

Mails are rendered at delivery, in the recipient's language. Their texts are Jinja
templates, ``templates/mail/<name>.txt``, with a ``subject`` and a ``body`` block whose
texts are marked for translation like the pages' (``{% trans %}``). A domain module
registers each mail with ``mail_template``: a function that turns the stored parameters
into the template's variables (looking up what it needs then) and calls ``render``.
In development and tests (``OUTBOX_INLINE``) a message is delivered right after the
commit that made it, so ``make run`` shows mails at once; in production ``flask
deliver --loop`` (or cron) does it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from ..core import uow
from ..extensions import db, utcnow
from ..i18n import force_locale
from ..mail import send_mail
from .models import OutboxMessage

#: Waits after the 1st, 2nd, ... failed attempt; after the last one the message is dead.
BACKOFF = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
           timedelta(hours=12)]
MAX_ATTEMPTS = len(BACKOFF) + 1

Render = Callable[[dict[str, Any]], tuple[str, str]]
_TEMPLATES: dict[str, Render] = {}
#: Templates whose parameters hold a secret link: emptied once the mail is sent.
_SECRET: set[str] = set()


def mail_template(name: str, *, secret: bool = False) -> Callable[[Render], Render]:
    """Register ``(params) -> (subject, body)``, called at delivery in the recipient's language."""

    def register(render: Render) -> Render:
        _TEMPLATES[name] = render
        if secret:
            _SECRET.add(name)
        return render

    return register


def render(mail: str, /, **variables: Any) -> tuple[str, str]:
    """Subject and body of ``templates/mail/<mail>.txt`` in the current language.

    Only the two blocks are rendered, with just these variables (no request, no
    context processors: the worker that delivers has neither). A ``.txt`` template is
    not HTML-escaped, so names with ``<`` or ``&`` arrive as written; the subject may
    span lines in the template and becomes one line.
    """
    template = current_app.jinja_env.get_template(f"mail/{mail}.txt")
    context = template.new_context(variables)
    subject = "".join(template.blocks["subject"](context))
    body = "".join(template.blocks["body"](context))
    return " ".join(subject.split()), body


def enqueue(template: str, to_email: str, params: dict[str, Any], *, dedupe_key: str,
            locale: str | None = None, user_id: int | None = None,
            organisation_id: int | None = None) -> OutboxMessage | None:
    """Add a mail to the current transaction (none when ``dedupe_key`` is already there)."""
    if template not in _TEMPLATES:
        raise KeyError(f"unknown mail template {template!r}")
    exists = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    if exists is not None:
        return None
    message = OutboxMessage(template=template, to_email=to_email, params=params, dedupe_key=dedupe_key[:200],
                            locale=locale or "nl", user_id=user_id, organisation_id=organisation_id)
    db.session.add(message)
    db.session.flush()
    if current_app.config.get("OUTBOX_INLINE"):
        message_id = message.id
        uow.after_commit(lambda: deliver(only=[message_id]))
    return message


@dataclass
class Delivery:
    sent: int = 0
    retried: int = 0
    dead: int = 0


def deliver(limit: int = 500, only: list[int] | None = None) -> Delivery:
    """Send what is due, one message per transaction. Never raises for a failed mail."""
    result = Delivery()
    skip: set[int] = set()
    for _n in range(limit):
        message = _next_due(only, skip)
        if message is None:
            break
        skip.add(message.id)
        _attempt(message, result)
        uow.checkpoint()  # this message's outcome is kept, whatever happens to the next one
    return result


def _next_due(only: list[int] | None, skip: set[int]) -> OutboxMessage | None:
    stmt = (select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= utcnow())
            .order_by(OutboxMessage.id).limit(1))
    if only is not None:
        stmt = stmt.where(OutboxMessage.id.in_(only))
    if skip:
        stmt = stmt.where(OutboxMessage.id.notin_(skip))
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)  # several deliverers never take the same row
    return db.session.scalar(stmt)


def _attempt(message: OutboxMessage, result: Delivery) -> None:
    now = utcnow()
    try:
        with force_locale(message.locale or "nl"):
            subject, body = _TEMPLATES[message.template](message.params)
        send_mail(message.to_email, subject, body, message_id=message_id(message.dedupe_key))
    except Exception as error:  # a mail that fails waits for the next attempt
        message.attempts += 1
        message.last_error = f"{type(error).__name__}: {error}"[:1000]
        if message.attempts >= MAX_ATTEMPTS:
            message.status = "dead"
            result.dead += 1
        else:
            message.next_attempt_at = now + BACKOFF[message.attempts - 1]
            result.retried += 1
        current_app.logger.warning("mail %s not sent (attempt %d): %s", message.id, message.attempts,
                                   type(error).__name__)
        return
    message.status = "sent"
    message.sent_at = now
    message.attempts += 1
    message.last_error = ""
    if message.template in _SECRET:
        message.params = {}
    result.sent += 1


def message_id(dedupe_key: str) -> str:
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    domain = current_app.config.get("MAIL_ID_DOMAIN") or "stappenplan.local"
    return f"<{digest}@{domain}>"


def retry(message: OutboxMessage) -> None:
    """An admin asks to try a dead message again."""
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = utcnow()


def undelivered(organisation_id: int, limit: int = 20) -> list[OutboxMessage]:
    """Messages of an organisation that could not be delivered (yet), newest first."""
    return list(db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.organisation_id == organisation_id,
               (OutboxMessage.status == "dead") | ((OutboxMessage.status == "pending") & (OutboxMessage.attempts > 0)))
        .order_by(OutboxMessage.id.desc()).limit(limit)
    ))
