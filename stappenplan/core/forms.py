"""Shared form fields and validators (Dutch messages)."""

from __future__ import annotations

import functools
import re
from typing import Any

from babel import support
from email_validator import EmailNotValidError, validate_email
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, PasswordField, StringField, TextAreaField
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, Length, ValidationError

#: Control characters (C0 but tab and line breaks, DEL, C1): never in stored text.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
LINE_BREAK = re.compile("[\r\n\t]")


@functools.lru_cache(maxsize=8)
def _wtforms_catalog(locale: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class _WTFormsMessages:
    """WTForms' own messages ("Not a valid integer value.") in the request's language.
    Flask-WTF reads and parses that catalog from disk in every request that builds a
    form; this keeps one per language for the life of the process."""

    def gettext(self, string: str) -> str:
        return _wtforms_catalog(str(get_locale() or "nl")).ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_catalog(str(get_locale() or "nl")).ungettext(singular, plural, n)


_WTFORMS_MESSAGES = _WTFormsMessages()


class Form(FlaskForm):
    """Every form of the app: text with a control character (a NUL byte, say) is refused
    with a message next to the field, and a one-line field (a name, an e-mail address)
    refuses line breaks, so a name can never break an e-mail header."""

    class Meta:
        def get_translations(self, form: Any) -> _WTFormsMessages:
            return _WTFORMS_MESSAGES

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            data = field.data
            if not isinstance(data, str) or isinstance(field, PasswordField):
                continue
            if CONTROL.search(data):
                field.errors = [*field.errors, _l("Hier staat een onzichtbaar stuurteken in. Haal het weg en "
                                                  "probeer het opnieuw.")]
                field.data = CONTROL.sub("", data)  # shown again without it: a page cannot hold it
                valid = False
            elif isinstance(field, StringField) and not isinstance(field, TextAreaField) and LINE_BREAK.search(data):
                field.errors = [*field.errors, _l("Gebruik hier maar één regel.")]
                valid = False
        return valid


def normalise_email(value: str | None) -> str:
    return (value or "").strip().lower()


def check_email(value: str) -> str | None:
    """The normalised address, or None when it is not a valid address."""
    value = normalise_email(value)
    if not value or len(value) > 254:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


class ValidEmail:
    """Validator: a syntactically valid email address."""

    def __call__(self, form: object, field: Field) -> None:
        if field.data and check_email(field.data) is None:
            raise ValidationError(_l("Vul een geldig e-mailadres in, bijvoorbeeld naam@voorbeeld.nl."))


def required() -> DataRequired:
    return DataRequired(message=_l("Dit veld is verplicht."))


def max_length(n: int) -> Length:
    return Length(max=n, message=_l("Maximaal %(max)d tekens.", max=n))


def email_field(label: str | None = None) -> StringField:
    return StringField(
        label or _l("E-mailadres"),
        validators=[required(), max_length(254), ValidEmail()],
        filters=[normalise_email],
        render_kw={"autocomplete": "email", "type": "email", "inputmode": "email"},
    )
