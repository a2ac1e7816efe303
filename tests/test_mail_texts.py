"""Every kind of mail, in Dutch and in English, exactly as it is sent.

The texts are kept in ``tests/golden/mails.txt``: a change to a mail's wording or layout
shows up there as a diff to review. After an intended change, write the file anew with
``STAPPENPLAN_WRITE_GOLDEN=1`` and look at the diff before committing it.

Names with ``<``, ``&`` and ``%`` show that a plain-text mail escapes nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from stappenplan.accounts.models import User
from stappenplan.core import uow
from stappenplan.extensions import db
from stappenplan.i18n import Msg
from stappenplan.mail import Mail, outbox
from stappenplan.notifications import services as notifications
from stappenplan.outbox import services as mail_outbox
from stappenplan.workflow.definition import N_
from tests.factories import make_org, make_user

GOLDEN = Path(__file__).parent / "golden" / "mails.txt"
LANGUAGES = ("nl", "en")
ORG = "Opvang <De Kleine> & Co"
PERSON = "Anna 100% de Vries"
LINK = "https://stappenplan.example/uitnodiging/abc123"
MESSAGE = "Hoi!\n\n  Zullen we beginnen?   \nGroet"


#: (case name, template, parameters): the mails that need no rows in the database.
PLAIN: list[tuple[str, str, dict[str, Any]]] = [
    ("invitation member, person, message", "invitation",
     {"purpose": "member", "inviter": ORG, "link": LINK, "days": 14, "person": PERSON, "message": MESSAGE}),
    ("invitation member, nobody", "invitation",
     {"purpose": "member", "inviter": ORG, "link": LINK, "days": 1, "person": "", "message": ""}),
    ("invitation partnership, person, message", "invitation",
     {"purpose": "partnership", "inviter": ORG, "link": LINK, "days": 14, "person": PERSON, "message": MESSAGE}),
    ("invitation partnership, message only", "invitation",
     {"purpose": "partnership", "inviter": ORG, "link": LINK, "days": 14, "person": "", "message": "Tot snel"}),
    ("invitation partnership, blank message", "invitation",
     {"purpose": "partnership", "inviter": ORG, "link": LINK, "days": 14, "person": PERSON, "message": "  \n "}),
    ("obstacle member_elsewhere", "invitation_obstacle",
     {"purpose": "member", "inviter": ORG, "reason": "member_elsewhere", "login": "https://x.example/inloggen"}),
    ("obstacle partners", "invitation_obstacle",
     {"purpose": "partnership", "inviter": ORG, "reason": "partners", "login": "https://x.example/inloggen"}),
    ("obstacle kind", "invitation_obstacle",
     {"purpose": "partnership", "inviter": ORG, "reason": "kind", "login": "https://x.example/inloggen"}),
    ("partner_left", "partner_left", {"name": PERSON, "org": ORG}),
    ("confirm_email", "confirm_email", {"name": PERSON, "link": LINK, "days": 7}),
    ("registration_existing, unconfirmed", "registration_existing",
     {"name": PERSON, "confirm": LINK, "login": "https://x.example/inloggen",
      "forgot": "https://x.example/wachtwoord-vergeten"}),
    ("registration_existing, confirmed", "registration_existing",
     {"name": PERSON, "confirm": None, "login": "https://x.example/inloggen",
      "forgot": "https://x.example/wachtwoord-vergeten"}),
    ("password_reset", "password_reset", {"name": PERSON, "link": LINK, "minutes": 30}),
    ("password_reset_unknown", "password_reset_unknown", {"register": "https://x.example/registreren"}),
]


def _deliver(app: Flask, template: str, to: str, params: dict[str, Any], locale: str, key: str) -> Mail:
    with app.app_context():
        before = len(outbox())
        mail_outbox.enqueue(template, to, params, dedupe_key=key, locale=locale)
        uow.checkpoint()
        [mail] = outbox()[before:]
        return mail


def _mails(app: Flask) -> dict[str, Mail]:
    """Every kind of mail in both languages, keyed by case and language."""
    found: dict[str, Mail] = {}
    for locale in LANGUAGES:
        for name, template, params in PLAIN:
            found[f"{name} [{locale}]"] = _deliver(app, template, "ontvanger@example.nl", params, locale,
                                                   f"golden:{name}:{locale}")
    with app.app_context():
        org = make_org("Bibliotheek A", "library")
        people = {locale: make_user(org, f"{locale}@bieb.nl", name=PERSON) for locale in LANGUAGES}
        for locale, user in people.items():
            user.locale = locale
        db.session.flush()
        ids = {locale: user.id for locale, user in people.items()}
        uow.checkpoint()
    for locale in LANGUAGES:
        with app.app_context():
            user = db.session.get(User, ids[locale])
            assert user is not None
            notes = [
                notifications.notify([user], kind, partnership=None, title=title, body=body, link=link)[0]
                for kind, title, body, link in (
                    ("step_opened", Msg(N_("Stap %(n)d staat open: %(p)s"), n=3, p=ORG),
                     Msg(N_("Jullie kunnen verder met stap %(n)d van het stappenplan."), n=3),
                     "https://x.example/stap/3"),
                    ("mention", "Een tekst zonder vertaling", "Met <tekens> & 100%", "https://x.example/m"),
                )
            ]
            before = len(outbox())
            uow.checkpoint()  # the "direct" ones go out now
            found[f"notification [{locale}]"], found[f"notification, plain text [{locale}]"] = outbox()[before:]
            note_ids = [n.id for n in notes]
        for weekly in (False, True):
            found[f"digest weekly={weekly} [{locale}]"] = _deliver(
                app, "digest", f"{locale}@bieb.nl", {"notifications": note_ids, "weekly": weekly}, locale,
                f"golden:digest:{weekly}:{locale}")
        found[f"password_reset_request, known [{locale}]"] = _deliver(
            app, "password_reset_request", f"{locale}@bieb.nl", {"address": f"{locale}@bieb.nl"}, "nl",
            f"golden:reset:{locale}")
    found["password_reset_request, unknown [nl]"] = _deliver(
        app, "password_reset_request", "niemand@example.nl", {"address": "niemand@example.nl"}, "nl",
        "golden:reset:unknown")
    return found


def _as_text(mails: dict[str, Mail]) -> str:
    parts = []
    for case in sorted(mails):
        mail = mails[case]
        body = re.sub(r"(/wachtwoord-herstellen/|/reset/)[^\s]+", r"\1<token>", mail.body)
        parts.append(f"===== {case}\nTo: {mail.to}\nSubject: {mail.subject}\n\n{body}")
    return "".join(f"{part}\n" for part in parts)


def test_every_mail_is_sent_as_recorded(app: Flask) -> None:
    text = _as_text(_mails(app))
    if os.environ.get("STAPPENPLAN_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
        pytest.skip("golden mails written")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_every_mail_kind_is_recorded_and_every_template_is_used() -> None:
    """A new kind of mail joins the cases above; a template file belongs to a registered mail."""
    registered = set(mail_outbox._TEMPLATES)
    recorded = {template for _name, template, _params in PLAIN} | {"notification", "digest",
                                                                    "password_reset_request"}
    assert registered == recorded
    files = {path.stem for path in (Path(__file__).parents[1] / "templates" / "mail").glob("*.txt")}
    assert files == registered - {"password_reset_request"}  # that one sends password_reset(_unknown)
