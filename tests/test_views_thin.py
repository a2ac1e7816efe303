"""Views stay thin (ARCHITECTURE.md): a view parses, loads through ``access``, calls a
service and renders. It never touches the database itself: no routes module imports
SQLAlchemy or the database handle, so every read and write has a service (and every
write its audit) that a test can call without HTTP."""

from __future__ import annotations

import ast
import re
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


TEMPLATES = PACKAGE.parent / "templates"


def _render_calls(module: Path) -> list[tuple[str, str | None]]:
    """The ``render(page, part)`` calls of a routes module whose names are literals."""
    calls = []
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "render":
            literal = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if literal:
                calls.append((literal[0], literal[1] if len(literal) > 1 else None))
    return calls


def test_one_way_to_render_pages_and_their_parts() -> None:
    """Every view answers through ``core.templating.render``: no ``render_template`` of its
    own, no blocks cut out of a page. A part answered in place of a page is a ``_*.html``
    file that the page includes, so the two cannot drift apart."""
    routes = sorted(PACKAGE.glob("*/routes.py")) + [PACKAGE / "core" / "errors_web.py"]
    other_ways = {module.parent.name: sorted(name for name in _imports(module)
                                             if name.startswith("jinja2") or "render_template" in name)
                  for module in routes}
    assert {k: v for k, v in other_ways.items() if v} == {}
    pairs = [call for module in routes for call in _render_calls(module)]
    parts = [(page, part) for page, part in pairs if part]
    assert len(pairs) > 50 and len(parts) >= 4
    for page, part in parts:
        assert Path(part).name.startswith("_"), part
        assert f'{{% include "{part}" %}}' in (TEMPLATES / page).read_text(), f"{page} does not include {part}"
    blocks = {path.relative_to(TEMPLATES).as_posix(): name
              for path in TEMPLATES.rglob("*.html")
              for name in re.findall(r"\{%-? block (\w+)", path.read_text())
              if name not in {"title", "content", "scripts", "skip_links"}}
    assert blocks == {}, "a page's parts are _*.html files it includes, not blocks rendered on their own"
