"""Moving a partnership's answers from one plan version to the next: the rules, pure.

A plan file ``vN.yaml`` says in its ``upgrade`` section how answers of version
``from`` reach it: questions with the same key carry over as they are, ``moves`` rename,
merge or split questions, and ``retired`` questions are no longer asked (their answers
stay, readable as the old version's). Everything else would lose answers, so
``problems`` lists it and the app refuses to start (``plan_loader.load_all``).

The same rules serve three places: the preview a library admin reads before moving
(``diff``), the move itself (``step_moves``, applied by the answer store), and a new round
that starts on a newer plan than the previous one (``carried_values``). Pure Python: no
Flask, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .definition import Move, PlanDefinition, Question, Step

#: Types whose answers are free text: they may be merged into one text answer.
TEXT_TYPES = ("text", "line")


@dataclass(frozen=True)
class Changed:
    """A question asked under the same key in both versions, with different wording or form."""

    old: Question
    new: Question
    what: tuple[str, ...]  # "label", "help", "required", "options", "columns", "type"


@dataclass(frozen=True)
class MoveView:
    move: Move
    old: tuple[Question, ...]
    new: tuple[Question, ...]

    @property
    def kind(self) -> str:
        if len(self.move.sources) > 1:
            return "merged"
        if len(self.move.targets) > 1:
            return "split"
        return "renamed"


@dataclass(frozen=True)
class StepDiff:
    """What changes in one step between two versions (what the preview lists)."""

    number: int
    title: str
    added: tuple[Question, ...] = ()
    retired: tuple[Question, ...] = ()
    moved: tuple[MoveView, ...] = ()
    changed: tuple[Changed, ...] = ()
    kept: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.added or self.retired or self.moved or self.changed)


def _keys(step: Step) -> dict[str, Question]:
    return {q.key: q for q in step.questions}


def _moves(new: PlanDefinition, step: int) -> list[Move]:
    return [m for m in new.upgrade.moves if m.step == step] if new.upgrade else []


def _retired(new: PlanDefinition, step: int) -> set[str]:
    return {r.key for r in new.upgrade.retired if r.step == step} if new.upgrade else set()


def _what_changed(old: Question, new: Question) -> tuple[str, ...]:
    what = []
    for name in ("type", "label", "help", "required"):
        if getattr(old, name) != getattr(new, name):
            what.append(name)
    if old.option_keys() != new.option_keys() or [o.label for o in old.options] != [o.label for o in new.options]:
        what.append("options")
    if [(c.key, c.label, c.type) for c in old.columns] != [(c.key, c.label, c.type) for c in new.columns]:
        what.append("columns")
    return tuple(what)


def diff(old: PlanDefinition, new: PlanDefinition) -> list[StepDiff]:
    """Per step: questions added, retired, moved (renamed, merged, split) or changed."""
    result = []
    for new_step in new.steps:
        old_q = _keys(old.step(new_step.number))
        new_q = _keys(new_step)
        moves = _moves(new, new_step.number)
        moved_sources = {k for m in moves for k in m.sources}
        moved_targets = {k for m in moves for k in m.targets}
        moved = tuple(MoveView(m, tuple(old_q[k] for k in m.sources if k in old_q),
                               tuple(new_q[k] for k in m.targets if k in new_q)) for m in moves)
        added = tuple(q for k, q in new_q.items() if k not in old_q and k not in moved_targets)
        retired = tuple(q for k, q in old_q.items() if k not in new_q and k not in moved_sources)
        changed = []
        kept = []
        for key, q in new_q.items():
            if key in old_q:
                what = _what_changed(old_q[key], q)
                if what:
                    changed.append(Changed(old_q[key], q, what))
                kept.append(key)
        result.append(StepDiff(new_step.number, new_step.title, added, retired, moved, tuple(changed), tuple(kept)))
    return result


def _compatible(old: Question, new: Question) -> bool:
    """Can an answer to ``old`` stand as an answer to ``new`` without rewriting?"""
    if old.type == new.type:
        return True
    return old.type == "line" and new.type == "text"


def problems(old: PlanDefinition, new: PlanDefinition) -> list[str]:
    """Everything in ``new``'s upgrade section that would lose or break an answer of ``old``.

    Messages are Dutch (they stop the start-up of a deploy and are read by the plan's author).
    """
    name = f"v{new.version}.yaml"
    if new.upgrade is None:
        return [f"{name}: 'upgrade' ontbreekt: zeg hoe samenwerkingen van versie {old.version} overgaan"]
    found: list[str] = []
    for new_step in new.steps:
        n = new_step.number
        old_q = _keys(old.step(n))
        new_q = _keys(new_step)
        moves = _moves(new, n)
        retired = _retired(new, n)
        sources: set[str] = set()
        for move in moves:
            where = f"{name}: upgrade, stap {n}, {'/'.join(move.sources)} → {'/'.join(move.targets)}"
            unknown = [k for k in move.sources if k not in old_q]
            if unknown:
                found.append(f"{where}: onbekende vraag in versie {old.version}: {', '.join(unknown)}")
                continue
            sources.update(move.sources)
            targets = [new_q[k] for k in move.targets if k in new_q]
            olds = [old_q[k] for k in move.sources]
            if len(olds) > 1 and not all(q.type in TEXT_TYPES for q in [*olds, *targets]):
                found.append(f"{where}: alleen tekstvragen kunnen worden samengevoegd")
            elif len(olds) == 1 and not all(_compatible(olds[0], t) for t in targets):
                found.append(f"{where}: het type past niet ({olds[0].type} → "
                             f"{', '.join(t.type for t in targets)})")
            for target in targets:
                if target.key in old_q and target.key not in move.sources:
                    found.append(f"{where}: '{target.key}' bestaat al in versie {old.version}")
        for key in sorted(retired):
            if key not in old_q:
                found.append(f"{name}: upgrade, stap {n}: 'retired' noemt onbekende vraag '{key}' "
                             f"van versie {old.version}")
            elif key in new_q:
                found.append(f"{name}: upgrade, stap {n}: '{key}' staat als 'retired' maar wordt nog gevraagd")
        for key, q in old_q.items():
            if key in sources or key in retired:
                continue
            if key not in new_q:
                found.append(f"{name}: stap {n}, vraag '{key}' van versie {old.version} ontbreekt: antwoorden "
                             f"zouden verloren gaan; geef een verplaatsing (moves) of zet hem bij 'retired'")
                continue
            found.extend(_same_key_problems(f"{name}: stap {n}, vraag '{key}'", q, new_q[key]))
    return found


def _same_key_problems(where: str, old: Question, new: Question) -> list[str]:
    """A question kept under its key must still accept every old answer."""
    found = []
    if not _compatible(old, new):
        found.append(f"{where}: het type verandert ({old.type} → {new.type}); geef de vraag een nieuwe sleutel")
    if old.party is not None and new.party != old.party:
        found.append(f"{where}: wordt aan een andere partij gevraagd; antwoorden zouden onzichtbaar worden")
    lost = [k for k in old.option_keys() if k not in new.option_keys()]
    if lost and old.type == new.type:
        found.append(f"{where}: optie(s) {', '.join(lost)} verdwijnen; gekozen antwoorden zouden verloren gaan")
    new_columns = {c.key: c for c in new.columns}
    for column in old.columns:
        if column.key not in new_columns:
            found.append(f"{where}: kolom '{column.key}' verdwijnt; ingevulde cellen zouden verloren gaan")
        elif any(k not in new_columns[column.key].option_keys() for k in column.option_keys()) \
                and column.options_from is None:
            found.append(f"{where}: kolom '{column.key}' verliest opties")
    return found


def step_moves(new: PlanDefinition, step: int) -> list[Move]:
    """The moves of one step, for the answer store."""
    return _moves(new, step)


def combine(sources: Iterable[tuple[Question, Any]]) -> str | None:
    """Several text answers as one: each under its old question, so nothing reads as
    something the partners never wrote. Empty answers are left out."""
    parts = [(q, v) for q, v in sources if isinstance(v, str) and v.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0][1]
    return "\n\n".join(f"{q.label}\n{v.strip()}" for q, v in parts)


def carried_values(old: PlanDefinition, new: PlanDefinition, step: int,
                   values: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Answers of ``step`` under ``old`` as answers under ``new``: the same key where the
    question stays, moves applied; retired and unknown keys are left out. ``keys`` limits
    the result to the new version's questions that may be carried (a new round)."""
    wanted = set(keys)
    new_q = _keys(new.step(step))
    old_q = _keys(old.step(step))
    result: dict[str, Any] = {}
    for key, value in values.items():
        if key in new_q and key in old_q and key in wanted and value is not None:
            result[key] = value
    for move in _moves(new, step):
        sources = [(old_q[k], values.get(k)) for k in move.sources if k in old_q]
        value = combine(sources) if len(move.sources) > 1 else sources[0][1] if sources else None
        if value is None:
            continue
        for target in move.targets:
            if target in wanted:
                result[target] = value
    return result


def readable_old(old: PlanDefinition, new: PlanDefinition, step: int, keys: Iterable[str]) -> list[Question]:
    """Of the answer ``keys`` a step instance holds, the questions of ``old`` that ``new``
    does not ask and no move carried: shown as "uit versie N"."""
    new_q = _keys(new.step(step))
    old_q = _keys(old.step(step))
    moved = {k for m in _moves(new, step) for k in m.sources}
    return [old_q[k] for k in keys if k in old_q and k not in new_q and k not in moved]


def path(versions: Iterable[int], frm: int, to: int, upgrade_from: Mapping[int, int | None]) -> list[int]:
    """The versions a partnership passes from ``frm`` to ``to`` (each file names the one
    before it); empty when there is no way."""
    steps: list[int] = []
    current = to
    known = set(versions)
    while current != frm:
        if current not in known or upgrade_from.get(current) is None:
            return []
        steps.append(current)
        current = upgrade_from[current]  # type: ignore[assignment]
        if current < frm:
            return []
    return list(reversed(steps))
