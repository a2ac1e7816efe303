"""Coordinator forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, TextAreaField
from wtforms.validators import Optional

from ..core.forms import Form, max_length
from .reminders import MESSAGE_MAX


class ReminderForm(Form):
    message = TextAreaField(
        _l("Persoonlijk bericht (niet verplicht)"),
        validators=[Optional(), max_length(MESSAGE_MAX)],
        description=_l("Bijvoorbeeld: zullen we binnenkort even bellen over hoe het gaat?"),
    )
    again = BooleanField(_l("Toch nog een herinnering sturen"))
