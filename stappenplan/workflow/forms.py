"""The form behind every workflow button."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, IntegerField, TextAreaField
from wtforms.validators import AnyOf, NumberRange, Optional

from ..core.forms import Form, max_length

KINDS = ("complete", "sign_off", "withdraw_sign_off", "reopen", "start_new_cycle")


class ActionForm(Form):
    kind = HiddenField(validators=[AnyOf(KINDS, message=_l("Onbekende actie."))])
    step = IntegerField(validators=[Optional(), NumberRange(1, 8, message=_l("Onbekende stap."))])
    slot = HiddenField(validators=[Optional(), AnyOf(("library", "childcare", "joint", ""))])
    reason = TextAreaField(
        _l("Waarom heropen je deze stap?"),
        validators=[Optional(), max_length(1000)],
        description=_l("Je partner ziet deze reden in de activiteiten."),
    )
