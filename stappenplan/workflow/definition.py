"""The plan definition's model: steps, modes and questions as frozen data.

The plan lives in ``plans/v{N}.yaml`` (read by ``plan_loader``, checked against the
pydantic model of ``plan_model``) so that content can change without code changes, and
a partnership keeps the version it started with.
Answers are checked by ``answers``. Only the standard library is imported here: the
workflow package must stay usable without Flask or a database.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

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
#: The starting situation "library and childcare already work together": every
#: partnership is in it from its second round on.
WORKING_TOGETHER = 3

# The C loader (when PyYAML has it) parses a plan ~10x faster; same semantics.



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
class OptionsFrom:
    """Where a column takes its options from: a choice/multi column of another step's
    table (step 6 offers the needs that step 5's conversations are tallied by)."""

    step: int
    question: str
    column: str


#: The kinds of practice record a plan table can become (see ``PracticeSource``).
PRACTICE_KINDS = ("activity", "action")


@dataclass(frozen=True)
class PracticeSource:
    """A table of the plan whose rows, once the step is agreed, become practice records
    (stappenplan/practice): each row one record of ``kind``, named by its ``title`` column,
    dated by its ``date`` column and, for an action, with its ``who`` column. What then
    happens (held, reached, done) is kept there, never in the agreed plan."""

    kind: str
    title: str
    date: str | None = None
    who: str | None = None


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    type: str
    options: tuple[Option, ...] = ()
    required: bool = False
    options_from: OptionsFrom | None = None
    # Warn (never refuse) when a cell looks like a name, address or contact detail:
    # step 5's records must stay anonymous. See worksheets/identifying.py.
    privacy_check: bool = False

    def option_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)


@dataclass(frozen=True)
class Source:
    """Where a ``goal_progress`` question takes its rows from (a table question)."""

    step: int
    question: str


@dataclass(frozen=True)
class Suggestion:
    """A ready-made row someone can add with one click (step 7's actions to consider)."""

    key: str
    label: str
    #: The option of ``Suggestions.group_column`` this suggestion is grouped under.
    group: str

    @property
    def row_id(self) -> str:
        """Fixed per suggestion, so adding it twice adds one row (see tables.apply_ops)."""
        return SUGGESTION_ROW_PREFIX + self.key


SUGGESTION_ROW_PREFIX = "s-"


@dataclass(frozen=True)
class Suggestions:
    """Suggested rows of a table question: the text goes in ``text_column``, the group
    (an option key) in ``group_column``, and ``initial`` cells are set as well."""

    text_column: str
    group_column: str
    items: tuple[Suggestion, ...]
    initial: Mapping[str, str] = field(default_factory=_frozen_map, hash=False)

    def get(self, key: str) -> Suggestion | None:
        return next((s for s in self.items if s.key == key), None)

    def groups(self) -> list[str]:
        """Group keys in the order the suggestions come."""
        seen: list[str] = []
        for item in self.items:
            if item.group not in seen:
                seen.append(item.group)
        return seen


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
    suggestions: Suggestions | None = None
    # What one row is called on the form ("Gesprek" for step 5's records; None: "Rij").
    row_label: str | None = None
    # A table whose agreed rows become practice records (step 6's activities, step 7's actions).
    practice: PracticeSource | None = None

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
    # The source document gives some steps a second title; shown as a subtitle.
    subtitle: str | None = None
    # "Voor wie" in plain words: what prevention, cure (Taalhuis) or VVE mean here.
    for_whom_note: str | None = None
    # The step's tool ("handvat"): what the organisations get to work with.
    tool: str | None = None

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
class Move:
    """Answers of ``sources`` (the previous version) go to ``targets`` (this version), in
    one step: a rename (one to one), a merge (several to one text) or a split (one to
    several, copied)."""

    step: int
    sources: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Retired:
    """A question of the previous version that this version no longer asks: its answers
    are kept and shown as the previous version's, never carried into a new question."""

    step: int
    key: str


@dataclass(frozen=True)
class Upgrade:
    """How a partnership on ``from_version`` moves to this plan (``plans/vN.yaml``'s
    ``upgrade`` section). Questions with the same key carry over as they are."""

    from_version: int
    moves: tuple[Move, ...] = ()
    retired: tuple[Retired, ...] = ()


@dataclass(frozen=True)
class PlanDefinition:
    version: int
    situations: Mapping[int, Situation] = field(hash=False)
    steps: tuple[Step, ...]
    upgrade: Upgrade | None = None

    def step(self, number: int) -> Step:
        for s in self.steps:
            if s.number == number:
                return s
        raise KeyError(number)
