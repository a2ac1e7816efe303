"""The yearly region report: one document per region and year, as a printable page, a
tagged PDF and an XLSX workbook with one sheet per table.

It holds the outcome figures of the year (coordination/outcomes.py), the region-wide
themes of step 5 (coordination/themes.py), how many partnerships of each branch are at
each step, the partnerships themselves with their step, and how each figure is counted.
All three formats are made from one ``Report``, so they cannot disagree.

A region may hold thousands of partnerships: the page and the PDF list them one by one
only up to ``REPORT_LIST_LIMIT`` (the list would be hundreds of printed pages and slow
to make); above it they say so and point to the XLSX, which always lists them all.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import get_locale
from openpyxl import Workbook
from openpyxl.styles import Font

from ..audit.services import record
from ..i18n import gettext as _
from ..i18n import ngettext
from . import outcomes, services, themes
from .exports import cell


@dataclass(frozen=True)
class Report:
    organisation: str
    regions: tuple[str, ...]
    year: int
    generated_at: datetime
    outcomes: outcomes.Outcomes
    themes: themes.RegionThemes | None
    #: Every partnership, or () when there are more than the page lists (``listed``).
    partnerships: tuple[services.Row, ...]
    step_titles: dict[int, str]
    branches: tuple[services.BranchSteps, ...] = ()
    listed: bool = True

    @property
    def total(self) -> int:
        return _total(self.branches)

    def how(self) -> list[str]:
        """How each figure is counted (the same lines on the page, in the PDF and the XLSX)."""
        return how_counted(minimum_of(self))

    def step_name(self, row: services.Row) -> str:
        if row.done:
            return _("Alle stappen afgerond")
        return _("Stap %(n)d: %(title)s", n=row.current_step, title=self.step_titles.get(row.current_step, ""))


def build(org_id: int, organisation: str, year: int, today: date, now: datetime,
          list_limit: int | None = None) -> Report:
    """``list_limit``: list the partnerships one by one only when there are at most this
    many (None: always, for the XLSX)."""
    defn = services.definition()
    names, versions = services.regions_and_versions(org_id)
    regions = tuple(names)
    days, _cutoff = services.stalled_cutoff()

    def figures() -> tuple[outcomes.Outcomes, themes.RegionThemes | None, tuple[services.BranchSteps, ...]]:
        return (outcomes.compute(org_id, year, today), themes.region_themes(org_id, defn),
                tuple(services.steps_per_branch(org_id, defn)))

    # Like the dashboard's figures: kept a short while per process, keyed on the regions'
    # versions (and the language: theme labels are translated).
    key = ("report", org_id, year, today, days, str(get_locale()), versions)
    figures_of_year, region_themes, branches = services.cached(key, figures)
    listed = list_limit is None or _total(branches) <= list_limit
    rows = services.export_rows(org_id, services.Filters()) if listed else []
    return Report(
        organisation=organisation, regions=regions, year=year, generated_at=now,
        outcomes=figures_of_year, themes=region_themes,
        partnerships=tuple(sorted(rows, key=lambda r: (r.library_name, r.childcare_name, r.id))),
        step_titles={s.number: s.title for s in defn.steps}, branches=branches, listed=listed,
    )


def _total(branches: tuple[services.BranchSteps, ...]) -> int:
    return sum(b.total for b in branches)


def reach_text(reach: outcomes.Reach) -> str:
    """A reach figure as the page shows it: unknown is never 0."""
    if reach.known == 0 and reach.unknown == 0:
        return "–"
    if reach.known == 0:
        return _("onbekend")
    if reach.unknown:
        return f"{reach.total} (" + ngettext("bij %(num)d activiteit onbekend", "bij %(num)d activiteiten onbekend",
                                             reach.unknown) + ")"
    return str(reach.total)


def reach_cell(reach: outcomes.Reach) -> int | str | None:
    """For a spreadsheet: a number when every activity had one; an empty cell without
    activities (the page's "–": nothing was counted, which is not 0 families); otherwise
    the explaining text ("onbekend", "12 (bij 1 activiteit onbekend)")."""
    if reach.known == 0 and reach.unknown == 0:
        return None
    if not reach.unknown:
        return reach.total
    return reach_text(reach)


def how_counted(minimum: int) -> list[str]:
    """How each figure of the outcomes page and the report is counted (``minimum``: the themes' threshold)."""
    return [
        _("Activiteiten: de activiteiten die de samenwerkingen in hun praktijk als ‘geweest’ hebben gemarkeerd, "
          "gepland in stap 6 of later toegevoegd. Elke activiteit telt één keer, in het jaar van haar datum, ook "
          "als een nieuwe ronde het plan overneemt."),
        _("Ouders en kinderen: de aantallen die bij die activiteiten zijn ingevuld, opgeteld. Is bij een activiteit "
          "niets ingevuld, dan staat erbij bij hoeveel activiteiten het onbekend is; we tellen dat nooit als 0."),
        _("Cijfers doelen: hoe vaak elk cijfer (1 = nog niet begonnen, 5 = helemaal bereikt) in stap 8 aan een "
          "gezamenlijk doel is gegeven, in het jaar waarin het cijfer voor het laatst is opgeslagen."),
        _("Rondes afgerond: rondes die in dat jaar zijn afgesloten."),
        _("Thema's: hoe vaak elk thema in de gespreksverslagen van stap 5 is gekozen, over alle samenwerkingen van "
          "de regio samen, nooit per vestiging of per samenwerking. Alleen vanaf %(n)d gesprekken van ten minste "
          "%(partnerships)d samenwerkingen, en de aantallen veranderen pas als er %(n)d gesprekken uit ten minste "
          "%(partnerships)d samenwerkingen bij zijn gekomen.", n=minimum, partnerships=themes.min_partnerships()),
        _("Samenwerkingen per vestiging: de stap waar elke samenwerking nu is, in haar huidige ronde. "
          "Stilgevallen: al een tijd geen activiteit, zoals in het overzicht."),
        _("Cijfers doelen tellen alleen uit stappen die open of klaar zijn, zoals je ze ook in het overzicht ziet."),
    ]


def minimum_of(report: Report) -> int:
    return report.themes.minimum if report.themes else themes.minimum()


def _scores(figures: outcomes.Figures) -> list[Any]:
    return [figures.scores[s] for s in outcomes.SCALE]


def to_xlsx(report: Report) -> bytes:
    """One sheet per table, a bold header row each; text is always stored as text."""
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    score_head = [_("Cijfer %(s)d", s=s) + (f" ({_(outcomes.SCALE_ENDS[s])})" if s in outcomes.SCALE_ENDS else "")
                  for s in outcomes.SCALE]

    def sheet(title: str, head: list[str], body: list[list[Any]]) -> None:
        ws = workbook.create_sheet(title[:31])
        ws.append([cell(ws, value, font=bold) for value in head])
        for line in body:
            ws.append([cell(ws, value) for value in line])

    o = report.outcomes
    region = o.region
    sheet(_("Cijfers %(year)d", year=report.year), [_("Cijfer"), _("Waarde")], [
        [_("Activiteiten gehouden"), region.activities],
        [_("Ouders bereikt"), reach_cell(region.parents)],
        [_("Kinderen bereikt"), reach_cell(region.children)],
        [_("Rondes afgerond"), region.rounds_completed],
        *[[head, n] for head, n in zip(score_head, _scores(region), strict=True)],
    ])
    sheet(_("Per vestiging"), [_("Vestiging"), _("Samenwerkingen"), _("Activiteiten"), _("Ouders"), _("Kinderen"),
                               _("Rondes afgerond"), *score_head],
          [[b.name, b.figures.partnerships, b.figures.activities, reach_cell(b.figures.parents),
            reach_cell(b.figures.children), b.figures.rounds_completed, *_scores(b.figures)] for b in o.branches])
    sheet(_("Per ronde"), [_("Ronde"), _("Samenwerkingen"), _("Afgerond"), _("Activiteiten"), _("Ouders"),
                           _("Kinderen"), *score_head],
          [[number, f.partnerships, f.rounds_completed, f.activities, reach_cell(f.parents), reach_cell(f.children),
            *_scores(f)] for number, f in o.rounds])
    theme_rows: list[list[Any]] = []
    if report.themes is not None and report.themes.counts is not None:
        for column in report.themes.question.columns:
            for option, n in report.themes.counts.get(column.key, []):
                theme_rows.append([column.label, option.label, n])
    elif report.themes is not None:
        theme_rows.append([report.themes.hidden_because, "", report.themes.conversations])
    sheet(_("Thema's"), [_("Vraag"), _("Thema"), _("Aantal gesprekken")], theme_rows)
    step_head = [_("Stap %(n)d", n=number) for number in sorted(report.step_titles)]
    sheet(_("Stappen per vestiging"), [_("Vestiging"), *step_head, _("Afgerond"), _("Stilgevallen"), _("Totaal")],
          [[b.name, *b.counts, b.done, b.stalled, b.total] for b in report.branches])
    sheet(_("Samenwerkingen"), [_("Vestiging"), _("Kinderopvang"), _("Ronde"), _("Huidige stap"), _("Stilgevallen")],
          [[r.library_name, r.childcare_name, r.cycle_number, report.step_name(r), _("ja") if r.stalled else _("nee")]
           for r in report.partnerships])
    sheet(_("Zo tellen we"), [_("Uitleg")], [[line] for line in report.how()])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def record_export(user: Any, org: Any, year: int, fmt: str) -> None:
    """The yearly report leaving the application is audited (who, which year, which format)."""
    record("region_report_exported", actor_id=user.id, organisation_id=org.id, year=year, format=fmt)
