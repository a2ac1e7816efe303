"""ARCHITECTURE.md says a view is 5-20 lines: parse arguments, load through access, call a
service, render. A longer view is a decision written down here with its reason, not drift:
a new long view fails this test until it is made short or listed."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "stappenplan"
BUDGET = 20

#: Views allowed above the budget, with why (the lines counted: the body without its docstring).
LONG_VIEWS = {
    "worksheets.table_op": "one endpoint for every row operation of a table, with and without JavaScript",
    "worksheets.save_all": "the form post without JavaScript: every field of the sheet, one outcome each",
    "organisations.change_role": "the last admin may not step down; htmx row or full page",
    "partnerships.act": "every step button: the action, its refusal with the missing questions, htmx or page",
    "worksheets.thread": "a comment thread: read, post and the mention mail choices in one form",
    "organisations.region": "a branch's region page: its request, the regions to choose from, and the form",
    "worksheets.add_suggestion": "a suggested row is added, or the refusal shown in place of the list",
    "partnerships.invite": "several addresses at once, each with its own outcome and the daily cap",
}


def _views() -> dict[str, int]:
    """Every routed function of every ``*/routes.py`` and its length in lines."""
    lengths = {}
    for module in sorted(PACKAGE.glob("*/routes.py")):
        for node in ast.parse(module.read_text()).body:
            if not isinstance(node, ast.FunctionDef) or not any(
                    isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                    and d.func.attr in ("get", "post", "route") for d in node.decorator_list):
                continue
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            lengths[f"{module.parent.name}.{node.name}"] = (body[-1].end_lineno or 0) - body[0].lineno + 1
    return lengths


def test_views_keep_to_the_line_budget_or_are_listed_with_a_reason() -> None:
    lengths = _views()
    assert len(lengths) > 60  # the parser found the views
    too_long = {name: n for name, n in lengths.items() if n > BUDGET and name not in LONG_VIEWS}
    assert too_long == {}, f"make these views shorter (a service or view model) or list them: {too_long}"
    no_longer_long = sorted(name for name in LONG_VIEWS if lengths.get(name, 0) <= BUDGET)
    assert no_longer_long == [], f"these views are short now: take them off LONG_VIEWS: {no_longer_long}"
