"""The import contracts hold, and each would notice a breach: one forbidden import is
injected per contract into a copy of the package, and every contract must then fail.
(A contract that nothing can break guards nothing.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"

#: Per contract (by the start of its name): the module that gets the import, and the import.
BREACHES = {
    "The workflow engine and the plan definition are pure": ("workflow/engine.py", "import flask"),
    "The workflow and what lies below the worksheets": ("practice/calendar.py", "from ..worksheets import models"),
    "Infrastructure": ("core/web.py", "from ..accounts import models"),
    "Notifications are reached through signals": ("organisations/services.py", "from ..notifications import models"),
    "Domain packages are layered": ("audit/services.py", "from ..activity import describe"),
    "Models know only models and infrastructure": ("worksheets/models.py", "from ..access import policy"),
    "Views are the top layer": ("plan/services.py", "from ..home import routes"),
}


def _contracts() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


def _lint(root: Path) -> str:
    done = subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)
    return done.stdout + done.stderr


def _verdicts(output: str) -> dict[str, str]:
    """Contract name (as printed, joined across wrapped lines) → KEPT or BROKEN."""
    text = " ".join(output.split())
    return {name: ("BROKEN" if re.search(re.escape(" ".join(name.split())) + r" BROKEN", text) else
                   "KEPT" if re.search(re.escape(" ".join(name.split())) + r" KEPT", text) else "?")
            for name in _contracts()}


def test_every_contract_has_a_breach_to_catch() -> None:
    names = _contracts()
    assert len(names) == len(BREACHES)
    for name in names:
        assert sum(name.startswith(prefix) for prefix in BREACHES) == 1, name


def test_the_contracts_hold_and_each_catches_its_breach(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "stappenplan", tmp_path / "stappenplan",
                    ignore=shutil.ignore_patterns("__pycache__", "translations", "*.mo", "*.po"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    clean = _verdicts(_lint(tmp_path))
    assert set(clean.values()) == {"KEPT"}, clean
    for target, line in BREACHES.values():
        module = tmp_path / "stappenplan" / target
        module.write_text(module.read_text() + f"\n{line}  # injected\n")
    broken = _verdicts(_lint(tmp_path))
    assert broken == dict.fromkeys(_contracts(), "BROKEN"), broken
