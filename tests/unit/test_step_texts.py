"""The step texts from the source document (subtitle, "voor wie" in plain words, tool),
the conversation label of step 5's records and the privacy check: checked like every
other field of the plan file."""

import re
from pathlib import Path

import pytest

from stappenplan.workflow.definition import DefinitionError
from stappenplan.workflow.localize import apply_overlay, overlay_problems, plan_texts
from stappenplan.workflow.plan_loader import get_definition, load_definition
from tests.unit.test_definition import raw_v1, write


def test_optional_step_texts_may_be_left_out(tmp_path: Path) -> None:
    data = raw_v1()
    for field in ("subtitle", "for_whom_note", "tool"):
        data["steps"][1].pop(field, None)
    step = load_definition(write(tmp_path, data, "v1.yaml")).step(2)
    assert step.subtitle is None and step.for_whom_note is None and step.tool is None


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("steps", 1, "subtitle"), "  ", "steps[1].subtitle (stap 2): is leeg"),
        (("steps", 0, "tool"), 3, "steps[0].tool (stap 1): moet een tekst zijn"),
        (("steps", 4, "questions", 1, "columns", 0, "privacy_check"), "ja",
         "steps[4].questions[1].columns[0].privacy_check (stap 5, vraag 'conversations', kolom 'label'): "
         "moet true of false zijn"),
        (("steps", 4, "questions", 0, "row_label"), "Gesprek",
         "steps[4].questions[0].row_label (stap 5, vraag 'approach'): 'row_label' past niet bij type 'text'"),
    ],
)
def test_wrong_step_texts_are_refused(tmp_path: Path, path: tuple, value: object, message: str) -> None:
    data = raw_v1()
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(DefinitionError, match=re.escape(message)):
        load_definition(write(tmp_path, data, "v1.yaml"))


def test_the_new_texts_are_part_of_the_translation() -> None:
    defn = get_definition(1)
    texts = plan_texts(defn)
    assert texts["steps", 5, "subtitle"] == "Ga in gesprek met ouders over hun behoefte"
    assert texts["steps", 5, "questions", "conversations", "row_label"] == "Gesprek"
    assert ("steps", 1, "subtitle") not in texts  # step 1 has no second title
    overlay = {"version": 1, "steps": {5: {"subtitle": "Talk with parents", "tool": "A guide"}}}
    assert "ontbreekt of is leeg: steps.5.for_whom_note" in overlay_problems(defn, overlay)
    english = apply_overlay(defn, overlay)
    assert english.step(5).subtitle == "Talk with parents" and english.step(5).tool == "A guide"
    assert english.step(5).for_whom_note == defn.step(5).for_whom_note  # missing: stays Dutch
    assert english.step(1).subtitle is None
