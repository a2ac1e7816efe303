"""Loading the plan files (``plans/v{N}.yaml``) into the model of ``definition``.

The files are validated strictly: a typo in the YAML must fail at start-up with a
message that points at the spot, not show up as a broken page later. Only the standard
library and PyYAML: no Flask, no database.
"""

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import yaml

from .definition import (
    COLUMN_TYPES,
    MODES,
    PARTIES,
    QUESTION_TYPES,
    SCALE_MAX,
    SCALE_MIN,
    Column,
    DefinitionError,
    Option,
    PlanDefinition,
    Question,
    Situation,
    Source,
    Step,
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
    "row_label",
}
_OPTION_FIELDS = {"key", "label"}
_COLUMN_FIELDS = {"key", "label", "type", "options", "required", "privacy_check"}
_SOURCE_FIELDS = {"step", "question"}


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


def _options(where: str, raw: Any) -> tuple[Option, ...]:
    if not isinstance(raw, list) or not raw:
        _fail(where, "'options' ontbreekt of is leeg")
    options: list[Option] = []
    for i, item in enumerate(raw, start=1):
        key, here, item = _keyed(where, i, "optie", item, _OPTION_FIELDS)
        if any(o.key == key for o in options):
            _fail(here, "sleutel komt dubbel voor")
        options.append(Option(key=key, label=_text(here, item, "label") or ""))
    return tuple(options)


def _columns(where: str, raw: Any) -> tuple[Column, ...]:
    if not isinstance(raw, list) or not raw:
        _fail(where, "'columns' ontbreekt of is leeg")
    columns: list[Column] = []
    for i, item in enumerate(raw, start=1):
        key, here, item = _keyed(where, i, "kolom", item, _COLUMN_FIELDS)
        if any(c.key == key for c in columns):
            _fail(here, "sleutel komt dubbel voor")
        ctype = item.get("type")
        if ctype not in COLUMN_TYPES:
            _fail(here, f"onbekend type '{ctype}'")
        if ctype in ("choice", "multi"):
            options = _options(here, item.get("options"))
        elif "options" in item:
            _fail(here, f"'options' past niet bij type '{ctype}'")
        else:
            options = ()
        columns.append(
            Column(
                key=key,
                label=_text(here, item, "label") or "",
                type=ctype,
                options=options,
                required=_bool(here, item, "required"),
                privacy_check=_bool(here, item, "privacy_check"),
            )
        )
    return tuple(columns)


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
        row_label=_row_label(where, data, qtype),
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

