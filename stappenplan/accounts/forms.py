"""Account forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, Field, PasswordField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import EqualTo, ValidationError

from ..core.forms import Form, email_field, max_length, required
from ..i18n import LANGUAGES
from .passwords import password_problem


class StrongPassword:
    """Validator: the password rules of ``passwords`` (kept with the accounts: core knows no domain)."""

    def __init__(self, email_field: str | None = "email") -> None:
        self.email_field = email_field

    def __call__(self, form: object, field: Field) -> None:
        email = ""
        if self.email_field and hasattr(form, self.email_field):
            email = getattr(form, self.email_field).data or ""
        problem = password_problem(field.data or "", email)
        if problem:
            raise ValidationError(problem)


TEAM_CHOICES = [
    SelectChoice("", _l("Geen team")),
    SelectChoice("jeugd", _l("Jeugd & educatie")),
    SelectChoice("taalhuis", _l("Taalhuis / basisvaardigheden")),
]


def new_password_fields(label: str | None = None, confirm_label: str | None = None,
                        ) -> tuple[PasswordField, PasswordField]:
    """A new password and its repetition. The labels say "Wachtwoord" where the form has no
    other password (registration, reset, invitation); changing one says "Nieuw wachtwoord"."""
    password = PasswordField(
        label or _l("Wachtwoord"),
        validators=[required(), StrongPassword()],
        description=_l("Minstens 10 tekens. Een zin van een paar woorden werkt goed."),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        confirm_label or _l("Herhaal het wachtwoord"),
        validators=[required(), EqualTo("password", message=_l("De wachtwoorden zijn niet gelijk."))],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


class LoginForm(Form):
    email = email_field()
    password = PasswordField(
        _l("Wachtwoord"), validators=[required(), max_length(128)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Ingelogd blijven op dit apparaat"))


class RegisterForm(Form):
    org_name = StringField(
        _l("Naam van de bibliotheekvestiging"),
        validators=[required(), max_length(200)],
        description=_l("Bijvoorbeeld: Bibliotheek Rivierenland, vestiging Tiel"),
    )
    name = StringField(_l("Je naam"), validators=[required(), max_length(120)],
                       render_kw={"autocomplete": "name"})
    email = email_field()
    team = SelectField(_l("Je team"), choices=TEAM_CHOICES, default="")
    password, confirm = new_password_fields()


class ForgotPasswordForm(Form):
    email = email_field()


class ResetPasswordForm(Form):
    password, confirm = new_password_fields()


class ChangePasswordForm(Form):
    current = PasswordField(
        _l("Huidig wachtwoord"), validators=[required(), max_length(128)],
        render_kw={"autocomplete": "current-password"},
    )
    password, confirm = new_password_fields(_l("Nieuw wachtwoord"), _l("Herhaal het nieuwe wachtwoord"))


class AccountForm(Form):
    """New account when accepting an invitation (the email is fixed by the invitation)."""

    name = StringField(_l("Je naam"), validators=[required(), max_length(120)],
                       render_kw={"autocomplete": "name"})
    password, confirm = new_password_fields()


class NewOrganisationAccountForm(AccountForm):
    org_name = StringField(_l("Naam van je organisatie"), validators=[required(), max_length(200)])


class NameForm(Form):
    """A person's own name, on their account page."""

    name = StringField(_l("Je naam"), validators=[required(), max_length(120)], render_kw={"autocomplete": "name"})


class LanguageForm(Form):
    """The language of the interface (User.locale); the names are in their own language."""

    locale = RadioField(
        _l("Taal"), choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()], validators=[required()]
    )
