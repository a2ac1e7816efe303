"""The plan definition (plans/v1.yaml), its loader and answer validation."""

import copy
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from stappenplan.workflow.answers import is_answered, tally_records, validate_answer
from stappenplan.workflow.definition import QUESTION_TYPES, Column, DefinitionError, Option, Question
from stappenplan.workflow.plan_loader import PLANS_DIR, get_definition, latest_version, load_all, load_definition

V1_PATH = PLANS_DIR / "v1.yaml"
DEFN = get_definition(1)


@functools.cache
def _raw_v1() -> dict[str, Any]:
    return yaml.load(V1_PATH.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def raw_v1() -> dict[str, Any]:
    """A fresh, mutable copy of the parsed v1.yaml."""
    return copy.deepcopy(_raw_v1())


def write(tmp_path: Path, data: dict[str, Any], name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def q(step: int, key: str) -> Question:
    return DEFN.step(step).question(key)


# --------------------------------------------------------------------------- v1.yaml


def test_v1_has_eight_steps_with_the_right_modes() -> None:
    assert DEFN.version == 1
    assert [s.number for s in DEFN.steps] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [s.mode for s in DEFN.steps] == [
        "each",
        "each",
        "each",
        "joint",
        "lead",
        "joint",
        "joint",
        "joint",
    ]
    assert DEFN.step(1).title == "Begin met het waarom"
    assert DEFN.step(5).title == "Leer de ouders kennen"
    for step in DEFN.steps:
        assert step.goal and step.for_whom and step.questions


def test_v1_has_three_starting_situations() -> None:
    assert sorted(DEFN.situations) == [1, 2, 3]
    assert "kinderopvang zoekt" in DEFN.situations[1].title
    assert "bibliotheek zoekt" in DEFN.situations[2].title
    assert "al samen" in DEFN.situations[3].title
    for number in (1, 2, 3):
        assert DEFN.step(1).intro_for(number)
        assert DEFN.step(3).intro_for(number)


def test_every_question_type_is_used() -> None:
    used = {q.type for s in DEFN.steps for q in s.questions}
    assert used == set(QUESTION_TYPES)


def test_required_questions_are_exactly_those_of_the_worksheets() -> None:
    required = {s.number: {q.key for q in s.questions if q.required} for s in DEFN.steps}
    assert required == {
        1: {"why", "aims"},
        2: {"ambitions"},
        3: {"other_value"},
        4: {"shared_goals", "responsibilities"},
        5: {"learned"},
        6: {"activities"},
        7: {"action_schema"},
        8: {"evaluation_moments", "next_round"},
    }


def test_library_only_questions_in_step_1() -> None:
    step = DEFN.step(1)
    assert q(1, "youth_view").party == "library"
    assert q(1, "taalhuis_view").party == "library"
    library_keys = [x.key for x in step.questions_for("library", 1)]
    childcare_keys = [x.key for x in step.questions_for("childcare", 1)]
    assert "youth_view" in library_keys and "taalhuis_view" in library_keys
    assert "youth_view" not in childcare_keys and "taalhuis_view" not in childcare_keys
    assert len(step.questions_for(None, 1)) == len(step.questions)


def test_existing_cooperation_comes_first_in_situation_3_only() -> None:
    step = DEFN.step(3)
    assert step.questions_for("library", 3)[0].key == "existing_cooperation"
    assert step.questions_for("library", 1)[0].key == "other_value"
    assert len(step.questions_for("library", 3)) == len(step.questions_for("library", 1))


def test_split_questions_and_step_4_agreement() -> None:
    assert q(2, "staff_skills").type == "multi"
    assert q(2, "staff_skills_level").type == "scale"
    assert q(3, "offer").type == "multi" and q(3, "offer_details").type == "text"
    assert q(3, "obstacles").type == "multi"
    assert q(3, "obstacles_details").type == "text"
    assert q(4, "agreement").type == "check"
    assert q(4, "agreement_date").type == "date"
    assert q(1, "support").scale_labels == {1: "Helemaal niet", 5: "Helemaal"}


def test_conversation_records_in_step_5() -> None:
    records = q(5, "conversations")
    assert records.type == "records"
    assert records.warning and "namen" in records.warning
    assert records.visible_to == "childcare"
    assert [c.key for c in records.columns] == [
        "label",
        "date",
        "proud",
        "activities_with_child",
        "support_wishes",
        "appealing_activities",
        "home_language",
    ]
    assert records.column("label").label.startswith("Label, bijv. Gezin A")
    wishes = [o.label for o in records.column("support_wishes").options]
    assert "Nederlands leren" in wishes and "Digitale vaardigheden" in wishes


def test_goal_progress_points_at_step_4_goals() -> None:
    progress = q(8, "goal_progress")
    assert progress.source is not None
    assert (progress.source.step, progress.source.question) == (4, "shared_goals")


def test_get_definition_is_cached_and_versions_are_found() -> None:
    assert get_definition(1) is get_definition(1)
    assert latest_version() == 2
    assert load_all() == {1: get_definition(1), 2: get_definition(2)}
    with pytest.raises(DefinitionError, match="v999.yaml"):
        get_definition(999)


def test_situations_restriction(tmp_path: Path) -> None:
    data = raw_v1()
    data["steps"][3]["questions"][2]["situations"] = [3]  # target_parents
    defn = load_definition(write(tmp_path, data, "v1.yaml"))
    step = defn.step(4)
    assert "target_parents" in [x.key for x in step.questions_for(None, 3)]
    assert "target_parents" not in [x.key for x in step.questions_for(None, 1)]


# --------------------------------------------------------------------------- loader errors


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets a dotted path (ints index lists) in the raw YAML."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return mutate


def _duplicate_key(data: dict[str, Any]) -> None:
    questions = data["steps"][1]["questions"]
    questions[2]["key"] = questions[0]["key"]


def _all_private(data: dict[str, Any]) -> None:
    for step in data["steps"]:
        step["mode"] = "each"


def _swap_steps(data: dict[str, Any]) -> None:
    steps = data["steps"]
    steps[5], steps[6] = steps[6], steps[5]


MALFORMED = [
    pytest.param(
        _set("steps.2.questions.1.type", "multiple"),
        ["steps[2].questions[1].type", "stap 3", "vraag 'offer'", "onbekende waarde 'multiple'"],
        id="unknown-type",
    ),
    pytest.param(
        _duplicate_key,
        ["steps[1].questions[2].key", "stap 2", "'current_activities'", "dubbel"],
        id="duplicate-key",
    ),
    pytest.param(_delete("steps.4.title"), ["steps[4].title", "stap 5", "ontbreekt"], id="missing-title"),
    pytest.param(_set("steps.6.goal", "  "), ["steps[6].goal", "stap 7", "is leeg"], id="empty-goal"),
    pytest.param(
        _set("steps.3.questions.0.lable", "Doelen"),
        ["steps[3].questions[0].lable", "stap 4", "'shared_goals'", "onbekend veld 'lable'"],
        id="unknown-question-field",
    ),
    pytest.param(
        _set("steps.0.titel", "x"), ["steps[0].titel", "stap 1", "onbekend veld 'titel'"], id="unknown-step-field"
    ),
    pytest.param(
        _set("steps.3.questions.0.columns.0.typ", "line"),
        ["steps[3].questions[0].columns[0].typ", "stap 4", "'shared_goals'", "kolom 'goal'", "'typ'"],
        id="unknown-column-field",
    ),
    pytest.param(
        _set("steps.5.questions.1.party", "library"),
        ["steps[5].questions[1].party", "stap 6", "'invitation'", "'party' mag alleen"],
        id="party-in-joint-step",
    ),
    pytest.param(
        _set("steps.0.questions.0.party", "gemeente"),
        ["steps[0].questions[0].party", "stap 1", "'why'", "gemeente"],
        id="unknown-party",
    ),
    pytest.param(
        _delete("steps.3.questions.3.options"),
        ["steps[3].questions[3].options", "stap 4", "'consultation_frequency'", "'options' ontbreekt"],
        id="choice-without-options",
    ),
    pytest.param(
        _set("steps.2.questions.1.options.1.key", "expertise"),
        ["steps[2].questions[1].options[1].key", "stap 3", "'offer'", "optie 'expertise'", "dubbel"],
        id="duplicate-option",
    ),
    pytest.param(
        _set("steps.7.questions.1.source.question", "nope"),
        ["steps[7].questions[1].source.question", "stap 8", "'goal_progress'", "'nope'"],
        id="goal-progress-unknown-question",
    ),
    pytest.param(
        _set("steps.7.questions.1.source.question", "target_parents"),
        ["steps[7].questions[1].source.question", "stap 8", "'goal_progress'", "tabel"],
        id="goal-progress-not-a-table",
    ),
    pytest.param(
        _set("steps.7.questions.1.source.step", 9),
        ["steps[7].questions[1].source.step", "stap 8", "'goal_progress'", "onbekende stap 9"],
        id="goal-progress-unknown-step",
    ),
    pytest.param(
        _set("steps.1.questions.0.columns.3.type", "integer"),
        [
            "steps[1].questions[0].columns[3].type",
            "stap 2",
            "'current_activities'",
            "kolom 'parents_reached'",
            "'integer'",
        ],
        id="unknown-column-type",
    ),
    pytest.param(
        _delete("steps.1.questions.0.columns"),
        ["steps[1].questions[0].columns", "stap 2", "'current_activities'", "'columns' ontbreekt"],
        id="table-without-columns",
    ),
    pytest.param(
        _set("steps.0.questions.0.key", "WhyNot"),
        ["steps[0].questions[0].key", "stap 1", "WhyNot", "snake_case"],
        id="key-not-snake-case",
    ),
    pytest.param(_set("steps.3.mode", "together"), ["steps[3].mode", "stap 4", "together"], id="bad-mode"),
    pytest.param(_swap_steps, ["steps[5].number", "stap 6", "moet 6 zijn"], id="steps-out-of-order"),
    pytest.param(_set("steps.5.mode", "each"), ["steps[5].mode", "stap 6", "(each)"], id="private-step-after-shared"),
    pytest.param(_all_private, ["steps[0].mode", "stap 1", "(each)"], id="no-shared-step"),
    pytest.param(
        _set("steps.2.questions.3.first_in_situations", [4]),
        ["steps[2].questions[3].first_in_situations[0]", "stap 3", "'existing_cooperation'", "uitgangssituatie 4"],
        id="unknown-situation",
    ),
    pytest.param(
        _set("steps.0.questions.0.required", "ja"),
        ["steps[0].questions[0].required", "stap 1", "'why'", "true of false"],
        id="required-not-bool",
    ),
    pytest.param(_set("version", "1"), ["broken.yaml: version: ", "geheel getal"], id="version-not-int"),
]


@pytest.mark.parametrize(("mutate", "expected"), MALFORMED)
def test_malformed_definition_names_file_step_and_key(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    data = raw_v1()
    mutate(data)
    with pytest.raises(DefinitionError) as info:
        load_definition(write(tmp_path, data))
    message = str(info.value)
    assert message.startswith("broken.yaml")
    for part in expected:
        assert part in message


def test_unknown_type_message_format(tmp_path: Path) -> None:
    data = raw_v1()
    data["steps"][2]["questions"][1]["type"] = "multiple"
    with pytest.raises(DefinitionError) as info:
        load_definition(write(tmp_path, data, "v1.yaml"))
    assert str(info.value) == (
        "v1.yaml: steps[2].questions[1].type (stap 3, vraag 'offer'): onbekende waarde 'multiple', kies uit "
        "'text', 'line', 'choice', 'multi', 'scale', 'date', 'check', 'table', 'records' of 'goal_progress'"
    )


def test_wrong_number_of_steps(tmp_path: Path) -> None:
    data = raw_v1()
    del data["steps"][7]
    with pytest.raises(DefinitionError, match="8 stappen"):
        load_definition(write(tmp_path, data))


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("steps: [unclosed", encoding="utf-8")
    with pytest.raises(DefinitionError, match="broken.yaml"):
        load_definition(path)
    with pytest.raises(DefinitionError, match="missing.yaml"):
        load_definition(tmp_path / "missing.yaml")


def test_the_loaded_plan_says_what_the_file_says() -> None:
    """Checked against the YAML read plainly (not against the loader itself): every step
    with its number, title and mode, every question with its key, type, label and
    whether it is required, every table column, in the file's order."""
    raw = yaml.safe_load(V1_PATH.read_text(encoding="utf-8"))
    loaded = load_definition(V1_PATH)
    assert loaded == DEFN
    assert [s.number for s in loaded.steps] == [s["number"] for s in raw["steps"]] == list(range(1, 9))
    for raw_step in raw["steps"]:
        step = loaded.step(raw_step["number"])
        assert (step.title, step.mode) == (raw_step["title"].strip(), raw_step["mode"])
        assert [(q.key, q.type, q.label, q.required) for q in step.questions] == [
            (r["key"], r["type"], r["label"].strip(), bool(r.get("required", False)))
            for r in raw_step["questions"]], step.number
        for question, raw_question in zip(step.questions, raw_step["questions"], strict=True):
            assert [c.key for c in question.columns or ()] == [c["key"] for c in raw_question.get("columns") or ()]


# --------------------------------------------------------------------------- answers

CHOICE = Question(
    key="c",
    type="choice",
    label="Kies",
    options=(Option("a", "A"), Option("b", "B"), Option("c", "C")),
)
MULTI = replace(CHOICE, type="multi")
TABLE = q(2, "current_activities")


@pytest.mark.parametrize("empty", [None, "", "   ", [], {}])
@pytest.mark.parametrize("question", [x for s in DEFN.steps for x in s.questions], ids=lambda x: x.key)
def test_empty_values_normalise_to_none(question: Question, empty: Any) -> None:
    assert validate_answer(question, empty) == (None, None)
    assert not is_answered(question, None)


def test_text() -> None:
    text = q(1, "why")
    assert validate_answer(text, "Omdat\r\nhet kan") == ("Omdat\nhet kan", None)
    assert validate_answer(text, "x" * 20_000) == ("x" * 20_000, None)
    assert validate_answer(text, "x" * 20_001) == (
        None,
        "Deze tekst is te lang: maximaal 20.000 tekens.",
    )
    assert validate_answer(text, 12)[1] == "Vul hier tekst in."


def test_line() -> None:
    line = q(3, "contact_person")
    assert validate_answer(line, "  Anna, coördinator ") == ("Anna, coördinator", None)
    assert validate_answer(line, "x" * 501)[1] == "Deze tekst is te lang: maximaal 500 tekens."
    assert validate_answer(line, "twee\nregels")[1] == "Gebruik hier maar één regel."


def test_choice() -> None:
    assert validate_answer(CHOICE, "b") == ("b", None)
    assert validate_answer(CHOICE, "z") == (None, "Kies een van de gegeven mogelijkheden.")
    assert validate_answer(CHOICE, ["a"])[1] == "Kies een van de gegeven mogelijkheden."


def test_multi_deduplicates_and_keeps_option_order() -> None:
    assert validate_answer(MULTI, ["c", "a", "c"]) == (["a", "c"], None)
    assert validate_answer(MULTI, "b") == (["b"], None)
    assert validate_answer(MULTI, ["a", "x"])[1] == "Kies een van de gegeven mogelijkheden."
    assert validate_answer(MULTI, {"a": True})[1] == "Kies een van de gegeven mogelijkheden."


def test_scale() -> None:
    scale = q(1, "support")
    assert validate_answer(scale, {"value": 3, "remark": " ok "}) == (
        {"value": 3, "remark": "ok"},
        None,
    )
    assert validate_answer(scale, {"value": "4"}) == ({"value": 4, "remark": ""}, None)
    assert validate_answer(scale, 5) == ({"value": 5, "remark": ""}, None)
    assert validate_answer(scale, {"value": None, "remark": "later"}) == (
        {"value": None, "remark": "later"},
        None,
    )
    assert validate_answer(scale, {"value": None, "remark": ""}) == (None, None)
    assert validate_answer(scale, {"value": 6})[1] == "Kies een getal van 1 tot en met 5."
    assert validate_answer(scale, {"value": 0})[1] == "Kies een getal van 1 tot en met 5."
    assert validate_answer(scale, {"value": True})[1] == "Kies een getal van 1 tot en met 5."
    assert validate_answer(scale, {"value": 2, "remark": "x" * 2001})[1] == (
        "De toelichting is te lang: maximaal 2.000 tekens."
    )
    assert validate_answer(scale, {"value": 2, "extra": 1})[1] is not None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-02-29", "2024-02-29"),
        ("29-02-2024", "2024-02-29"),
        ("1-3-2024", "2024-03-01"),
        (" 31-12-2025 ", "2025-12-31"),
        (dt.date(2025, 6, 1), "2025-06-01"),
    ],
)
def test_date_accepts_iso_and_dutch_form(raw: Any, expected: str) -> None:
    assert validate_answer(q(4, "agreement_date"), raw) == (expected, None)


@pytest.mark.parametrize("raw", ["2023-02-29", "31-04-2024", "morgen", "2024/01/01", 20240101])
def test_date_rejects_non_dates(raw: Any) -> None:
    assert validate_answer(q(4, "agreement_date"), raw) == (
        None,
        "Dit is geen geldige datum. Gebruik de vorm dd-mm-jjjj.",
    )


def test_check() -> None:
    check = q(2, "in_policy")
    assert validate_answer(check, "Ja") == ("ja", None)
    assert validate_answer(check, "deels") == ("deels", None)
    assert validate_answer(check, "misschien") == (None, "Kies ja, nee of deels.")


def test_table_normalises_cells() -> None:
    value = [
        {
            "id": "r1",
            "cells": {"activity": " Voorleesochtend ", "parents_reached": "12", "frequency": ""},
        },
        {"id": "r2", "cells": {"activity": "Ouderavond", "parents_reached": "2,5"}},
        {"id": "r3", "cells": {"parents_reached": "1.250"}},
        {"id": "r4", "cells": {}},
    ]
    normalised, error = validate_answer(TABLE, value)
    assert error is None
    assert normalised == [
        {"id": "r1", "cells": {"activity": "Voorleesochtend", "parents_reached": 12}},
        {"id": "r2", "cells": {"activity": "Ouderavond", "parents_reached": 2.5}},
        {"id": "r3", "cells": {"parents_reached": 1250}},
        {"id": "r4", "cells": {}},
    ]


def test_table_rejects_bad_input() -> None:
    rows = [{"id": f"r{i}", "cells": {"activity": "x"}} for i in range(201)]
    assert validate_answer(TABLE, rows)[1] == "Een tabel mag maximaal 200 rijen hebben."
    assert validate_answer(TABLE, rows[:200])[1] is None

    unknown = [{"id": "r1", "cells": {"activiteit": "x"}}]
    assert validate_answer(TABLE, unknown) == (None, "Rij 1: onbekende kolom 'activiteit'.")

    number = [{"id": "r1", "cells": {}}, {"id": "r2", "cells": {"parents_reached": "veel"}}]
    assert validate_answer(TABLE, number) == (
        None,
        "Rij 2, kolom 'Aantal ouders bereikt': Vul een getal in.",
    )

    for bad_id in ("", "x" * 41, 7, None):
        assert "geen geldige id" in validate_answer(TABLE, [{"id": bad_id, "cells": {}}])[1]
    twice = [{"id": "r1", "cells": {}}, {"id": "r1", "cells": {}}]
    assert "dezelfde id" in validate_answer(TABLE, twice)[1]
    assert validate_answer(TABLE, "geen tabel")[1] is not None
    assert validate_answer(TABLE, [{"id": "r1", "cells": {}, "x": 1}])[1] is not None


def test_table_cells_of_every_column_type() -> None:
    table = Question(
        key="t",
        type="table",
        label="T",
        columns=(
            Column("d", "Datum", "date"),
            Column("c", "Keuze", "choice", (Option("a", "A"), Option("b", "B"))),
            Column("m", "Meer", "multi", (Option("a", "A"), Option("b", "B"))),
            Column("t", "Tekst", "text"),
        ),
    )
    good = [{"id": "1", "cells": {"d": "05-06-2025", "c": "a", "m": ["b", "a"], "t": "x"}}]
    assert validate_answer(table, good) == (
        [{"id": "1", "cells": {"d": "2025-06-05", "c": "a", "m": ["a", "b"], "t": "x"}}],
        None,
    )
    assert "Kies een van" in validate_answer(table, [{"id": "1", "cells": {"c": "z"}}])[1]
    assert "Kies een van" in validate_answer(table, [{"id": "1", "cells": {"m": ["z"]}}])[1]
    assert "geldige datum" in validate_answer(table, [{"id": "1", "cells": {"d": "30-02-2025"}}])[1]
    long_text = [{"id": "1", "cells": {"t": "x" * 20_001}}]
    assert "maximaal 20.000" in validate_answer(table, long_text)[1]


def test_records_validate_like_a_table() -> None:
    records = q(5, "conversations")
    value = [
        {
            "id": "g1",
            "cells": {
                "label": "Gezin A",
                "date": "03-10-2025",
                "activities_with_child": ["singing", "reading_aloud"],
                "support_wishes": ["learning_dutch"],
            },
        }
    ]
    normalised, error = validate_answer(records, value)
    assert error is None
    assert normalised[0]["cells"]["date"] == "2025-10-03"
    assert normalised[0]["cells"]["activities_with_child"] == ["reading_aloud", "singing"]
    bad = [{"id": "g1", "cells": {"support_wishes": ["geld"]}}]
    assert "Kies een van de gegeven mogelijkheden." in validate_answer(records, bad)[1]


def test_goal_progress() -> None:
    progress = q(8, "goal_progress")
    value = {"g1": {"value": 4, "remark": "Goed op weg"}, "g2": {"value": None, "remark": ""}}
    assert validate_answer(progress, value) == (
        {"g1": {"value": 4, "remark": "Goed op weg"}},
        None,
    )
    assert validate_answer(progress, {"g2": {}}) == (None, None)
    assert "1 tot en met 5" in validate_answer(progress, {"g1": {"value": 9}})[1]
    assert validate_answer(progress, ["g1"])[1] is not None


def test_is_answered() -> None:
    assert is_answered(q(1, "why"), "Omdat")
    assert is_answered(q(1, "aims"), ["trust"])
    support = q(1, "support")
    assert is_answered(support, {"value": 2, "remark": ""})
    assert not is_answered(support, {"value": None, "remark": "nog niet"})
    goals = q(4, "shared_goals")
    assert not is_answered(goals, [{"id": "r1", "cells": {"indicator": "x"}}])
    assert is_answered(goals, [{"id": "r1", "cells": {"goal": "Meer voorlezen"}}])
    no_required = replace(goals, columns=tuple(replace(c, required=False) for c in goals.columns))
    assert is_answered(no_required, [{"id": "r1", "cells": {"indicator": "x"}}])
    assert not is_answered(no_required, [{"id": "r1", "cells": {}}])
    progress = q(8, "goal_progress")
    assert is_answered(progress, {"g1": {"value": 3, "remark": ""}})
    assert not is_answered(progress, {"g1": {"value": None, "remark": "x"}})


def test_tally_records_counts_each_theme() -> None:
    records = q(5, "conversations")
    value, _ = validate_answer(
        records,
        [
            {"id": "1", "cells": {"support_wishes": ["learning_dutch", "upbringing"]}},
            {"id": "2", "cells": {"support_wishes": ["learning_dutch"]}},
            {"id": "3", "cells": {"label": "Gezin C"}},
        ],
    )
    overview = tally_records(records, value)
    assert set(overview) == {"activities_with_child", "support_wishes"}
    counts = {o.key: n for o, n in overview["support_wishes"]}
    assert counts["learning_dutch"] == 2 and counts["upbringing"] == 1
    assert counts["digital_skills"] == 0
    assert all(n == 0 for _, n in tally_records(records, None)["activities_with_child"])
