"""The pydantic model of the plan files: readable errors for broken files, and the
JSON Schema in docs/ kept equal to the model."""

from pathlib import Path
from typing import Any, get_args

import pytest
from flask import Flask

from stappenplan import cli
from stappenplan.workflow import definition
from stappenplan.workflow.definition import DefinitionError
from stappenplan.workflow.plan_loader import load_definition
from stappenplan.workflow.plan_model import (
    ColumnType,
    ModeName,
    PartyName,
    PracticeKind,
    QuestionType,
    plan_json_schema,
)
from tests.unit.test_definition import raw_v1, write


def _error(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(DefinitionError) as info:
        load_definition(write(tmp_path, data))
    return str(info.value)


def test_the_committed_schema_is_the_models() -> None:
    committed = cli.PLAN_SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == plan_json_schema(), "docs/plan.schema.json is out of date: run `flask plan-schema`"


def test_the_cli_prints_and_writes_the_schema(tmp_path: Path) -> None:
    app = Flask(__name__)
    cli.register(app)
    runner = app.test_cli_runner()
    printed = runner.invoke(args=["plan-schema", "--output", "-"])
    assert printed.exit_code == 0 and printed.output == plan_json_schema()
    target = tmp_path / "plan.schema.json"
    written = runner.invoke(args=["plan-schema", "-o", str(target)])
    assert written.exit_code == 0 and target.read_text(encoding="utf-8") == plan_json_schema()


def test_the_allowed_values_are_those_of_the_definition() -> None:
    assert get_args(ModeName) == definition.MODES
    assert get_args(PartyName) == definition.PARTIES
    assert get_args(QuestionType) == definition.QUESTION_TYPES
    assert get_args(ColumnType) == definition.COLUMN_TYPES
    assert get_args(PracticeKind) == definition.PRACTICE_KINDS


def test_unknown_key_in_an_option_names_its_path(tmp_path: Path) -> None:
    data = raw_v1()
    data["steps"][2]["questions"][1]["options"][0]["lable"] = "x"
    assert _error(tmp_path, data) == (
        "broken.yaml: steps[2].questions[1].options[0].lable (stap 3, vraag 'offer', optie 'expertise'): "
        "onbekend veld 'lable'"
    )


def test_missing_field_names_its_path(tmp_path: Path) -> None:
    data = raw_v1()
    del data["steps"][0]["questions"][0]["label"]
    assert _error(tmp_path, data) == "broken.yaml: steps[0].questions[0].label (stap 1, vraag 'why'): ontbreekt"


def test_missing_situation_text_names_the_situation(tmp_path: Path) -> None:
    data = raw_v1()
    del data["situations"][2]["intro"]
    assert _error(tmp_path, data) == "broken.yaml: situations[2].intro (uitgangssituatie 2): ontbreekt"


def test_bad_options_from_reference_names_its_path(tmp_path: Path) -> None:
    data = raw_v1()
    activities = data["steps"][5]["questions"][0]
    column = next(i for i, c in enumerate(activities["columns"]) if "options_from" in c)
    activities["columns"][column]["options_from"]["column"] = "nope"
    assert _error(tmp_path, data) == (
        f"broken.yaml: steps[5].questions[0].columns[{column}].options_from "
        f"(stap 6, vraag '{activities['key']}', kolom '{activities['columns'][column]['key']}'): "
        "noemt een onbekende kolom (stap 5, conversations.nope)"
    )


def test_bad_suggestion_group_names_its_path(tmp_path: Path) -> None:
    data = raw_v1()
    data["steps"][6]["questions"][0]["suggestions"]["groups"][0]["option"] = "nope"
    assert _error(tmp_path, data) == (
        "broken.yaml: steps[6].questions[0].suggestions.groups[0].option (stap 7, vraag 'action_schema', groep 1): "
        "'nope' staat niet in kolom 'theme'"
    )


def test_practice_must_name_a_column_of_its_table(tmp_path: Path) -> None:
    data = raw_v1()
    data["steps"][5]["questions"][0]["practice"]["date"] = "nope"
    assert "steps[5].questions[0].practice.date (stap 6, vraag 'activities'): moet een kolom van type date" in (
        _error(tmp_path, data)
    )


def test_explicit_null_is_refused_where_a_value_is_needed(tmp_path: Path) -> None:
    data = raw_v1()
    data["steps"][7]["questions"][1]["source"] = None
    assert _error(tmp_path, data) == (
        "broken.yaml: steps[7].questions[1].source (stap 8, vraag 'goal_progress'): mag niet leeg (null) zijn"
    )


def test_every_problem_of_a_file_is_listed(tmp_path: Path) -> None:
    data = raw_v1()
    data["steps"][0]["titel"] = "x"
    data["steps"][1]["questions"][0]["required"] = "ja"
    data["version"] = 0
    lines = _error(tmp_path, data).splitlines()
    assert lines == [
        "broken.yaml: version: moet een getal vanaf 1 zijn",
        "broken.yaml: steps[0].titel (stap 1): onbekend veld 'titel'",
        "broken.yaml: steps[1].questions[0].required (stap 2, vraag 'current_activities'): moet true of false zijn",
    ]


def test_a_file_that_is_no_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(DefinitionError, match="^broken.yaml: het bestand moet een mapping zijn$"):
        load_definition(path)


def test_a_bad_mapping_key_is_named(tmp_path: Path) -> None:
    data = raw_v1()
    data["steps"][0]["questions"][8]["scale_labels"] = {7: "Heel erg"}
    assert _error(tmp_path, data) == (
        "broken.yaml: steps[0].questions[8].scale_labels[7] (stap 1, vraag 'support'): "
        "de sleutel moet een getal tot en met 5 zijn"
    )
