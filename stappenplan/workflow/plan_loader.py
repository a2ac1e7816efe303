"""Loading the plan files (``plans/v{N}.yaml``) into the model of ``definition``.

The files are validated strictly by the pydantic model of ``plan_model``: a typo in the
YAML must fail at start-up with a message that points at the spot (its path in the file,
e.g. ``steps[2].questions[1].type``), not show up as a broken page later. No Flask, no
database.
"""

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

from .definition import Column, DefinitionError, PlanDefinition, Step
from .plan_model import PlanFile
from .upgrade import problems

PLANS_DIR = Path(__file__).resolve().parent / "plans"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAN_FILE = re.compile(r"^v(\d+)\.yaml$")
#: At most this many problems are listed for one file; the first ones usually explain the rest.
_MAX_PROBLEMS = 10


def _fail(where: str, message: str) -> NoReturn:
    raise DefinitionError(f"{where}: {message}")


# --------------------------------------------------------------------------- messages
# Pydantic's own messages are English and name Python types; plan authors read Dutch
# (as every other message of the app) and YAML, so the common ones are rephrased.

def _or(expected: str) -> str:
    """Pydantic's "'a', 'b' or 'c'" in Dutch."""
    return expected.replace("' or '", "' of '")


_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda e: "ontbreekt",
    "extra_forbidden": lambda e: f"onbekend veld '{e['loc'][-1]}'",
    "literal_error": lambda e: f"onbekende waarde '{e['input']}', kies uit {_or(e['ctx']['expected'])}",
    "string_type": lambda e: "moet een tekst zijn",
    "string_too_short": lambda e: "is leeg",
    "bool_type": lambda e: "moet true of false zijn",
    "int_type": lambda e: "moet een geheel getal zijn",
    "greater_than_equal": lambda e: f"moet een getal vanaf {e['ctx']['ge']} zijn",
    "less_than_equal": lambda e: f"moet een getal tot en met {e['ctx']['le']} zijn",
    "list_type": lambda e: "moet een lijst zijn",
    "dict_type": lambda e: "moet een mapping zijn",
    "model_type": lambda e: "moet een mapping zijn",
}

#: What an item of a list is called in the context of a message.
_ITEM_NOUNS = {"steps": "stap", "questions": "vraag", "columns": "kolom", "options": "optie",
               "groups": "groep", "items": "suggestie"}


def _path(loc: Sequence[str | int]) -> str:
    """``("steps", 2, "questions", 1, "type")`` as ``steps[2].questions[1].type``."""
    text = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int) or not part.isidentifier():
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _context(raw: Any, loc: Sequence[str | int]) -> str:
    """The items a path runs through, by their key or number: ``stap 3, vraag 'offer'``."""
    names: list[str] = []
    node: Any = raw
    for depth, part in enumerate(loc):
        parent = loc[depth - 1] if depth else None
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            noun = _ITEM_NOUNS.get(str(parent))
            key = node.get("key") if isinstance(node, dict) else None
            if noun:
                names.append(f"{noun} '{key}'" if isinstance(key, str) and key else f"{noun} {part + 1}")
        elif isinstance(node, dict) and part in node:
            if depth == 1 and parent == "situations":
                names.append(f"uitgangssituatie {part}")
            node = node[part]
        else:
            break
    return ", ".join(names)


def _describe(name: str, raw: Any, error: Any) -> str:
    """One problem as ``file: path (context): message``."""
    loc = tuple(error["loc"]) + tuple(error.get("ctx", {}).get("at", ()))
    describe = _MESSAGES.get(error["type"])
    message = describe(error) if describe else error["msg"]
    if "[key]" in loc:
        message = f"de sleutel {message}"  # a key of a mapping, e.g. of scale_labels
    where = _path(loc)
    context = _context(raw, loc) if isinstance(raw, dict) else ""
    if context:
        where = f"{where} ({context})"
    return f"{name}: {where}: {message}" if where else f"{name}: {message}"


def _problems(name: str, raw: Any, exc: ValidationError) -> str:
    lines = [_describe(name, raw, error) for error in exc.errors(include_url=False)]
    if len(lines) > _MAX_PROBLEMS:
        lines = [*lines[:_MAX_PROBLEMS], f"{name}: ... en nog {len(lines) - _MAX_PROBLEMS} problemen"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- loading


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
    if not isinstance(raw, dict):
        _fail(name, "het bestand moet een mapping zijn")
    try:
        plan = PlanFile.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionError(_problems(name, raw, exc)) from None
    defn = plan.to_definition()
    steps = resolve_options_from(list(defn.steps), lambda where, message: _fail(f"{name}: {where}", message))
    return replace(defn, steps=tuple(steps))


def available_versions() -> list[int]:
    """Versions for which a ``plans/vN.yaml`` file exists, ascending. Every partnership page
    asks (is a newer version there?): the directory is read once per process and directory."""
    return list(_versions_in(PLANS_DIR))


@functools.lru_cache(maxsize=4)
def _versions_in(directory: Path) -> tuple[int, ...]:
    found = (_PLAN_FILE.match(p.name) for p in directory.iterdir())
    return tuple(sorted(int(m.group(1)) for m in found if m))


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
    """Validate every plan file (call at start-up, so a broken file fails fast), and every
    way from one version to the next: a mapping that names unknown questions, or a
    question whose answers would be dropped, stops the deploy instead of a user."""
    plans = {v: get_definition(v) for v in available_versions()}
    found: list[str] = []
    for version, defn in plans.items():
        if version == min(plans):
            continue
        previous = defn.upgrade.from_version if defn.upgrade else max(v for v in plans if v < version)
        if previous not in plans:
            found.append(f"v{version}.yaml: upgrade, from: versie {previous} bestaat niet")
            continue
        found.extend(problems(plans[previous], defn))
    if found:
        raise DefinitionError("\n".join(found))
    return plans


def upgrade_sources() -> dict[int, int | None]:
    """For every version, the version its plan file says partnerships come from."""
    return {v: (d.upgrade.from_version if d.upgrade else None)
            for v, d in ((v, get_definition(v)) for v in available_versions())}

