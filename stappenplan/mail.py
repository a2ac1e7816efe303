"""One small mail layer.

Backends: ``console`` (development: print and keep a copy under instance/mail),
``smtp`` (production, settings from the configuration) and ``memory`` (tests).
"""

from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from flask import current_app

from .extensions import utcnow

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class Mail:
    to: str
    subject: str
    body: str
    message_id: str | None = None


def outbox() -> list[Mail]:
    """Mails sent with the memory backend (tests)."""
    return current_app.extensions.setdefault("mail_outbox", [])


def send_mail(to: str, subject: str, body: str, message_id: str | None = None) -> None:
    """Send one plain-text mail through the configured backend (called by the outbox).

    A subject is one line: any line break or control character in it (from a name, say)
    becomes a space, so the mail can always be built.
    """
    mail = Mail(to=to, subject=" ".join(_CONTROL.sub(" ", subject).split()), body=body, message_id=message_id)
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "memory":
        outbox().append(mail)
    elif backend == "console":
        _to_console(mail)
    elif backend == "smtp":
        _to_smtp(mail)
    else:  # pragma: no cover - configuration error
        raise RuntimeError(f"unknown MAIL_BACKEND {backend!r}")


def _to_console(mail: Mail) -> None:
    text = f"To: {mail.to}\nSubject: {mail.subject}\n\n{mail.body}\n"
    if current_app.config.get("MAIL_CONSOLE_PRINT", True):  # `flask seed-demo` only keeps copies
        print("----- e-mail -----\n" + text + "------------------", flush=True)
    folder = Path(current_app.config["MAIL_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S-%f")
    safe = re.sub(r"[^A-Za-z0-9@._-]", "_", mail.to)
    (folder / f"{stamp}-{safe}.eml").write_text(text, encoding="utf-8")


def _to_smtp(mail: Mail) -> None:
    cfg = current_app.config
    msg = EmailMessage()
    msg["From"] = cfg["MAIL_FROM"]
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    if mail.message_id:
        msg["Message-ID"] = mail.message_id
    msg.set_content(mail.body)
    with smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=20) as smtp:
        if cfg["MAIL_USE_TLS"]:
            smtp.starttls()
        if cfg["MAIL_USERNAME"]:
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"] or "")
        smtp.send_message(msg)
