"""Loading the plan files (``plans/v{N}.yaml``) into the model of ``definition``.

The files are validated strictly: a typo in the YAML must fail at start-up with a
message that points at the spot, not show up as a broken page later. Only the standard
library and PyYAML: no Flask, no database.
"""

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

from .definition import (
    COLUMN_TYPES,
    MODES,
    PARTIES,
    PRACTICE_KINDS,
    QUESTION_TYPES,
    ROW_ID_MAX,
    SCALE_MAX,
    SCALE_MIN,
    SUGGESTION_ROW_PREFIX,
    Column,
    DefinitionError,
    Option,
    OptionsFrom,
    PlanDefinition,
    PracticeSource,
    Question,
    Situation,
    Source,
    Step,
    Suggestion,
    Suggestions,
    _frozen_map,
)

PLANS_DIR = Path(__file__).resolve().parent / "plans"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_PLAN_FILE = re.compile(r"^v(\d+)\.yaml$")


# --------------------------------------------------------------------------- loading


_TOP_FIELDS = {"version", "situations", "steps"}
_SITUATION_FIELDS = {"title", "intro"}
_STEP_FIELDS = {
    "number", "title", "goal", "for_whom", "mode", "intro", "questions", "subtitle", "for_whom_note", "tool",
}
_QUESTION_FIELDS = {
    "key",
    "type",
    "label",
    "help",
    "required",
    "party",
    "options",
    "columns",
    "situations",
    "first_in_situations",
    "scale_labels",
    "warning",
    "source",
    "visible_to",
    "suggestions",
    "row_label",
    "practice",
}
_OPTION_FIELDS = {"key", "label"}
_COLUMN_FIELDS = {"key", "label", "type", "options", "required", "options_from", "privacy_check"}
_SOURCE_FIELDS = {"step", "question"}
_OPTIONS_FROM_FIELDS = {"step", "question", "column"}
_PRACTICE_FIELDS = {"kind", "title", "date", "who"}
_SUGGESTIONS_FIELDS = {"text_column", "group_column", "initial", "groups"}
_SUGGESTION_GROUP_FIELDS = {"option", "items"}
#: A suggestion's row id is ``s-`` plus its key, and row ids are at most 40 characters.
_SUGGESTION_KEY_MAX = ROW_ID_MAX - len(SUGGESTION_ROW_PREFIX)


def _fail(where: str, message: str) -> NoReturn:
    raise DefinitionError(f"{where}: {message}")


def _mapping(where: str, data: Any, allowed: set[str], what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        _fail(where, f"{what} moet een mapping zijn")
    _no_unknown_fields(where, data, allowed)
    return data


def _no_unknown_fields(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    for name in data:
        if name not in allowed:
            _fail(where, f"onbekend veld '{name}'")


T = TypeVar("T")


def _keyed(where: str, index: int, what: str, data: Any, allowed: set[str]) -> tuple[str, str, dict[str, Any]]:
    """Check an item of a list that is identified by its ``key``.

    Returns ``(key, where, data)`` where ``where`` names the item by its key, so
    that every later message (also "unknown field") points at the right item.
    """
    where_index = f"{where}, {what} {index}"
    if not isinstance(data, dict):
        _fail(where_index, "dit moet een mapping zijn")
    key = _key(where_index, data)
    where_key = f"{where}, {what} '{key}'"
    _no_unknown_fields(where_key, data, allowed)
    return key, where_key, data


def _text(where: str, data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        _fail(where, f"'{name}' ontbreekt of is leeg")
    return value.strip()


def _bool(where: str, data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        _fail(where, f"'{name}' moet true of false zijn")
    return value


def _key(where: str, data: dict[str, Any]) -> str:
    key = data.get("key")
    if not isinstance(key, str) or not key:
        _fail(where, "'key' ontbreekt")
    if not _SNAKE.match(key):
        _fail(where, f"sleutel '{key}' moet snake_case zijn")
    return key


def _situation_list(where: str, data: dict[str, Any], name: str, known: set[int]) -> tuple[int, ...]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(type(v) is int for v in value):
        _fail(where, f"'{name}' moet een lijst met uitgangssituaties zijn")
    for v in value:
        if v not in known:
            _fail(where, f"'{name}' noemt onbekende uitgangssituatie {v}")
    return tuple(value)


def _keyed_items(where: str, raw: Any, field: str, noun: str, fields: set[str],
                 build: Callable[[str, str, dict[str, Any]], T]) -> tuple[T, ...]:
    """A non-empty list of items with unique keys (options, columns), each made by ``build``."""
    if not isinstance(raw, list) or not raw:
        _fail(where, f"'{field}' ontbreekt of is leeg")
    keys: set[str] = set()
    items: list[T] = []
    for i, item in enumerate(raw, start=1):
        key, here, item = _keyed(where, i, noun, item, fields)
        if key in keys:
            _fail(here, "sleutel komt dubbel voor")
        keys.add(key)
        items.append(build(key, here, item))
    return tuple(items)


def _options(where: str, raw: Any) -> tuple[Option, ...]:
    return _keyed_items(where, raw, "options", "optie", _OPTION_FIELDS,
                        lambda key, here, item: Option(key=key, label=_text(here, item, "label") or ""))


def _column(key: str, here: str, item: dict[str, Any]) -> Column:
    ctype = item.get("type")
    if ctype not in COLUMN_TYPES:
        _fail(here, f"onbekend type '{ctype}'")
    options_from = None
    if "options_from" in item:
        # The options are filled in from the other column once every step is read.
        if ctype not in ("choice", "multi") or "options" in item:
            _fail(here, "'options_from' past alleen bij type choice of multi zonder eigen 'options'")
        raw_from = _mapping(here, item["options_from"], _OPTIONS_FROM_FIELDS, "'options_from'")
        step, question, column = (raw_from.get(k) for k in ("step", "question", "column"))
        if type(step) is not int or not isinstance(question, str) or not isinstance(column, str):
            _fail(here, "'options_from' heeft een 'step' (getal), een 'question' en een 'column' nodig")
        options_from = OptionsFrom(step=step, question=question, column=column)
        options: tuple[Option, ...] = ()
    elif ctype in ("choice", "multi"):
        options = _options(here, item.get("options"))
    elif "options" in item:
        _fail(here, f"'options' past niet bij type '{ctype}'")
    else:
        options = ()
    return Column(key=key, label=_text(here, item, "label") or "", type=ctype, options=options,
                  required=_bool(here, item, "required"), options_from=options_from,
                  privacy_check=_bool(here, item, "privacy_check"))


def _columns(where: str, raw: Any) -> tuple[Column, ...]:
    return _keyed_items(where, raw, "columns", "kolom", _COLUMN_FIELDS, _column)


def _practice(where: str, raw: Any, columns: tuple[Column, ...]) -> PracticeSource:
    """``practice:`` of a table: which columns name, date and assign the practice records."""
    data = _mapping(where, raw, _PRACTICE_FIELDS, "'practice'")
    kind = data.get("kind")
    if kind not in PRACTICE_KINDS:
        _fail(where, f"'practice.kind' moet een van {', '.join(PRACTICE_KINDS)} zijn")
    by_key = {c.key: c for c in columns}
    wanted = {"title": ("line", "text"), "date": ("date",), "who": ("line",)}
    for name, types in wanted.items():
        key = data.get(name)
        if key is None and name != "title":
            continue
        column = by_key.get(key) if isinstance(key, str) else None
        if column is None or column.type not in types:
            _fail(where, f"'practice.{name}' moet een kolom van type {' of '.join(types)} van deze tabel zijn")
    return PracticeSource(kind=kind, title=data["title"], date=data.get("date"), who=data.get("who"))


def _suggestions(where: str, raw: Any, columns: tuple[Column, ...]) -> Suggestions:
    data = _mapping(where, raw, _SUGGESTIONS_FIELDS, "'suggestions'")
    by_key = {c.key: c for c in columns}
    text_key, group_key = data.get("text_column"), data.get("group_column")
    text_column = by_key.get(text_key) if isinstance(text_key, str) else None
    group_column = by_key.get(group_key) if isinstance(group_key, str) else None
    if text_column is None or text_column.type not in ("line", "text"):
        _fail(where, "'suggestions.text_column' moet een tekstkolom van deze tabel zijn")
    if group_column is None or group_column.type != "choice":
        _fail(where, "'suggestions.group_column' moet een keuzekolom van deze tabel zijn")
    initial = data.get("initial", {})
    if not isinstance(initial, dict):
        _fail(where, "'suggestions.initial' moet een mapping zijn")
    for col_key, value in initial.items():
        column = by_key.get(col_key)
        if column is None or column.type != "choice" or value not in column.option_keys():
            _fail(where, f"'suggestions.initial' kent '{col_key}: {value}' niet")
    groups = data.get("groups")
    if not isinstance(groups, list) or not groups:
        _fail(where, "'suggestions.groups' ontbreekt of is leeg")
    items: list[Suggestion] = []
    for g, raw_group in enumerate(groups, start=1):
        here = f"{where}, groep {g}"
        group = _mapping(here, raw_group, _SUGGESTION_GROUP_FIELDS, "een groep")
        option = group.get("option")
        if option not in group_column.option_keys():
            _fail(here, f"'option' '{option}' staat niet in kolom '{group_column.key}'")
        raw_items = group.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            _fail(here, "'items' ontbreekt of is leeg")
        for i, raw_item in enumerate(raw_items, start=1):
            key, item_where, item = _keyed(here, i, "suggestie", raw_item, _OPTION_FIELDS)
            if len(key) > _SUGGESTION_KEY_MAX:
                _fail(item_where, f"sleutel is langer dan {_SUGGESTION_KEY_MAX} tekens")
            if any(s.key == key for s in items):
                _fail(item_where, "sleutel komt dubbel voor")
            items.append(Suggestion(key=key, label=_text(item_where, item, "label") or "", group=option))
    return Suggestions(
        text_column=text_column.key,
        group_column=group_column.key,
        items=tuple(items),
        initial=_frozen_map(initial),
    )


def _scale_labels(where: str, raw: Any) -> Mapping[int, str]:
    if not isinstance(raw, dict):
        _fail(where, "'scale_labels' moet een mapping zijn")
    for k, v in raw.items():
        if type(k) is not int or not SCALE_MIN <= k <= SCALE_MAX:
            _fail(where, f"'scale_labels' heeft een ongeldige waarde {k!r}")
        if not isinstance(v, str) or not v.strip():
            _fail(where, f"'scale_labels' {k} is leeg")
    return _frozen_map({k: v.strip() for k, v in raw.items()})


def _question(step_where: str, index: int, raw: Any, mode: str, known_situations: set[int]) -> Question:
    key, where, data = _keyed(step_where, index, "vraag", raw, _QUESTION_FIELDS)
    qtype = data.get("type")
    if qtype not in QUESTION_TYPES:
        _fail(where, f"onbekend type '{qtype}'")

    party = data.get("party")
    if party is not None:
        if mode != "each":
            _fail(
                where,
                "'party' mag alleen in een stap die iedere organisatie apart invult",
            )
        if party not in PARTIES:
            _fail(where, f"onbekende partij '{party}' in 'party'")
    visible_to = data.get("visible_to")
    if visible_to is not None and visible_to not in PARTIES:
        _fail(where, f"onbekende partij '{visible_to}' in 'visible_to'")

    options: tuple[Option, ...] = ()
    if qtype in ("choice", "multi"):
        options = _options(where, data.get("options"))
    elif "options" in data:
        _fail(where, f"'options' past niet bij type '{qtype}'")

    columns: tuple[Column, ...] = ()
    if qtype in ("table", "records"):
        columns = _columns(where, data.get("columns"))
    elif "columns" in data:
        _fail(where, f"'columns' past niet bij type '{qtype}'")

    scale_labels: Mapping[int, str] = _frozen_map()
    if "scale_labels" in data:
        if qtype not in ("scale", "goal_progress"):
            _fail(where, f"'scale_labels' past niet bij type '{qtype}'")
        scale_labels = _scale_labels(where, data["scale_labels"])

    source = None
    if qtype == "goal_progress":
        raw_source = _mapping(where, data.get("source"), _SOURCE_FIELDS, "'source'")
        step, question = raw_source.get("step"), raw_source.get("question")
        if type(step) is not int or not isinstance(question, str):
            _fail(where, "'source' heeft een 'step' (getal) en een 'question' nodig")
        source = Source(step=step, question=question)
    elif "source" in data:
        _fail(where, f"'source' past niet bij type '{qtype}'")

    suggestions = None
    if "suggestions" in data:
        if qtype != "table":
            _fail(where, f"'suggestions' past niet bij type '{qtype}'")
        suggestions = _suggestions(where, data["suggestions"], columns)

    practice = None
    if "practice" in data:
        if qtype != "table":
            _fail(where, f"'practice' past niet bij type '{qtype}'")
        practice = _practice(where, data["practice"], columns)

    return Question(
        key=key,
        type=qtype,
        label=_text(where, data, "label") or "",
        help=_text(where, data, "help", required=False),
        required=_bool(where, data, "required"),
        party=party,
        options=options,
        columns=columns,
        situations=_situation_list(where, data, "situations", known_situations),
        first_in_situations=_situation_list(where, data, "first_in_situations", known_situations),
        scale_labels=scale_labels,
        warning=_text(where, data, "warning", required=False),
        source=source,
        visible_to=visible_to,
        suggestions=suggestions,
        row_label=_row_label(where, data, qtype),
        practice=practice,
    )


def _row_label(where: str, data: dict[str, Any], qtype: str) -> str | None:
    if "row_label" in data and qtype not in ("table", "records"):
        _fail(where, f"'row_label' past niet bij type '{qtype}'")
    return _text(where, data, "row_label", required=False)


def _step(where: str, raw: Any, position: int, known_situations: set[int]) -> Step:
    data = _mapping(where, raw, _STEP_FIELDS, "een stap")
    if data.get("number") != position or type(data.get("number")) is not int:
        _fail(
            where,
            f"'number' moet {position} zijn (de stappen staan op volgorde 1 tot en met 8)",
        )
    title = _text(where, data, "title") or ""
    goal = _text(where, data, "goal") or ""
    for_whom = _text(where, data, "for_whom") or ""
    mode = data.get("mode")
    if mode not in MODES:
        _fail(where, f"onbekende 'mode' '{mode}'")

    intro_raw = data.get("intro", {})
    if not isinstance(intro_raw, dict):
        _fail(where, "'intro' moet per uitgangssituatie een tekst geven")
    for k, v in intro_raw.items():
        if k not in known_situations:
            _fail(where, f"'intro' noemt onbekende uitgangssituatie {k!r}")
        if not isinstance(v, str) or not v.strip():
            _fail(where, f"'intro' voor uitgangssituatie {k} is leeg")

    raw_questions = data.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        _fail(where, "'questions' ontbreekt of is leeg")
    questions: list[Question] = []
    for i, item in enumerate(raw_questions, start=1):
        q = _question(where, i, item, mode, known_situations)
        if any(other.key == q.key for other in questions):
            _fail(f"{where}, vraag '{q.key}'", "sleutel komt dubbel voor")
        questions.append(q)

    return Step(
        number=position,
        title=title,
        goal=goal,
        for_whom=for_whom,
        mode=mode,
        intro=_frozen_map({k: v.strip() for k, v in intro_raw.items()}),
        questions=tuple(questions),
        subtitle=_text(where, data, "subtitle", required=False),
        for_whom_note=_text(where, data, "for_whom_note", required=False),
        tool=_text(where, data, "tool", required=False),
    )


def _check_mode_order(name: str, steps: list[Step]) -> None:
    """The engine needs the steps each party fills in alone (``each``) first, then
    the shared ones: the answers are shared when the last ``each`` step is done."""
    modes = [s.mode for s in steps]
    shared_from = next((i for i, mode in enumerate(modes) if mode != "each"), len(modes))
    misplaced = [s for s in steps[shared_from:] if s.mode == "each"]
    if shared_from == 0 or shared_from == len(modes) or misplaced:
        wrong = misplaced[0] if misplaced else steps[0]
        _fail(
            f"{name}: stap {wrong.number}",
            "'mode': eerst de stappen die iedere organisatie apart invult (each), daarna de gezamenlijke",
        )


def _check_sources(name: str, steps: list[Step]) -> None:
    """goal_progress questions must point at an existing table question."""
    by_number = {s.number: s for s in steps}
    for s in steps:
        for q in s.questions:
            if q.source is None:
                continue
            where = f"{name}: stap {s.number}, vraag '{q.key}'"
            target_step = by_number.get(q.source.step)
            if target_step is None:
                _fail(where, f"'source' noemt onbekende stap {q.source.step}")
            try:
                target = target_step.question(q.source.question)
            except KeyError:
                _fail(
                    where,
                    f"'source' noemt onbekende vraag '{q.source.question}' in stap {q.source.step}",
                )
            if target.type != "table":
                _fail(
                    where,
                    f"'source' moet naar een tabel wijzen, niet naar type '{target.type}'",
                )


def resolve_options_from(steps: list[Step], fail: Callable[[str, str], NoReturn] | None = None) -> list[Step]:
    """Fill in the options of every ``options_from`` column from the column it names.

    Also used after translating a plan (``localize``), so the copied options carry
    the translated labels of their source.
    """
    by_number = {s.number: s for s in steps}

    def problem(where: str, message: str) -> NoReturn:
        if fail is not None:
            fail(where, message)
        raise DefinitionError(f"{where}: {message}")

    def resolved(where: str, column: Column) -> Column:
        ref = column.options_from
        if ref is None:
            return column
        try:
            source = by_number[ref.step].question(ref.question).column(ref.column)
        except KeyError:
            problem(where, f"'options_from' noemt een onbekende kolom (stap {ref.step}, {ref.question}.{ref.column})")
        if source.type not in ("choice", "multi") or source.options_from is not None:
            problem(where, "'options_from' moet naar een keuzekolom met eigen opties wijzen")
        return replace(column, options=source.options)

    result = []
    for step in steps:
        questions = tuple(
            replace(q, columns=tuple(resolved(f"stap {step.number}, vraag '{q.key}', kolom '{c.key}'", c)
                                     for c in q.columns))
            if any(c.options_from for c in q.columns) else q
            for q in step.questions
        )
        result.append(replace(step, questions=questions))
    return result


def load_definition(path: str | Path) -> PlanDefinition:
    """Load and validate one plan file; raise DefinitionError on any problem."""
    path = Path(path)
    name = path.name
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError:
        _fail(name, "bestand niet gevonden")
    except yaml.YAMLError as exc:
        _fail(name, f"geen geldige YAML ({exc})")

    data = _mapping(name, raw, _TOP_FIELDS, "het bestand")
    version = data.get("version")
    if type(version) is not int or version < 1:
        _fail(name, "'version' moet een geheel getal vanaf 1 zijn")

    raw_situations = data.get("situations")
    if not isinstance(raw_situations, dict) or not raw_situations:
        _fail(name, "'situations' ontbreekt of is leeg")
    situations: dict[int, Situation] = {}
    for number, item in raw_situations.items():
        if type(number) is not int:
            _fail(name, f"uitgangssituatie {number!r} moet een getal zijn")
        where = f"{name}: uitgangssituatie {number}"
        item = _mapping(where, item, _SITUATION_FIELDS, "een uitgangssituatie")
        situations[number] = Situation(
            number=number,
            title=_text(where, item, "title") or "",
            intro=_text(where, item, "intro") or "",
        )

    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or len(raw_steps) != 8:
        _fail(name, "'steps' moet precies 8 stappen bevatten")
    known = set(situations)
    steps = [_step(f"{name}: stap {i}", item, i, known) for i, item in enumerate(raw_steps, start=1)]
    _check_mode_order(name, steps)
    _check_sources(name, steps)
    steps = resolve_options_from(steps, lambda where, message: _fail(f"{name}: {where}", message))
    return PlanDefinition(version=version, situations=_frozen_map(situations), steps=tuple(steps))


def available_versions() -> list[int]:
    """Versions for which a ``plans/vN.yaml`` file exists, ascending."""
    found = (_PLAN_FILE.match(p.name) for p in PLANS_DIR.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def latest_version() -> int:
    versions = available_versions()
    if not versions:
        raise DefinitionError(f"{PLANS_DIR}: geen plannen gevonden")
    return versions[-1]


@functools.lru_cache(maxsize=16)
def get_definition(version: int) -> PlanDefinition:
    """The (cached) definition of ``version``; parsed once per process."""
    filename = f"v{version}.yaml"
    defn = load_definition(PLANS_DIR / filename)
    if defn.version != version:
        _fail(
            filename,
            f"'version' is {defn.version}, maar de bestandsnaam zegt {version}",
        )
    return defn


def load_all() -> dict[int, PlanDefinition]:
    """Validate every plan file (call at start-up, so a broken file fails fast)."""
    return {v: get_definition(v) for v in available_versions()}

