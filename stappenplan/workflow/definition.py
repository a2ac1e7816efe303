"""The plan definition: steps, modes and questions as versioned data.

The plan lives in ``plans/v{N}.yaml`` so that content can change without code
changes, and a partnership keeps the version it started with. This module loads and
validates those files strictly (a typo in the YAML must fail at start-up with a
message that points at the spot, not show up as a broken page later), and holds the
pure answer validation that every write goes through.

Only the standard library and PyYAML are imported here: the workflow package must
stay usable without Flask or a database.
"""

import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

PLANS_DIR = Path(__file__).resolve().parent / "plans"

MODES = ("each", "joint", "lead")
PARTIES = ("library", "childcare")
QUESTION_TYPES = (
    "text",
    "line",
    "choice",
    "multi",
    "scale",
    "date",
    "check",
    "table",
    "records",
    "goal_progress",
)
COLUMN_TYPES = ("line", "text", "date", "number", "choice", "multi")
CHECK_VALUES = ("ja", "nee", "deels")

TEXT_MAX = 20_000
LINE_MAX = 500
REMARK_MAX = 2_000
MAX_ROWS = 200
ROW_ID_MAX = 40
#: One answer in all (a table with all its cells), as stored: every save rewrites it
#: and every revision copies it.
ANSWER_MAX = 100_000
SCALE_MIN, SCALE_MAX = 1, 5

# The C loader (when PyYAML has it) parses a plan ~10x faster; same semantics.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_PLAN_FILE = re.compile(r"^v(\d+)\.yaml$")


class DefinitionError(ValueError):
    """A plan file is malformed; the message names the file, the step and the key."""


# --------------------------------------------------------------------------- translation
# User-facing messages (here and in engine.py) are Dutch message *templates*, wrapped
# in ``_t`` so that pybabel finds them (keyword ``_t``; ``N_`` only marks a text that
# is translated later). The web layer installs gettext with ``set_translator``
# (stappenplan/i18n.py); without it the Dutch text is returned unchanged.


def _identity(text: str) -> str:
    return text


_translator: Callable[[str], str] = _identity


def set_translator(translate: Callable[[str], str] | None) -> None:
    """Install the function that translates messages (None: back to Dutch)."""
    global _translator
    _translator = translate or _identity


def _t(text: str) -> str:
    """Translate one message template with the installed translator."""
    return _translator(text)


def N_(text: str) -> str:
    """Mark ``text`` for extraction only; it is translated where it is used."""
    return text


# --------------------------------------------------------------------------- model


def _frozen_map(data: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    """A read-only mapping: definitions are shared (cached) between requests."""
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class Option:
    key: str
    label: str


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    type: str
    options: tuple[Option, ...] = ()
    required: bool = False

    def option_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)


@dataclass(frozen=True)
class Source:
    """Where a ``goal_progress`` question takes its rows from (a table question)."""

    step: int
    question: str


@dataclass(frozen=True)
class Question:
    key: str
    type: str
    label: str
    help: str | None = None
    required: bool = False
    # Only in ``each`` steps: the question is asked to this party only.
    party: str | None = None
    options: tuple[Option, ...] = ()
    columns: tuple[Column, ...] = ()
    # Empty tuple: shown in every starting situation.
    situations: tuple[int, ...] = ()
    first_in_situations: tuple[int, ...] = ()
    scale_labels: Mapping[int, str] = field(default_factory=_frozen_map, hash=False)
    warning: str | None = None
    source: Source | None = None
    # The answer may be seen by this party only (step 5's conversation records are
    # seen by the childcare organisation only). See engine.question_visible.
    visible_to: str | None = None

    def option_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)

    def column(self, key: str) -> Column:
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(key)

    def applies_to(self, party: str | None, situation: int) -> bool:
        """Whether the question is asked to ``party`` in ``situation``.

        ``party=None`` means "no party filter" (e.g. to list the whole worksheet).
        """
        if party is not None and self.party is not None and self.party != party:
            return False
        return not self.situations or situation in self.situations


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    goal: str
    for_whom: str
    mode: str
    intro: Mapping[int, str] = field(default_factory=_frozen_map, hash=False)
    questions: tuple[Question, ...] = ()

    def questions_for(self, party: str | None = None, situation: int = 1) -> list[Question]:
        """The questions to show to ``party`` in ``situation``, in display order.

        Questions marked ``first_in_situations`` for this situation come first; the
        rest keep the order of the file.
        """
        shown = [q for q in self.questions if q.applies_to(party, situation)]
        first = [q for q in shown if situation in q.first_in_situations]
        return first + [q for q in shown if situation not in q.first_in_situations]

    def question(self, key: str) -> Question:
        for q in self.questions:
            if q.key == key:
                return q
        raise KeyError(key)

    def intro_for(self, situation: int) -> str | None:
        return self.intro.get(situation)


@dataclass(frozen=True)
class Situation:
    number: int
    title: str
    intro: str


@dataclass(frozen=True)
class PlanDefinition:
    version: int
    situations: Mapping[int, Situation] = field(hash=False)
    steps: tuple[Step, ...]

    def step(self, number: int) -> Step:
        for s in self.steps:
            if s.number == number:
                return s
        raise KeyError(number)


# --------------------------------------------------------------------------- loading


_TOP_FIELDS = {"version", "situations", "steps"}
_SITUATION_FIELDS = {"title", "intro"}
_STEP_FIELDS = {"number", "title", "goal", "for_whom", "mode", "intro", "questions"}
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
}
_OPTION_FIELDS = {"key", "label"}
_COLUMN_FIELDS = {"key", "label", "type", "options", "required"}
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
    )


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


# --------------------------------------------------------------------------- answers

MSG_INVALID = N_("Deze invoer is niet geldig.")
MSG_TEXT = N_("Vul hier tekst in.")
MSG_TEXT_TOO_LONG = N_("Deze tekst is te lang: maximaal 20.000 tekens.")
MSG_LINE_TOO_LONG = N_("Deze tekst is te lang: maximaal 500 tekens.")
MSG_LINE_BREAK = N_("Gebruik hier maar één regel.")
MSG_REMARK_TOO_LONG = N_("De toelichting is te lang: maximaal 2.000 tekens.")
MSG_CHOICE = N_("Kies een van de gegeven mogelijkheden.")
MSG_SCALE = N_("Kies een getal van 1 tot en met 5.")
MSG_DATE = N_("Dit is geen geldige datum. Gebruik de vorm dd-mm-jjjj.")
MSG_CHECK = N_("Kies ja, nee of deels.")
MSG_NUMBER = N_("Vul een getal in.")
MSG_TABLE = N_("Deze tabel is niet goed doorgegeven.")
MSG_TOO_MANY_ROWS = N_("Een tabel mag maximaal 200 rijen hebben.")
MSG_CONTROL = N_("Deze tekst bevat een onzichtbaar stuurteken. Haal het weg en probeer het opnieuw.")
MSG_ANSWER_TOO_LONG = N_("Dit antwoord is te lang: maximaal 100.000 tekens in totaal.")

_DATE_NL = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
#: Control characters (C0, DEL, C1) except tab, line feed and carriage return: they
#: cannot be shown or typed back in a form, and NUL breaks PostgreSQL text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Row ids are made by the server; letters, digits, - and _ only, so they are safe in
#: field names and htmx attributes.
_ROW_ID = re.compile(rf"^[A-Za-z0-9_-]{{1,{ROW_ID_MAX}}}$")
_NUMBER_PLAIN = re.compile(r"^-?\d+(?:[.,]\d+)?$")
_NUMBER_THOUSANDS = re.compile(r"^-?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")

Result = tuple[Any, str | None]


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


def has_control_characters(value: str) -> bool:
    """Whether ``value`` holds a control character other than tab and line breaks."""
    return bool(_CONTROL.search(value))


def _text_value(value: Any) -> Result:
    if not isinstance(value, str):
        return None, _t(MSG_TEXT)
    if has_control_characters(value):
        return None, _t(MSG_CONTROL)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if len(value) > TEXT_MAX:
        return None, _t(MSG_TEXT_TOO_LONG)
    return value, None


def _line_value(value: Any) -> Result:
    if not isinstance(value, str):
        return None, _t(MSG_TEXT)
    if has_control_characters(value):
        return None, _t(MSG_CONTROL)
    value = value.strip()
    if "\n" in value or "\r" in value:
        return None, _t(MSG_LINE_BREAK)
    if len(value) > LINE_MAX:
        return None, _t(MSG_LINE_TOO_LONG)
    return value, None


def _choice_value(value: Any, keys: tuple[str, ...]) -> Result:
    if not isinstance(value, str) or value not in keys:
        return None, _t(MSG_CHOICE)
    return value, None


def _multi_value(value: Any, keys: tuple[str, ...]) -> Result:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return None, _t(MSG_CHOICE)
    chosen = set()
    for item in value:
        if not isinstance(item, str) or item not in keys:
            return None, _t(MSG_CHOICE)
        chosen.add(item)
    return [k for k in keys if k in chosen], None


def _date_value(value: Any) -> Result:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat(), None
    if not isinstance(value, str):
        return None, _t(MSG_DATE)
    text = value.strip()
    if m := _DATE_ISO.match(text):
        year, month, day = (int(g) for g in m.groups())
    elif m := _DATE_NL.match(text):
        day, month, year = (int(g) for g in m.groups())
    else:
        return None, _t(MSG_DATE)
    try:
        return dt.date(year, month, day).isoformat(), None
    except ValueError:
        return None, _t(MSG_DATE)


def _number_value(value: Any) -> Result:
    if isinstance(value, bool):
        return None, _t(MSG_NUMBER)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if _NUMBER_THOUSANDS.match(text):  # Dutch style: 1.250 or 1.250,5
            text = text.replace(".", "").replace(",", ".")
        elif _NUMBER_PLAIN.match(text):
            text = text.replace(",", ".")
        else:
            return None, _t(MSG_NUMBER)
        value = float(text)
    if not isinstance(value, int | float) or not math.isfinite(value) or abs(value) > 1e12:
        return None, _t(MSG_NUMBER)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value, None


def _scale_value(value: Any) -> Result:
    """A scale answer is ``{"value": 1..5 | None, "remark": str}``."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        value = {"value": value}
    if not isinstance(value, dict) or set(value) - {"value", "remark"}:
        return None, _t(MSG_INVALID)
    raw, remark = value.get("value"), value.get("remark") or ""
    if isinstance(raw, str):
        raw = raw.strip() or None
        if raw is not None:
            if not raw.isdigit():
                return None, _t(MSG_SCALE)
            raw = int(raw)
    if raw is not None and (type(raw) is not int or not SCALE_MIN <= raw <= SCALE_MAX):
        return None, _t(MSG_SCALE)
    if not isinstance(remark, str):
        return None, _t(MSG_TEXT)
    if has_control_characters(remark):
        return None, _t(MSG_CONTROL)
    remark = remark.strip()
    if "\n" in remark or "\r" in remark:  # a one-line field: a browser cannot show or send a line break
        return None, _t(MSG_LINE_BREAK)
    if len(remark) > REMARK_MAX:
        return None, _t(MSG_REMARK_TOO_LONG)
    if raw is None and not remark:
        return None, None
    return {"value": raw, "remark": remark}, None


def _check_value(value: Any) -> Result:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in CHECK_VALUES:
        return None, _t(MSG_CHECK)
    return text, None


def _cell_value(column: Column, value: Any) -> Result:
    if _is_empty(value):
        return None, None
    if column.type == "text":
        return _text_value(value)
    if column.type == "line":
        return _line_value(value)
    if column.type == "date":
        return _date_value(value)
    if column.type == "number":
        return _number_value(value)
    if column.type == "choice":
        return _choice_value(value, column.option_keys())
    normalised, error = _multi_value(value, column.option_keys())
    return (normalised or None), error


def _table_value(question: Question, value: Any) -> Result:
    """Rows are ``{"id": str, "cells": {column_key: value}}``; empty cells are dropped.

    Required columns are *not* enforced here, so a half-filled row can be autosaved;
    ``is_answered`` only counts rows whose required columns are filled.
    """
    if not isinstance(value, list | tuple):
        return None, _t(MSG_TABLE)
    if len(value) > MAX_ROWS:
        return None, _t(MSG_TOO_MANY_ROWS)
    columns = {c.key: c for c in question.columns}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, row in enumerate(value, start=1):
        if not isinstance(row, dict) or set(row) - {"id", "cells"}:
            return None, _t(MSG_TABLE)
        row_id, cells = row.get("id"), row.get("cells") or {}
        if not isinstance(row_id, str) or not _ROW_ID.match(row_id):
            return None, _t("Rij {i} heeft geen geldige id.").format(i=i)
        if row_id in seen:
            return None, _t("Rij {i} heeft dezelfde id als een andere rij.").format(i=i)
        seen.add(row_id)
        if not isinstance(cells, dict):
            return None, _t(MSG_TABLE)
        clean: dict[str, Any] = {}
        for col_key, cell in cells.items():
            column = columns.get(col_key)
            if column is None:
                return None, _t("Rij {i}: onbekende kolom '{column}'.").format(i=i, column=col_key)
            normalised, error = _cell_value(column, cell)
            if error:
                return None, _t("Rij {i}, kolom '{column}': {error}").format(i=i, column=column.label, error=error)
            if normalised is not None:
                clean[col_key] = normalised
        rows.append({"id": row_id, "cells": clean})
    return rows, None


def _goal_progress_value(value: Any) -> Result:
    """``{goal_row_id: {"value": 1..5 | None, "remark": str}}``; empty entries dropped.

    Row ids are not checked against step 4 here (this function sees one answer
    only); the caller shows entries for existing goals and ignores the rest.
    """
    if not isinstance(value, dict) or len(value) > MAX_ROWS:
        return None, _t(MSG_INVALID)
    clean: dict[str, Any] = {}
    for i, (row_id, entry) in enumerate(value.items(), start=1):
        if not isinstance(row_id, str) or not _ROW_ID.match(row_id):
            return None, _t(MSG_INVALID)
        if _is_empty(entry):
            continue
        normalised, error = _scale_value(entry)
        if error:
            return None, _t("Doel {i}: {error}").format(i=i, error=error)
        if normalised is not None:
            clean[row_id] = normalised
    return clean or None, None


def validate_answer(question: Question, value: Any) -> tuple[Any, str | None]:
    """Check and normalise one answer.

    Returns ``(normalised, None)``, or ``(None, message)`` when the input is wrong.

    Empty input (None, "", [], {}) normalises to None, which means "no answer".
    The message is Dutch (or translated by the installed translator, see
    ``set_translator``) and meant to be shown next to the field.
    """
    if _is_empty(value):
        return None, None
    qtype = question.type
    if qtype == "text":
        result = _text_value(value)
    elif qtype == "line":
        result = _line_value(value)
    elif qtype == "choice":
        result = _choice_value(value, question.option_keys())
    elif qtype == "multi":
        result = _multi_value(value, question.option_keys())
    elif qtype == "scale":
        result = _scale_value(value)
    elif qtype == "date":
        result = _date_value(value)
    elif qtype == "check":
        result = _check_value(value)
    elif qtype in ("table", "records"):
        result = _table_value(question, value)
    elif qtype == "goal_progress":
        result = _goal_progress_value(value)
    else:  # pragma: no cover - the loader rejects unknown types
        raise ValueError(f"unknown question type {qtype!r}")
    normalised, error = result
    if error:
        return None, error
    if qtype in ("table", "records", "goal_progress") and normalised and answer_size(normalised) > ANSWER_MAX:
        return None, _t(MSG_ANSWER_TOO_LONG)
    return (None if _is_empty(normalised) else normalised), None


def answer_size(value: Any) -> int:
    """Characters of an answer as stored (JSON), the measure of ``ANSWER_MAX``."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def incomplete_rows(question: Question, value: Any) -> list[tuple[int, list[Column]]]:
    """Rows of a table answer that have content but miss a required column:
    ``(row number from 1, missing columns)``. Completely empty rows do not count."""
    if question.type not in ("table", "records") or not isinstance(value, list):
        return []
    required = [c for c in question.columns if c.required]
    result = []
    for number, row in enumerate(value, start=1):
        cells = row.get("cells") or {}
        if not any(not _is_empty(v) for v in cells.values()):
            continue
        missing = [c for c in required if _is_empty(cells.get(c.key))]
        if missing:
            result.append((number, missing))
    return result


def is_answered(question: Question, value: Any) -> bool:
    """Whether a *normalised* value counts as an answer for required-checks.

    A scale needs a value (a remark alone is not enough); a table needs at least one
    row with all required columns filled (or, without required columns, any cell)
    and no row that has content but misses a required column (``incomplete_rows``);
    goal progress needs at least one goal with a value.
    """
    if _is_empty(value):
        return False
    if question.type == "scale":
        return isinstance(value, dict) and value.get("value") is not None
    if question.type in ("table", "records"):
        if incomplete_rows(question, value):
            return False
        required = [c.key for c in question.columns if c.required]
        for row in value:
            cells = row.get("cells") or {}
            if required and all(not _is_empty(cells.get(k)) for k in required):
                return True
            if not required and any(not _is_empty(v) for v in cells.values()):
                return True
        return False
    if question.type == "goal_progress":
        return any(isinstance(e, dict) and e.get("value") is not None for e in value.values())
    if isinstance(value, str):
        return bool(value.strip())
    return True


def tally_records(question: Question, value: Any) -> dict[str, list[tuple[Option, int]]]:
    """Step 5's automatic overview: how often each option of each choice/multi
    column came up.

    Works on a normalised ``records`` (or ``table``) answer. Every option is listed,
    also with count 0, in the order of the definition, so the overview is stable and
    shows no individual record.
    """
    rows = value or []
    overview: dict[str, list[tuple[Option, int]]] = {}
    for column in question.columns:
        if column.type not in ("choice", "multi"):
            continue
        counts = dict.fromkeys(column.option_keys(), 0)
        for row in rows:
            cell = (row.get("cells") or {}).get(column.key)
            picked = cell if isinstance(cell, list) else [cell]
            for key in picked:
                if key in counts:
                    counts[key] += 1
        overview[column.key] = [(o, counts[o.key]) for o in column.options]
    return overview
