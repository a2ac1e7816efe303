"""Partnership invitation forms."""

from __future__ import annotations

import csv
import io

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import RadioField, SelectChoice, TextAreaField
from wtforms.validators import Optional

from ..core.forms import Form, check_email, max_length
from ..i18n import gettext as _
from .invitations import MESSAGE_MAX, SITUATIONS_FOR, PartnerEntry

SITUATION_CHOICES = [
    SelectChoice("1", _l("De kinderopvang zoekt samenwerking met de bibliotheek")),
    SelectChoice("2", _l("De bibliotheek zoekt samenwerking met de kinderopvang")),
    SelectChoice(
        "3",
        _l("Bibliotheek en kinderopvang werken al samen en willen de samenwerking met ouders verdiepen"),
    ),
]
MAX_LINES = 200


class InvitePartnersForm(Form):
    emails = TextAreaField(
        _l("E-mailadressen"),
        validators=[Optional(), max_length(50_000)],
        description=_l("Eén per regel: e-mailadres, komma, naam van de organisatie. "
                       "Bijvoorbeeld: info@devlinder.nl, Kinderopvang De Vlinder"),
    )
    csv_file = FileField(
        _l("Of upload een CSV-bestand"),
        description=_l("Kolommen: e-mailadres en naam van de organisatie. Een kopregel mag."),
    )
    situation = RadioField(_l("Uitgangssituatie"), choices=SITUATION_CHOICES, default="2")
    message = TextAreaField(
        _l("Persoonlijk bericht (niet verplicht)"),
        validators=[Optional(), max_length(MESSAGE_MAX)],
        description=_l("Dit bericht staat in de e-mail, onder jouw naam. Maximaal %(n)d tekens.", n=MESSAGE_MAX),
        render_kw={"rows": 4, "maxlength": MESSAGE_MAX},
    )

    def __init__(self, kind: str, *args: object, **kwargs: object) -> None:
        """The starting situations and the examples depend on who invites: a library
        invites childcare locations, childcare invites a library branch."""
        super().__init__(*args, **kwargs)
        offered = [str(n) for n in SITUATIONS_FOR.get(kind, (2,))]
        self.situation.choices = [c for c in SITUATION_CHOICES if c.value in offered]
        if not self.is_submitted():
            self.situation.data = offered[0]
        if kind == "childcare":
            self.emails.description = _l(
                "Eén per regel: e-mailadres, komma, naam van de bibliotheekvestiging. "
                "Bijvoorbeeld: jeugd@bibliotheekrivierenland.nl, Bibliotheek Rivierenland – vestiging Tiel")
            self.emails.render_kw = {"placeholder": "jeugd@bibliotheekrivierenland.nl, "
                                                    "Bibliotheek Rivierenland – vestiging Tiel", "rows": 4}
        else:
            self.emails.render_kw = {"placeholder": "info@devlinder.nl, Kinderopvang De Vlinder", "rows": 4}

    def entries(self) -> tuple[list[PartnerEntry], list[str]]:
        """Parse the textarea and the CSV file into entries, with Dutch problems per line."""
        rows: list[list[str]] = []
        text = self.emails.data or ""
        for line in text.splitlines():
            if line.strip():
                rows.append([part.strip() for part in line.replace(";", ",").split(",", 1)])
        upload = self.csv_file.data
        problems: list[str] = []
        if upload and getattr(upload, "filename", ""):
            raw = upload.read(1_000_001)
            if len(raw) > 1_000_000:
                return [], [_("Het CSV-bestand is te groot (maximaal 1 MB).")]
            try:
                content = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                return [], [_("Het CSV-bestand kon niet worden gelezen. Sla het op als UTF-8.")]
            delimiter = ";" if content.count(";") > content.count(",") else ","
            first = True
            for row in csv.reader(io.StringIO(content), delimiter=delimiter):
                cells = [cell.strip() for cell in row]
                if not any(cells):
                    continue
                if first and "@" not in cells[0]:
                    first = False
                    continue  # header row
                first = False
                rows.append(cells[:2])
        if len(rows) > MAX_LINES:
            return [], [_("Maximaal %(n)d uitnodigingen tegelijk.", n=MAX_LINES)]
        entries: list[PartnerEntry] = []
        for number, cells in enumerate(rows, start=1):
            email = check_email(cells[0])
            name = cells[1] if len(cells) > 1 else ""
            if email is None:
                problems.append(_("Regel %(n)d: '%(value)s' is geen geldig e-mailadres.",
                                  n=number, value=cells[0][:80]))
            elif len(name) > 200:
                problems.append(_("Regel %(n)d: de naam is te lang (maximaal 200 tekens).", n=number))
            elif not name:  # said with the other lines' problems, not in a second round
                problems.append(_("Regel %(n)d: Vul bij %(email)s ook de naam van de organisatie in.",
                                  n=number, email=email))
            else:
                entries.append(PartnerEntry(email=email, name=name))
        if not rows:
            problems.append(_("Vul minstens één e-mailadres in."))
        return entries, problems


class AcceptForm(Form):
    """Accept as an existing organisation: only the CSRF token."""
