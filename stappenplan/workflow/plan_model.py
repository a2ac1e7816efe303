"""What a plan file (``plans/v{N}.yaml``) may contain, as pydantic models.

The rules live in one declared model instead of code that walks the YAML by hand, so the
same model both checks a file and yields the JSON Schema plan authors get
(``docs/plan.schema.json``). Every model forbids unknown keys: a typo must fail at
start-up, not show up as a broken page later. Validators check what a schema cannot say
(which fields fit which type, references between steps). ``PlanFile.to_definition()``
then builds the frozen dataclasses of ``definition`` that the rest of the app uses.
Pure Python and pydantic only: no Flask, no database.
"""

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from .definition import (
    ROW_ID_MAX,
    SCALE_MAX,
    SCALE_MIN,
    SUGGESTION_ROW_PREFIX,
    Column,
    Move,
    Option,
    OptionsFrom,
    PlanDefinition,
    PracticeSource,
    Question,
    Retired,
    Situation,
    Source,
    Step,
    Suggestion,
    Suggestions,
    Upgrade,
    _frozen_map,
)

#: The number of steps every plan has (the source document's eight steps).
STEP_COUNT = 8
#: A suggestion's row id is ``s-`` plus its key, and row ids are at most 40 characters.
SUGGESTION_KEY_MAX = ROW_ID_MAX - len(SUGGESTION_ROW_PREFIX)
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

# The allowed values, spelled out for the type checker and the schema; a unit test keeps
# them equal to the tuples of ``definition`` that the engine uses.
ModeName = Literal["each", "joint", "lead"]
PartyName = Literal["library", "childcare"]
QuestionType = Literal["text", "line", "choice", "multi", "scale", "date", "check", "table", "records", "goal_progress"]
ColumnType = Literal["line", "text", "date", "number", "choice", "multi"]
PracticeKind = Literal["activity", "action"]

Loc = tuple[str | int, ...]


def problem(message: str, *at: str | int) -> PydanticCustomError:
    """A validation error ``at`` a path below the model that raises it.

    Pydantic puts a validator's error at the model; ``at`` (kept in the error's context)
    lets the loader point at the field itself, e.g. ``steps[7].questions[1].source``.
    """
    return PydanticCustomError("plan", message, {"at": at})


def _snake_case(key: str) -> str:
    if not _SNAKE.match(key):
        raise problem(f"sleutel '{key}' moet snake_case zijn")
    return key


#: A text shown to users: never empty, surrounding whitespace dropped.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
#: A key stored with the answers: snake_case, and never changed once a plan is in use.
Key = Annotated[str, AfterValidator(_snake_case), Field(json_schema_extra={"pattern": _SNAKE.pattern})]
ScaleValue = Annotated[int, Field(ge=SCALE_MIN, le=SCALE_MAX)]


def _duplicates(keys: Iterable[str]) -> list[int]:
    """Positions of the keys that occurred before (the second and later ones)."""
    seen: Counter[str] = Counter()
    positions = []
    for i, key in enumerate(keys):
        if seen[key]:
            positions.append(i)
        seen[key] += 1
    return positions


def _unique_keys(field: str, items: list[Any]) -> None:
    for i in _duplicates(item.key for item in items):
        raise problem(f"sleutel '{items[i].key}' komt dubbel voor", field, i, "key")


class _Model(BaseModel):
    """Strict: no unknown keys, no "1" for 1 or "yes" for true."""

    model_config = ConfigDict(
        extra="forbid", strict=True, model_title_generator=lambda model: model.__name__.removesuffix("Model"),
    )

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        """An explicit ``null`` counts as absent only for the optional texts and parties."""
        if value is None and info.field_name not in _NULLABLE:
            raise problem("mag niet leeg (null) zijn")
        return value


_NULLABLE = {"help", "warning", "row_label", "subtitle", "for_whom_note", "tool", "party", "visible_to", "date", "who"}


class OptionModel(_Model):
    """One answer option of a choice or multi question or column."""

    key: Key
    label: Text

    def build(self) -> Option:
        return Option(key=self.key, label=self.label)


class OptionsFromModel(_Model):
    """Take a column's options from a choice/multi column of another step's table."""

    step: int
    question: str
    column: str


class SourceModel(_Model):
    """The table question a ``goal_progress`` question takes its rows from."""

    step: int
    question: str


class ColumnModel(_Model):
    """One column of a ``table`` or ``records`` question."""

    key: Key
    label: Text
    type: ColumnType
    options: list[OptionModel] = []
    required: bool = False
    options_from: OptionsFromModel | SkipJsonSchema[None] = None
    privacy_check: bool = False

    @model_validator(mode="after")
    def _options_fit_the_type(self) -> "ColumnModel":
        choice = self.type in ("choice", "multi")
        if self.options_from is not None:
            if not choice or "options" in self.model_fields_set:
                raise problem("'options_from' past alleen bij type choice of multi zonder eigen 'options'",
                              "options_from")
        elif choice and not self.options:
            raise problem("'options' ontbreekt of is leeg", "options")
        elif not choice and "options" in self.model_fields_set:
            raise problem(f"'options' past niet bij type '{self.type}'", "options")
        _unique_keys("options", self.options)
        return self

    def build(self) -> Column:
        ref = self.options_from
        return Column(
            key=self.key, label=self.label, type=self.type, options=tuple(o.build() for o in self.options),
            required=self.required, privacy_check=self.privacy_check,
            # Filled in from the other column once every step is read (resolve_options_from).
            options_from=OptionsFrom(step=ref.step, question=ref.question, column=ref.column) if ref else None,
        )


class PracticeModel(_Model):
    """Which columns of a table name, date and assign the practice records its rows become."""

    kind: PracticeKind
    title: str
    date: str | None = None
    who: str | None = None


class SuggestionGroupModel(_Model):
    """Suggested rows under one option of the group column."""

    option: str
    items: list[OptionModel]

    @model_validator(mode="after")
    def _items(self) -> "SuggestionGroupModel":
        if not self.items:
            raise problem("'items' ontbreekt of is leeg", "items")
        for i, item in enumerate(self.items):
            if len(item.key) > SUGGESTION_KEY_MAX:
                raise problem(f"sleutel is langer dan {SUGGESTION_KEY_MAX} tekens", "items", i, "key")
        return self


class SuggestionsModel(_Model):
    """Ready-made rows of a table question, added with one click."""

    text_column: str
    group_column: str
    initial: dict[str, str] = {}
    groups: list[SuggestionGroupModel]

    @model_validator(mode="after")
    def _unique_items(self) -> "SuggestionsModel":
        if not self.groups:
            raise problem("'groups' ontbreekt of is leeg", "groups")
        places = [(g, i, item.key) for g, group in enumerate(self.groups) for i, item in enumerate(group.items)]
        for n in _duplicates(key for _, _, key in places):
            g, i, key = places[n]
            raise problem(f"sleutel '{key}' komt dubbel voor", "groups", g, "items", i, "key")
        return self

    def check_columns(self, columns: Mapping[str, ColumnModel]) -> None:
        """The named columns exist in this table and have the right type."""
        text = columns.get(self.text_column)
        if text is None or text.type not in ("line", "text"):
            raise problem("moet een tekstkolom van deze tabel zijn", "suggestions", "text_column")
        group = columns.get(self.group_column)
        if group is None or group.type != "choice":
            raise problem("moet een keuzekolom van deze tabel zijn", "suggestions", "group_column")
        for key, value in self.initial.items():
            column = columns.get(key)
            if column is None or column.type != "choice" or value not in {o.key for o in column.options}:
                raise problem(f"kent '{key}: {value}' niet", "suggestions", "initial", key)
        group_options = {o.key for o in group.options}
        for g, suggestion_group in enumerate(self.groups):
            if suggestion_group.option not in group_options:
                raise problem(f"'{suggestion_group.option}' staat niet in kolom '{group.key}'",
                              "suggestions", "groups", g, "option")

    def build(self) -> Suggestions:
        return Suggestions(
            text_column=self.text_column,
            group_column=self.group_column,
            items=tuple(Suggestion(key=item.key, label=item.label, group=group.option)
                        for group in self.groups for item in group.items),
            initial=_frozen_map(self.initial),
        )


class QuestionModel(_Model):
    """One question of a step; which fields fit depends on its ``type``."""

    key: Key
    type: QuestionType
    label: Text
    help: Text | None = None
    required: bool = False
    party: PartyName | None = Field(None, description="Only in 'each' steps: asked to this party only.")
    options: list[OptionModel] = []
    columns: list[ColumnModel] = []
    situations: list[int] = Field([], description="Shown only in these starting situations (empty: in all).")
    first_in_situations: list[int] = []
    scale_labels: dict[ScaleValue, Text] = {}
    warning: Text | None = None
    source: SourceModel | SkipJsonSchema[None] = None
    visible_to: PartyName | None = None
    suggestions: SuggestionsModel | SkipJsonSchema[None] = None
    row_label: Text | None = None
    practice: PracticeModel | SkipJsonSchema[None] = None

    def _not_for_this_type(self, field: str, *types: str) -> None:
        if field in self.model_fields_set and self.type not in types:
            raise problem(f"'{field}' past niet bij type '{self.type}'", field)

    @model_validator(mode="after")
    def _fields_fit_the_type(self) -> "QuestionModel":
        if self.type in ("choice", "multi") and not self.options:
            raise problem("'options' ontbreekt of is leeg", "options")
        self._not_for_this_type("options", "choice", "multi")
        if self.type in ("table", "records") and not self.columns:
            raise problem("'columns' ontbreekt of is leeg", "columns")
        self._not_for_this_type("columns", "table", "records")
        self._not_for_this_type("scale_labels", "scale", "goal_progress")
        if self.type == "goal_progress" and self.source is None:
            raise problem("'source' ontbreekt", "source")
        self._not_for_this_type("source", "goal_progress")
        self._not_for_this_type("suggestions", "table")
        self._not_for_this_type("practice", "table")
        self._not_for_this_type("row_label", "table", "records")
        _unique_keys("options", self.options)
        _unique_keys("columns", self.columns)
        columns = {c.key: c for c in self.columns}
        if self.suggestions is not None:
            self.suggestions.check_columns(columns)
        if self.practice is not None:
            self._check_practice(self.practice, columns)
        return self

    @staticmethod
    def _check_practice(practice: PracticeModel, columns: Mapping[str, ColumnModel]) -> None:
        wanted = {"title": ("line", "text"), "date": ("date",), "who": ("line",)}
        for name, types in wanted.items():
            key = getattr(practice, name)
            if key is None:
                continue
            column = columns.get(key)
            if column is None or column.type not in types:
                raise problem(f"moet een kolom van type {' of '.join(types)} van deze tabel zijn",
                              "practice", name)

    def build(self) -> Question:
        return Question(
            key=self.key,
            type=self.type,
            label=self.label,
            help=self.help,
            required=self.required,
            party=self.party,
            options=tuple(o.build() for o in self.options),
            columns=tuple(c.build() for c in self.columns),
            situations=tuple(self.situations),
            first_in_situations=tuple(self.first_in_situations),
            scale_labels=_frozen_map(self.scale_labels),
            warning=self.warning,
            source=Source(step=self.source.step, question=self.source.question) if self.source else None,
            visible_to=self.visible_to,
            suggestions=self.suggestions.build() if self.suggestions else None,
            row_label=self.row_label,
            practice=PracticeSource(kind=self.practice.kind, title=self.practice.title,
                                    date=self.practice.date, who=self.practice.who) if self.practice else None,
        )


class StepModel(_Model):
    """One of the eight steps, with its questions in display order."""

    number: int = Field(description="The step's position: 1 to 8, in order.")
    title: Text
    goal: Text
    for_whom: Text
    mode: ModeName = Field(description="each: every organisation alone; joint: together; lead: one leads.")
    intro: dict[int, Text] = Field({}, description="An introduction per starting situation.")
    questions: list[QuestionModel]
    subtitle: Text | None = None
    for_whom_note: Text | None = None
    tool: Text | None = None

    @model_validator(mode="after")
    def _questions(self) -> "StepModel":
        if not self.questions:
            raise problem("'questions' ontbreekt of is leeg", "questions")
        _unique_keys("questions", self.questions)
        for i, question in enumerate(self.questions):
            if question.party is not None and self.mode != "each":
                raise problem("'party' mag alleen in een stap die iedere organisatie apart invult",
                              "questions", i, "party")
        return self

    def build(self) -> Step:
        return Step(
            number=self.number,
            title=self.title,
            goal=self.goal,
            for_whom=self.for_whom,
            mode=self.mode,
            intro=_frozen_map(self.intro),
            questions=tuple(q.build() for q in self.questions),
            subtitle=self.subtitle,
            for_whom_note=self.for_whom_note,
            tool=self.tool,
        )


class SituationModel(_Model):
    """A starting situation a partnership chooses (who takes the initiative)."""

    title: Text
    intro: Text


class MoveModel(_Model):
    """Answers of the previous version's ``from`` questions go to this version's ``to``."""

    step: int = Field(ge=1, le=STEP_COUNT)
    from_: list[Key] = Field(alias="from", min_length=1)
    to: list[Key] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_side_single(self) -> "MoveModel":
        if len(self.from_) > 1 and len(self.to) > 1:
            raise problem("een verplaatsing is een hernoeming (1 naar 1), samenvoeging (n naar 1) of "
                          "splitsing (1 naar n), niet n naar n")
        return self


class RetiredModel(_Model):
    """A question of the previous version that is no longer asked (its answers stay readable)."""

    step: int = Field(ge=1, le=STEP_COUNT)
    key: Key


class UpgradeModel(_Model):
    """How partnerships on the previous version move to this one."""

    from_: int = Field(alias="from", ge=1)
    moves: list[MoveModel] = []
    retired: list[RetiredModel] = []

    def build(self) -> Upgrade:
        return Upgrade(
            from_version=self.from_,
            moves=tuple(Move(step=m.step, sources=tuple(m.from_), targets=tuple(m.to)) for m in self.moves),
            retired=tuple(Retired(step=r.step, key=r.key) for r in self.retired),
        )


class PlanFile(_Model):
    """A whole plan file: its version, the starting situations and the eight steps."""

    model_config = ConfigDict(title="Stappenplan plan file")

    version: int = Field(ge=1, description="Equal to N in the file name vN.yaml.")
    situations: dict[int, SituationModel] = Field(
        description="The starting situations, by number.",
        json_schema_extra={"minProperties": 1, "propertyNames": {"pattern": "^[0-9]+$"}},
    )
    steps: list[StepModel] = Field(json_schema_extra={"minItems": STEP_COUNT, "maxItems": STEP_COUNT})
    upgrade: UpgradeModel | None = Field(
        default=None,
        description="How partnerships on the previous version move to this one (`flask plan upgrade`). "
                    "Checked against the previous plan file at start-up.",
    )

    @field_validator("situations", mode="after")
    @classmethod
    def _some_situations(cls, situations: dict[int, SituationModel]) -> dict[int, SituationModel]:
        if not situations:
            raise problem("'situations' ontbreekt of is leeg")
        return situations

    @field_validator("steps", mode="before")
    @classmethod
    def _eight_steps(cls, steps: Any) -> Any:
        if isinstance(steps, list) and len(steps) != STEP_COUNT:
            raise problem(f"'steps' moet precies {STEP_COUNT} stappen bevatten (nu {len(steps)})")
        return steps

    @model_validator(mode="after")
    def _cross_references(self) -> "PlanFile":
        for i, step in enumerate(self.steps):
            if step.number != i + 1:
                raise problem(f"moet {i + 1} zijn (de stappen staan op volgorde 1 tot en met {STEP_COUNT})",
                              "steps", i, "number")
        self._check_situations()
        self._check_mode_order()
        self._check_sources()
        self._check_options_from()
        self._check_upgrade()
        return self

    def _check_upgrade(self) -> None:
        """Moves name questions of this plan; the previous plan is checked at start-up
        (``workflow.upgrade.problems``), when both files are loaded."""
        if self.upgrade is None:
            return
        if self.upgrade.from_ >= self.version:
            raise problem(f"moet een eerdere versie zijn dan {self.version}", "upgrade", "from")
        for i, move in enumerate(self.upgrade.moves):
            for j, key in enumerate(move.to):
                if self._question_at(move.step, key) is None:
                    raise problem(f"noemt onbekende vraag '{key}' in stap {move.step}", "upgrade", "moves", i, "to", j)

    def _check_situations(self) -> None:
        known = set(self.situations)
        for i, step in enumerate(self.steps):
            for number in step.intro:
                if number not in known:
                    raise problem(f"noemt onbekende uitgangssituatie {number}", "steps", i, "intro", number)
            for j, question in enumerate(step.questions):
                for field in ("situations", "first_in_situations"):
                    for k, number in enumerate(getattr(question, field)):
                        if number not in known:
                            raise problem(f"noemt onbekende uitgangssituatie {number}",
                                          "steps", i, "questions", j, field, k)

    def _check_mode_order(self) -> None:
        """The engine needs the steps each party fills in alone (``each``) first, then the
        shared ones: the answers are shared when the last ``each`` step is done."""
        modes = [s.mode for s in self.steps]
        shared_from = next((i for i, mode in enumerate(modes) if mode != "each"), len(modes))
        misplaced = [i for i in range(shared_from, len(modes)) if modes[i] == "each"]
        if shared_from == 0 or shared_from == len(modes) or misplaced:
            wrong = misplaced[0] if misplaced else 0
            raise problem("eerst de stappen die iedere organisatie apart invult (each), daarna de gezamenlijke",
                          "steps", wrong, "mode")

    def _question_at(self, step: int, key: str) -> QuestionModel | None:
        if not 1 <= step <= len(self.steps):
            return None
        return next((q for q in self.steps[step - 1].questions if q.key == key), None)

    def _check_sources(self) -> None:
        """A goal_progress question must point at an existing table question."""
        for i, step in enumerate(self.steps):
            for j, question in enumerate(step.questions):
                ref = question.source
                if ref is None:
                    continue
                at: Loc = ("steps", i, "questions", j, "source")
                if not 1 <= ref.step <= len(self.steps):
                    raise problem(f"noemt onbekende stap {ref.step}", *at, "step")
                target = self._question_at(ref.step, ref.question)
                if target is None:
                    raise problem(f"noemt onbekende vraag '{ref.question}' in stap {ref.step}", *at, "question")
                if target.type != "table":
                    raise problem(f"moet naar een tabel wijzen, niet naar type '{target.type}'", *at, "question")

    def _check_options_from(self) -> None:
        """An ``options_from`` column names a choice/multi column with options of its own."""
        for i, step in enumerate(self.steps):
            for j, question in enumerate(step.questions):
                for k, column in enumerate(question.columns):
                    ref = column.options_from
                    if ref is None:
                        continue
                    at: Loc = ("steps", i, "questions", j, "columns", k, "options_from")
                    target = self._question_at(ref.step, ref.question)
                    source = next((c for c in target.columns if c.key == ref.column), None) if target else None
                    if source is None:
                        raise problem(f"noemt een onbekende kolom (stap {ref.step}, {ref.question}.{ref.column})",
                                      *at)
                    if source.type not in ("choice", "multi") or source.options_from is not None:
                        raise problem("moet naar een keuzekolom met eigen opties wijzen", *at)

    def to_definition(self) -> PlanDefinition:
        """The frozen model the app uses; ``options_from`` columns still without their options."""
        return PlanDefinition(
            version=self.version,
            situations=_frozen_map({n: Situation(number=n, title=s.title, intro=s.intro)
                                    for n, s in self.situations.items()}),
            steps=tuple(s.build() for s in self.steps),
            upgrade=self.upgrade.build() if self.upgrade else None,
        )


def plan_json_schema() -> str:
    """The JSON Schema of a plan file, as committed in ``docs/plan.schema.json``."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **PlanFile.model_json_schema()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
