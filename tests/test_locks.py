"""The two lock files agree: `make run` and `make test` install the same app dependencies."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _locked(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """package -> (pinned requirement, hashes), read as pip reads a hashed lock."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split("--hash=")
        name_part = re.split(r"[\[=;< ]", requirement, maxsplit=1)[0].lower()
        pins[name_part] = (requirement.strip(), frozenset(h.strip() for h in options))
    return pins


def _pinned(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()  # an environment marker is not the version
        if line and not line.startswith("-r"):
            package, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", package).lower()] = version
    return pins


def test_every_app_pin_is_in_both_locks_with_the_same_version_and_hashes() -> None:
    app, dev = _locked("requirements.lock"), _locked("requirements-dev.lock")
    assert app, "requirements.lock is empty"
    for package, (requirement, hashes) in app.items():
        assert hashes, f"{package} has no hash in requirements.lock"
        assert dev.get(package) == (requirement, hashes), package


def test_the_locks_hold_exactly_the_pinned_versions_with_their_extras() -> None:
    dev = _locked("requirements-dev.lock")
    for source in ("requirements.txt", "requirements-dev.txt"):
        for package, version in _pinned(source).items():
            requirement = dev[package][0]
            assert f"=={version}" in requirement, (package, requirement)
    # pip 23.2 refuses a hashed lock whose extras were stripped (weasyprint asks fonttools[woff])
    assert dev["fonttools"][0].startswith("fonttools[woff]==")
    assert _locked("requirements.lock")["fonttools"][0].startswith("fonttools[woff]==")
