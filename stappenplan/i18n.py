"""Languages: Dutch (the source texts) and English.

The msgids in the code and the templates (pages and mails) are the Dutch texts. English lives in
``translations/en/LC_MESSAGES/messages.po``; the Dutch catalog has empty
translations, so gettext shows the msgid. Terms: docs/glossary.md.

* ``translate`` is what the Flask-free workflow modules (definition.py, engine.py)
  translate their messages with: the app factory installs it as their ``_t`` hook.
* The plan's own texts in other languages: ``workflow/localize.py``.

This module is infrastructure: it imports no domain package.

After changing texts, update the catalogs (tests/test_i18n.py fails until then)::

    .venv/bin/pybabel extract -F babel.cfg -k _l -k _t -k N_ --sort-by-file \
        -o stappenplan/translations/messages.pot .
    .venv/bin/pybabel update -i stappenplan/translations/messages.pot \
        -d stappenplan/translations --no-fuzzy-matching
    # translate the new, empty msgstr entries in en/LC_MESSAGES/messages.po, then:
    .venv/bin/pybabel compile -d stappenplan/translations --statistics
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, tzinfo
from typing import Any

import flask_babel
from babel import dates as babel_dates
from babel.support import NullTranslations
from flask import Flask, Response, g, has_app_context, has_request_context, request, session
from flask_babel import get_locale, get_timezone

DEFAULT_LOCALE = "nl"
#: Language names in their own language: someone looking for English looks for "English".
LANGUAGES = {"nl": "Nederlands", "en": "English"}
#: Where a visitor's own choice of language is kept (the switch on the logged-out pages).
SESSION_KEY = "locale"


def choose_locale(saved: str | None) -> str:
    """The language of this request: a person's saved language, else the language they
    chose with the switch before logging in, else the browser's (``Accept-Language``),
    else Dutch. A visitor from abroad who has no account yet can read the login page."""
    if saved in LANGUAGES:
        return str(saved)
    if not has_request_context():
        return DEFAULT_LOCALE
    chosen = session.get(SESSION_KEY)
    if chosen in LANGUAGES:
        return str(chosen)
    g.locale_from_browser = True
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT_LOCALE) or DEFAULT_LOCALE


def _vary(response: Response) -> Response:
    """A page in the browser's language differs per ``Accept-Language``: caches must know."""
    if g.get("locale_from_browser"):
        response.vary.add("Accept-Language")
    return response


def remember_choice(locale: str) -> None:
    """Keep a logged-out visitor's choice of language in the session cookie."""
    if locale in LANGUAGES:
        session[SESSION_KEY] = locale


def init(app: Flask) -> None:
    """Install gettext as the translator of the templates, and give templates
    ``get_locale()`` (base.html puts it in ``<html lang>``). The workflow's pure modules
    get ``translate`` from the app factory (``workflow.definition.set_translator``)."""
    app.jinja_env.globals["get_locale"] = current_locale
    app.jinja_env.globals["languages"] = LANGUAGES
    app.after_request(_vary)
    # Flask-Babel's callables find the catalog anew for every string (locale object,
    # its string form, the domain, a cache lookup): a worksheet page translates ~130
    # strings. These take the request's catalog once (``translations``).
    # Added to the environment by the jinja2.ext.i18n extension that Flask-Babel installs.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
        newstyle=True,
    )


_NULL = NullTranslations()


_KEPT = "stappenplan_translations"


def translations() -> NullTranslations:
    """The catalog of the current request, looked up once per request and language.

    Flask-Babel's ``get_translations()`` finds the catalog anew on every call (a page
    translates ~130-190 strings, ~3.5 µs each). This keeps it for the request; the
    language changes within a request only through ``force_locale`` and ``refresh``
    below, which drop it. Code outside this module must not call Flask-Babel's own
    (``tests/test_i18n.py`` checks that).
    """
    if not has_app_context():
        return _NULL
    kept = g.get(_KEPT)
    if kept is None:
        kept = flask_babel.get_translations()
        setattr(g, _KEPT, kept)
    return kept


@contextmanager
def force_locale(locale: str) -> Iterator[None]:
    """Flask-Babel's ``force_locale`` (a mail in its recipient's language), and the
    request's kept catalog follows it in and back out."""
    outer = g.pop(_KEPT, None) if has_app_context() else None
    try:
        with flask_babel.force_locale(locale):
            yield
    finally:
        if has_app_context():
            g.pop(_KEPT, None)
            if outer is not None:
                setattr(g, _KEPT, outer)


def refresh() -> None:
    """Flask-Babel's ``refresh`` (the user chose another language in this request): the
    rest of the request speaks it."""
    flask_babel.refresh()
    g.pop(_KEPT, None)


def gettext(string: str, **variables: Any) -> str:
    """``flask_babel.gettext`` with the catalog looked up once per request."""
    text = translations().ugettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """``flask_babel.ngettext`` likewise: the form for ``num``, which is ``%(num)d`` in the text."""
    text = translations().ungettext(singular, plural, num)
    return text % {"num": num, **variables}



class Msg:
    """A text to translate later, in the reader's language: a notification is stored as
    its Dutch source text and parameters, and rendered when it is shown or mailed.

    Mark the text for extraction with ``N_``: ``Msg(N_("Stap %(n)d staat open"), n=3)``.
    A parameter may itself be a ``Msg`` ("de bibliotheek" must be translated too).
    """

    __slots__ = ("text", "params")

    def __init__(self, text: str, /, **params: Any) -> None:
        self.text = text
        self.params = params

    def __str__(self) -> str:
        return render(self.to_json())

    def __repr__(self) -> str:
        return f"Msg({self.text!r}, **{self.params!r})"

    def to_json(self) -> dict[str, Any]:
        return {"t": self.text, "p": {k: v.to_json() if isinstance(v, Msg) else v for k, v in self.params.items()}}


def render(stored: Any) -> str:
    """A stored ``Msg`` (``Msg.to_json()``) in the current language; plain text as it is."""
    if not isinstance(stored, dict) or "t" not in stored:
        return "" if stored is None else str(stored)
    params = {k: render(v) if isinstance(v, dict) else v for k, v in (stored.get("p") or {}).items()}
    text = translations().ugettext(stored["t"])
    return text % params if params else text


def N_(text: str) -> str:
    """Marks a text for extraction without translating it (translated where it is shown)."""
    return text


def translate(text: str) -> str:
    """gettext inside an app or request context; the Dutch text unchanged outside one."""
    if not has_app_context():
        return text
    return translations().ugettext(text)


def current_locale() -> str:
    """The language of the current request ("nl" outside a request)."""
    if not has_app_context():
        return DEFAULT_LOCALE
    locale = flask_babel.get_locale()
    return locale.language if locale is not None else DEFAULT_LOCALE


# --------------------------------------------------------------------------- dynamic texts

#: Texts that other modules translate through a variable (``_(LABELS[key])``), so
#: extraction cannot find them at the call. Listed here until their own modules
#: mark them with ``N_`` (``N_`` here or in stappenplan.workflow.definition); duplicates are
#: harmless. tests/test_i18n.py checks that every value of those dicts is in the
#: catalog.
DYNAMIC_TEXTS = (
    # core/errors_web.py MESSAGES
    N_("Dat lukte niet"),
    N_("Het verzoek klopt niet. Probeer het opnieuw vanaf de vorige pagina."),
    N_("Log opnieuw in"),
    N_("Je bent niet (meer) ingelogd. Log in en probeer het opnieuw."),
    N_("Geen toegang"),
    N_("Je hebt geen toegang tot deze pagina. Denk je dat dit niet klopt? "
       "Vraag het aan een beheerder van je organisatie."),
    N_("Pagina niet gevonden"),
    N_("Deze pagina bestaat niet, of je hebt er geen toegang toe."),
    N_("Dat kan zo niet"),
    N_("Deze actie kan op deze manier niet worden uitgevoerd."),
    N_("Te groot"),
    N_("Wat je verstuurde is te groot. Probeer een kleiner bestand of minder tekst."),
    N_("Te veel pogingen"),
    N_("Je hebt het te vaak geprobeerd. Wacht even en probeer het dan opnieuw."),
    N_("Er ging iets mis"),
    N_("Er ging bij ons iets mis. Je wijziging is niet opgeslagen. Probeer het over een paar minuten opnieuw."),
    N_("Even niet bereikbaar"),
    N_("Stappenplan kan de gegevens nu niet bereiken. Er is niets half opgeslagen. "
       "Probeer het over een minuut opnieuw."),
    # core/templating.py KIND_LABELS
    N_("Bibliotheekvestiging"),
    N_("Kinderopvang"),
    N_("Regionale ondersteuning"),
    # workflow/timeline.py SLOT_LABELS, STATUS_LABELS
    N_("Bibliotheek"),
    N_("Samen"),
    N_("Nog niet open"),
    N_("Open"),
    N_("Afgerond"),
    N_("Stap afronden"),
    N_("Goedkeuren"),
    N_("Goedkeuring intrekken"),
    N_("Heropenen"),
    # notifications/services.py KIND_LABELS (templates/notifications/preferences.html)
    N_("Een stap gaat open voor jullie organisatie, of het stappenplan krijgt een nieuwe versie"),
    N_("Je partner keurt een stap goed of vraagt om jullie goedkeuring"),
    N_("Iemand noemt je in een opmerking"),
    N_("Je partner plaatst een opmerking bij een gezamenlijke stap"),
    N_("Herinneringen uit de praktijk: acties, activiteiten en evaluatiemomenten"),
    N_("Aanvragen om mee te doen in een regio, en de beslissing daarover"),
    # activity/routes.py LABELS (translated where the log shows them),
    # worksheets/display.py CHECK_LABELS, activity/describe.py PARTY and
    # notifications/services.py PARTY_NAME (the last two: "de bibliotheek"/"de kinderopvang",
    # already in the catalog through workflow/engine.py).
    N_("nodigde een collega uit"),
    N_("werd lid"),
    N_("wijzigde een rol"),
    N_("verwijderde een collega"),
    N_("wijzigde het wachtwoord"),
    N_("stelde een nieuw wachtwoord in"),
    N_("nodigde een partner uit"),
    N_("verstuurde een uitnodiging opnieuw"),
    N_("trok een uitnodiging in"),
    N_("sloeg een uitnodiging af"),
    N_("maakte de organisatie aan"),
    N_("meldde de vestiging aan voor de regio"),
    N_("meldde de vestiging af voor de regio"),
    N_("downloadde alle gegevens"),
    N_("verwijderde het eigen account"),
    N_("een partner verwijderde zijn gegevens"),
    N_("markeerde opmerkingen als afgehandeld"),
    N_("opende opmerkingen opnieuw"),
    N_("bevestigde het e-mailadres"),
    N_("downloadde het jaarverslag"),
    N_("gespreksverslagen van stap 5 verwijderd na de bewaartermijn"),
    N_("wijzigde de eigen naam"),
    N_("markeerde alle eigen meldingen als gelezen"),
    N_("Ja"),
    N_("Nee"),
    N_("Deels"),
)


# --------------------------------------------------------------------------- dates and times


def format_day(value: datetime | date | None, fmt: str = "d MMMM yyyy") -> str:
    """A date in the user's time zone and language: the one way dates are written (the
    ``date`` filter, answers' dates, mails, charts). Babel needs ~0.1 ms per call and the
    overviews show one or two dates per row, so each day is formatted once per process."""
    if not value:
        return ""
    day = _local_day(value, get_timezone()) if isinstance(value, datetime) else value
    return _format_day(day, fmt, str(get_locale() or "nl"))


@functools.lru_cache(maxsize=8192)
def _local_day(moment: datetime, zone: tzinfo | None) -> date:
    """The day of ``moment`` in ``zone``: Flask-Babel's ``to_user_timezone`` (stored naive
    times are UTC), kept per moment - the matrix shows 50 of them per page."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if zone is None:
        return aware.date()
    return zone.normalize(aware.astimezone(zone)).date()  # type: ignore[attr-defined]  # pytz


@functools.lru_cache(maxsize=4096)
def _format_day(day: date, fmt: str, locale: str) -> str:
    return babel_dates.format_date(day, fmt, locale=locale)


def format_moment(value: datetime | None, fmt: str = "d MMM yyyy, HH:mm") -> str:
    """Flask-Babel's ``format_datetime`` (the user's time zone and language), kept per
    moment: Babel needs ~0.1 ms per call, and the activity lists show the same moments
    on every visit."""
    if not value:
        return ""
    return _format_moment(value, fmt, str(get_locale() or "nl"), get_timezone())


@functools.lru_cache(maxsize=4096)
def _format_moment(moment: datetime, fmt: str, locale: str, zone: tzinfo | None) -> str:
    return babel_dates.format_datetime(moment, fmt, tzinfo=zone, locale=locale)
