"""The plan's own texts in the reader's language.

``localized(defn)`` is a plan definition with the texts of ``plans/v{N}.{locale}.yaml``
(an overlay keyed by step number and question key) for the language of the request.
Keys never change, so the engine, the stored answers and the validation work the same
in every language.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import yaml

from ..i18n import DEFAULT_LOCALE, LANGUAGES, current_locale
from .definition import DefinitionError, PlanDefinition, Question
from .plan_loader import PLANS_DIR, resolve_options_from

TextPath = tuple[Any, ...]
#: Step texts that only some steps have.
_OPTIONAL_STEP_TEXTS = ("subtitle", "for_whom_note", "tool")


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
        for name in _OPTIONAL_STEP_TEXTS:
            value = getattr(step, name)
            if value:
                texts[(*base, name)] = value
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
    if question.row_label:
        texts[(*base, "row_label")] = question.row_label
    for option in question.options:
        texts[(*base, "options", option.key)] = option.label
    for column in question.columns:
        texts[(*base, "columns", column.key, "label")] = column.label
        if column.options_from is not None:
            continue  # copies of another column's options: translated there
        for option in column.options:
            texts[(*base, "columns", column.key, "options", option.key)] = option.label
    if question.suggestions is not None:
        for suggestion in question.suggestions.items:
            texts[(*base, "suggestions", suggestion.key)] = suggestion.label
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
                subtitle=_optional(text, (*base, "subtitle"), step.subtitle),
                for_whom_note=_optional(text, (*base, "for_whom_note"), step.for_whom_note),
                tool=_optional(text, (*base, "tool"), step.tool),
                intro=MappingProxyType({n: text((*base, "intro", n), v) for n, v in step.intro.items()}),
                questions=questions,
            )
        )
    return replace(defn, situations=MappingProxyType(situations), steps=tuple(resolve_options_from(steps)))


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
    suggestions = q.suggestions
    if suggestions is not None:
        items = tuple(replace(s, label=text((*base, "suggestions", s.key), s.label)) for s in suggestions.items)
        suggestions = replace(suggestions, items=items)
    return replace(
        q,
        suggestions=suggestions,
        label=text((*base, "label"), q.label),
        help=text((*base, "help"), q.help) if q.help else q.help,
        warning=text((*base, "warning"), q.warning) if q.warning else q.warning,
        row_label=_optional(text, (*base, "row_label"), q.row_label),
        options=tuple(replace(o, label=text((*base, "options", o.key), o.label)) for o in q.options),
        columns=columns,
        scale_labels=MappingProxyType({v: text((*base, "scale_labels", v), s) for v, s in q.scale_labels.items()}),
    )


def _optional(text: Callable[[TextPath, str], str], path: TextPath, value: str | None) -> str | None:
    return text(path, value) if value else value


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
