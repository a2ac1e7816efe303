"""Member and region forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice, SelectField

from ..accounts.forms import TEAM_CHOICES
from ..core.forms import Form, email_field

ROLE_CHOICES = [SelectChoice("member", _l("Lid")), SelectChoice("admin", _l("Beheerder"))]


class InviteMemberForm(Form):
    email = email_field(_l("E-mailadres van je collega"))
    role = SelectField(_l("Rol"), choices=ROLE_CHOICES, default="member")
    team = SelectField(_l("Team"), choices=TEAM_CHOICES, default="")


class RoleForm(Form):
    role = SelectField(_l("Rol"), choices=ROLE_CHOICES)
    team = SelectField(_l("Team"), choices=TEAM_CHOICES, default="")


class RegionForm(Form):
    region = SelectField(_l("Regio"), choices=[], validate_choice=True)
