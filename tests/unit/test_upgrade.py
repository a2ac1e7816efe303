"""The rules that move answers from one plan version to the next (``workflow.upgrade``),
and the start-up check that a plan file cannot lose answers (``plan_loader.load_all``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stappenplan.workflow import plan_loader
from stappenplan.workflow.definition import DefinitionError, PlanDefinition
from stappenplan.workflow.plan_loader import PLANS_DIR, get_definition, load_definition
from stappenplan.workflow.upgrade import carried_values, combine, diff, problems, readable_old

V1 = yaml.safe_load((PLANS_DIR / "v1.yaml").read_text(encoding="utf-8"))
V2 = yaml.safe_load((PLANS_DIR / "v2.yaml").read_text(encoding="utf-8"))


def _load(tmp_path: Path, data: dict[str, Any], name: str) -> PlanDefinition:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_definition(path)


def _questions(data: dict[str, Any], step: int) -> list[dict[str, Any]]:
    return data["steps"][step - 1]["questions"]


def test_the_shipped_version_2_loses_nothing_of_version_1() -> None:
    assert problems(get_definition(1), get_definition(2)) == []
    assert set(plan_loader.load_all()) == {1, 2}


def test_diff_names_what_version_2_adds_moves_and_retires() -> None:
    steps = {s.number: s for s in diff(get_definition(1), get_definition(2))}
    assert [q.key for q in steps[1].retired] == ["low_literacy_knowledge"]
    assert "parents_language_knowledge" in [q.key for q in steps[1].added]
    assert {q.key for q in steps[2].added} == {"taalhuis_activities", "taalhuis_ambitions"}
    assert [q.key for q in steps[3].added] == ["taalhuis_opportunities"]
    assert [q.key for q in steps[4].added] == ["parents_role"]
    assert [q.key for q in steps[5].added] == ["library_support"]
    assert [(m.kind, m.move.sources, m.move.targets) for m in steps[6].moved] == [
        ("renamed", ("taalhuis_route",), ("taalhuis_handover",))]
    assert [(m.kind, m.move.sources, m.move.targets) for m in steps[7].moved] == [
        ("merged", ("recorded_where", "funding"), ("embedding",))]
    assert [q.key for q in steps[8].added] == ["parents_role_evaluation"]
    # Reworded questions are listed as changed, not as new: their answers stay.
    assert all(c.old.key == c.new.key for s in steps.values() for c in s.changed)


def test_carried_values_rename_merge_and_leave_retired_out() -> None:
    old, new = get_definition(1), get_definition(2)
    assert carried_values(old, new, 6, {"taalhuis_route": "Samen langs", "invitation": "Brief"},
                          [q.key for q in new.step(6).questions]) == {"taalhuis_handover": "Samen langs",
                                                                      "invitation": "Brief"}
    merged = carried_values(old, new, 7, {"recorded_where": "Jaarplan", "funding": "Eigen budget"}, ["embedding"])
    assert "Jaarplan" in merged["embedding"] and "Eigen budget" in merged["embedding"]
    only_one = carried_values(old, new, 7, {"recorded_where": None, "funding": "Eigen budget"}, ["embedding"])
    assert only_one == {"embedding": "Eigen budget"}  # one answer: as it was, without a heading
    assert carried_values(old, new, 1, {"low_literacy_knowledge": "x"}, ["parents_language_knowledge"]) == {}
    assert [q.key for q in readable_old(old, new, 1, ["why", "low_literacy_knowledge"])] == ["low_literacy_knowledge"]


def test_combine_keeps_each_answer_under_its_old_question() -> None:
    step = get_definition(1).step(7)
    text = combine([(step.question("recorded_where"), "A"), (step.question("funding"), " B ")])
    assert text == f"{step.question('recorded_where').label}\nA\n\n{step.question('funding').label}\nB"
    assert combine([(step.question("funding"), "  ")]) is None


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["upgrade"]["moves"].append({"step": 6, "from": ["no_such_question"], "to": ["taalhuis_handover"]}),
     "onbekende vraag in versie 1: no_such_question"),
    (lambda d: d["upgrade"].update(retired=[]),
     "vraag 'low_literacy_knowledge' van versie 1 ontbreekt: antwoorden zouden verloren gaan"),
    (lambda d: d["upgrade"]["retired"].append({"step": 2, "key": "ambitions"}),
     "'ambitions' staat als 'retired' maar wordt nog gevraagd"),
    (lambda d: _questions(d, 2).__setitem__(
        next(i for i, q in enumerate(_questions(d, 2)) if q["key"] == "staff_skills"),
        {**next(q for q in _questions(d, 2) if q["key"] == "staff_skills"),
         "options": next(q for q in _questions(d, 2) if q["key"] == "staff_skills")["options"][1:]}),
     "verdwijnen; gekozen antwoorden zouden verloren gaan"),
    (lambda d: d.pop("upgrade"), "'upgrade' ontbreekt"),
])
def test_a_plan_file_that_would_lose_answers_is_refused(tmp_path: Path, change, message: str) -> None:
    data = copy.deepcopy(V2)
    change(data)
    new = _load(tmp_path, data, "v2.yaml")
    found = problems(get_definition(1), new)
    assert any(message in p for p in found), found


def test_a_move_to_an_unknown_question_fails_when_the_file_loads(tmp_path: Path) -> None:
    data = copy.deepcopy(V2)
    data["upgrade"]["moves"][0]["to"] = ["nowhere"]
    with pytest.raises(DefinitionError, match=r"upgrade\.moves\[0\]\.to\[0\].*onbekende vraag 'nowhere'"):
        _load(tmp_path, data, "v2.yaml")


def test_start_up_stops_on_a_bad_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``create_app`` calls ``load_all``: a plan directory with a lossy v2 does not start."""
    (tmp_path / "v1.yaml").write_text((PLANS_DIR / "v1.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    data = copy.deepcopy(V2)
    data["upgrade"]["moves"] = data["upgrade"]["moves"][:1]  # recorded_where and funding: no way any more
    (tmp_path / "v2.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(plan_loader, "PLANS_DIR", tmp_path)
    plan_loader.get_definition.cache_clear()
    try:
        with pytest.raises(DefinitionError) as failure:
            plan_loader.load_all()
        assert "stap 7, vraag 'recorded_where' van versie 1 ontbreekt" in str(failure.value)
        assert "stap 7, vraag 'funding' van versie 1 ontbreekt" in str(failure.value)
    finally:
        plan_loader.get_definition.cache_clear()


def test_a_new_required_question_is_allowed_and_a_type_change_is_not(tmp_path: Path) -> None:
    data = copy.deepcopy(V2)
    _questions(data, 4).append({"key": "parents_signed", "type": "check", "label": "Ouders tekenden mee",
                                "required": True})
    why = next(q for q in _questions(data, 1) if q["key"] == "why")
    why["type"] = "line"
    found = problems(get_definition(1), _load(tmp_path, data, "v2.yaml"))
    assert found == ["v2.yaml: stap 1, vraag 'why': het type verandert (text → line); geef de vraag een nieuwe "
                     "sleutel"]


def test_upgrade_section_in_the_schema_rejects_n_to_n(tmp_path: Path) -> None:
    data = copy.deepcopy(V2)
    data["upgrade"]["moves"].append({"step": 7, "from": ["recorded_where", "funding"],
                                     "to": ["embedding", "involve_staff"]})
    with pytest.raises(DefinitionError, match="niet n naar n"):
        _load(tmp_path, data, "v2.yaml")


def test_v1_file_is_unchanged_by_version_2() -> None:
    """Running partnerships are pinned to version 1: its file keeps every question."""
    keys = {(s["number"], q["key"]) for s in V1["steps"] for q in s["questions"]}
    assert {(1, "low_literacy_knowledge"), (6, "taalhuis_route"), (7, "recorded_where"), (7, "funding")} <= keys
    assert "upgrade" not in V1
