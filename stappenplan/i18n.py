"""Languages: Dutch (the source texts) and English.

The msgids in the code and the templates are the Dutch texts. English lives in
``translations/en/LC_MESSAGES/messages.po``; the Dutch catalog has empty
translations, so gettext shows the msgid. Terms: docs/glossary.md.

* ``init(app)`` lets the Flask-free workflow modules (definition.py, engine.py)
  translate their messages: their ``_t`` hook calls ``flask_babel.gettext``.
* ``localized(defn)`` is a plan definition with the texts of
  ``plans/v{N}.{locale}.yaml`` (an overlay keyed by step number and question key)
  for the language of the request. Keys never change, so the engine, the stored
  answers and the validation work the same in every language.

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
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import flask_babel
import yaml
from babel.support import NullTranslations
from flask import Flask, g, has_app_context
from flask_babel import get_locale

from .workflow import definition
from .workflow.definition import N_, DefinitionError, PlanDefinition, Question
from .workflow.plan_loader import PLANS_DIR

DEFAULT_LOCALE = "nl"
#: Language names in their own language: someone looking for English looks for "English".
LANGUAGES = {"nl": "Nederlands", "en": "English"}

TextPath = tuple[Any, ...]


def init(app: Flask) -> None:
    """Install gettext as the translator of the workflow's pure modules and of the
    templates, and give templates ``get_locale()`` (base.html puts it in ``<html lang>``)."""
    definition.set_translator(translate)
    app.jinja_env.globals["get_locale"] = current_locale
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


def translations() -> NullTranslations:
    """The catalog of the current request, looked up once per request and language.

    Flask-Babel's ``get_translations()`` finds the catalog anew on every call (a page
    translates ~130 strings). This keeps it next to the locale it belongs to; when
    ``refresh()`` or ``force_locale()`` changes the locale (account page, mails in the
    recipient's language), ``get_locale()`` returns another object and the catalog is
    looked up again.
    """
    if not has_app_context():
        return _NULL
    locale = get_locale()
    cached = g.get("stappenplan_translations")
    if cached is None or cached[0] is not locale:
        cached = g.stappenplan_translations = (locale, flask_babel.get_translations())
    return cached[1]


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


def translate(text: str) -> str:
    """gettext inside an app or request context; the Dutch text unchanged outside one."""
    if not has_app_context():
        return text
    return translations().ugettext(text)


def current_locale() -> str:
    """The language of the current request ("nl" outside a request)."""
    if not has_app_context():
        return DEFAULT_LOCALE
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LOCALE


# --------------------------------------------------------------------------- plan content


@functools.lru_cache(maxsize=16)
def load_overlay(version: int, locale: str) -> Mapping[str, Any] | None:
    """The parsed ``plans/v{version}.{locale}.yaml``, or None when there is none."""
    path = PLANS_DIR / f"v{version}.{locale}.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path.name}: geen geldige YAML ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != version:
        raise DefinitionError(f"{path.name}: 'version' moet {version} zijn")
    return MappingProxyType(data)


def plan_texts(defn: PlanDefinition) -> dict[TextPath, str]:
    """Every translatable text of a definition, by its path in the overlay file."""
    texts: dict[TextPath, str] = {}
    for number, situation in defn.situations.items():
        texts["situations", number, "title"] = situation.title
        texts["situations", number, "intro"] = situation.intro
    for step in defn.steps:
        base: TextPath = ("steps", step.number)
        texts[(*base, "title")] = step.title
        texts[(*base, "goal")] = step.goal
        texts[(*base, "for_whom")] = step.for_whom
        for situation_number, intro in step.intro.items():
            texts[(*base, "intro", situation_number)] = intro
        for question in step.questions:
            texts.update(_question_texts((*base, "questions", question.key), question))
    return texts


def _question_texts(base: TextPath, question: Question) -> dict[TextPath, str]:
    texts: dict[TextPath, str] = {(*base, "label"): question.label}
    if question.help:
        texts[(*base, "help")] = question.help
    if question.warning:
        texts[(*base, "warning")] = question.warning
    for option in question.options:
        texts[(*base, "options", option.key)] = option.label
    for column in question.columns:
        texts[(*base, "columns", column.key, "label")] = column.label
        for option in column.options:
            texts[(*base, "columns", column.key, "options", option.key)] = option.label
    for value, label in question.scale_labels.items():
        texts[(*base, "scale_labels", value)] = label
    return texts


def overlay_texts(overlay: Mapping[str, Any]) -> dict[TextPath, Any]:
    """The overlay flattened to the same paths as ``plan_texts`` (leaves as found)."""
    texts: dict[TextPath, Any] = {}

    def walk(path: TextPath, node: Any) -> None:
        if isinstance(node, Mapping) and node:
            for key, value in node.items():
                walk((*path, key), value)
        else:
            texts[path] = node

    for key, value in overlay.items():
        if key != "version":
            walk((key,), value)
    return texts


def overlay_problems(defn: PlanDefinition, overlay: Mapping[str, Any] | None) -> list[str]:
    """What the overlay lacks (or has too much) compared to the definition."""
    if overlay is None:
        return ["er is geen vertaling van dit plan"]
    wanted, found = plan_texts(defn), overlay_texts(overlay)
    problems = []
    for path in wanted:
        value = found.get(path)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"ontbreekt of is leeg: {_dotted(path)}")
    problems.extend(f"bestaat niet in het plan: {_dotted(path)}" for path in found if path not in wanted)
    return problems


def _dotted(path: TextPath) -> str:
    return ".".join(str(part) for part in path)


def apply_overlay(defn: PlanDefinition, overlay: Mapping[str, Any]) -> PlanDefinition:
    """A copy of ``defn`` with the overlay's texts; a text that is missing stays Dutch."""
    texts = overlay_texts(overlay)

    def text(path: TextPath, original: str) -> str:
        value = texts.get(path)
        return value.strip() if isinstance(value, str) and value.strip() else original

    situations = {
        number: replace(
            s,
            title=text(("situations", number, "title"), s.title),
            intro=text(("situations", number, "intro"), s.intro),
        )
        for number, s in defn.situations.items()
    }
    steps = []
    for step in defn.steps:
        base: TextPath = ("steps", step.number)
        questions = tuple(_localized_question((*base, "questions", q.key), q, text) for q in step.questions)
        steps.append(
            replace(
                step,
                title=text((*base, "title"), step.title),
                goal=text((*base, "goal"), step.goal),
                for_whom=text((*base, "for_whom"), step.for_whom),
                intro=MappingProxyType({n: text((*base, "intro", n), v) for n, v in step.intro.items()}),
                questions=questions,
            )
        )
    return replace(defn, situations=MappingProxyType(situations), steps=tuple(steps))


def _localized_question(base: TextPath, q: Question, text: Callable[[TextPath, str], str]) -> Question:
    columns = tuple(
        replace(
            c,
            label=text((*base, "columns", c.key, "label"), c.label),
            options=tuple(
                replace(o, label=text((*base, "columns", c.key, "options", o.key), o.label)) for o in c.options
            ),
        )
        for c in q.columns
    )
    return replace(
        q,
        label=text((*base, "label"), q.label),
        help=text((*base, "help"), q.help) if q.help else q.help,
        warning=text((*base, "warning"), q.warning) if q.warning else q.warning,
        options=tuple(replace(o, label=text((*base, "options", o.key), o.label)) for o in q.options),
        columns=columns,
        scale_labels=MappingProxyType({v: text((*base, "scale_labels", v), s) for v, s in q.scale_labels.items()}),
    )


_LOCALIZED: dict[tuple[int, str], tuple[PlanDefinition, PlanDefinition]] = {}


def localized(defn: PlanDefinition, locale: str | None = None) -> PlanDefinition:
    """``defn`` with its texts in ``locale`` (default: the request's language).

    Dutch, or a language without ``plans/v{N}.{locale}.yaml``, returns ``defn``
    itself. Translated copies are built once per definition and language.
    """
    locale = locale or current_locale()
    if locale == DEFAULT_LOCALE or locale not in LANGUAGES:
        return defn
    key = (id(defn), locale)
    hit = _LOCALIZED.get(key)
    if hit is not None and hit[0] is defn:  # the cache holds defn, so its id is not reused
        return hit[1]
    overlay = load_overlay(defn.version, locale)
    result = apply_overlay(defn, overlay) if overlay is not None else defn
    if len(_LOCALIZED) > 64:  # only definitions built on the fly (tests) get here
        _LOCALIZED.clear()
    _LOCALIZED[key] = (defn, result)
    return result


# --------------------------------------------------------------------------- dynamic texts

#: Texts that other modules translate through a variable (``_(LABELS[key])``), so
#: extraction cannot find them at the call. Listed here until their own modules
#: mark them with ``N_`` (stappenplan.workflow.definition.N_); duplicates are
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
    N_("Een stap gaat open voor jullie organisatie"),
    N_("Je partner keurt een stap goed of vraagt om jullie goedkeuring"),
    N_("Iemand noemt je in een opmerking"),
    N_("Herinneringen aan deadlines en evaluatiemomenten"),
    # Not passed to gettext yet (see the report of the i18n work): audit/routes.py LABELS,
    # worksheets/display.py CHECK_LABELS, audit/describe.py PARTY and
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
    N_("maakte de organisatie aan"),
    N_("meldde de vestiging aan voor de regio"),
    N_("meldde de vestiging af voor de regio"),
    N_("downloadde alle gegevens"),
    N_("verwijderde het eigen account"),
    N_("een partner verwijderde zijn gegevens"),
    N_("rondde een gesprek af"),
    N_("opende een gesprek opnieuw"),
    N_("Ja"),
    N_("Nee"),
    N_("Deels"),
)
