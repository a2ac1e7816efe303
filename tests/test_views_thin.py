"""Views stay thin (ARCHITECTURE.md): a view parses, loads through ``access``, calls a
service and renders. It never touches the database itself: no routes module imports
SQLAlchemy or the database handle, so every read and write has a service (and every
write its audit) that a test can call without HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "stappenplan"


def _imports(module: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names |= {f"{base}.{alias.name}" if base else alias.name for alias in node.names} | {base}
    return names


def test_no_view_queries_or_writes_the_database_itself() -> None:
    routes = sorted(PACKAGE.glob("*/routes.py"))
    assert len(routes) > 10
    offenders = {}
    for module in routes:
        bad = {name for name in _imports(module)
               if name.split(".")[0] == "sqlalchemy" or name in {"extensions.db", "..extensions.db"}
               or name.endswith("extensions.db")}
        if bad:
            offenders[module.parent.name] = sorted(bad)
    assert offenders == {}
