"""Small helpers for views."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import request
from sqlalchemy import Select


def safe_next(default: str) -> str:
    """The ``next`` parameter when it is a local path; never another site."""
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and "\\" not in target:
        return target
    return default


#: Where links in e-mails point when ``BASE_URL`` is not set: development and tests only,
#: production refuses to start without ``BASE_URL`` (``stappenplan._check_production``).
DEFAULT_BASE_URL = "http://127.0.0.1:5000"


def base_url() -> str:
    """The configured site address without a trailing slash (or the development default)."""
    from flask import current_app

    return (current_app.config.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the site's address, or None: an http(s) URL with a host and at
    most a path prefix."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"BASE_URL must be the site's address, like https://stappenplan.example.nl (not {url!r})"
    if parts.query or parts.fragment or parts.username or parts.password:
        return f"BASE_URL must not have a query, fragment or user name (not {url!r})"
    return None


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for e-mails, inside or outside a request (CLI, cron, outbox).

    Always under ``BASE_URL``, never the request's ``Host`` or ``X-Forwarded-Host``: a
    forged header would otherwise put a genuine reset or invitation token in a link to
    another site. No request context is pushed, so the current request is left alone.
    """
    from flask import current_app

    parts = urlsplit(base_url())
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    current_app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)


# --- query arguments: typed and bounded, in one place ------------------------------------------

#: The largest page number any list accepts (more pages than that do not exist).
MAX_PAGE = 100_000


def parse_int(raw: str | None, default: int | None, *, lo: int, hi: int) -> int | None:
    """A whole number within ``[lo, hi]``; anything else (text, "²" — a digit to Python's
    ``isdigit`` but not to ``int`` —, 30 digits, a NUL byte) is ``default``, never an error."""
    text = (raw or "").strip()
    if not text or len(text) > 12 or not (text.isascii() and text.lstrip("-").isdigit()):
        return default
    value = int(text)
    return value if lo <= value <= hi else default


def int_arg(name: str, default: int | None, *, lo: int, hi: int) -> int | None:
    """``parse_int`` of one query argument."""
    return parse_int(request.args.get(name), default, lo=lo, hi=hi)


def page_arg(name: str = "pagina") -> int:
    return int_arg(name, 1, lo=1, hi=MAX_PAGE) or 1


def choice_arg(name: str, choices: Iterable[str], default: str = "") -> str:
    raw = request.args.get(name, "")
    return raw if raw in set(choices) else default


def text_arg(name: str, max_length: int = 100) -> str:
    """Free text (a search): one line, control characters dropped, at most ``max_length``."""
    raw = request.args.get(name, "")
    return " ".join(CONTROL.sub(" ", raw).split())[:max_length]


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


# --- pagination: one helper, one macro (templates/_macros.html: pager) --------------------------


@dataclass
class Page:
    items: list[Any]
    page: int
    pages: int
    total: int

    def window(self, size: int = 2) -> list[int | None]:
        return page_window(self.page, self.pages, size)


def page_window(page: int, pages: int, size: int = 2) -> list[int | None]:
    """Page numbers to link, with None for a gap: 1 … 4 5 [6] 7 8 … 21."""
    shown = {1, pages, *range(max(1, page - size), min(pages, page + size) + 1)}
    result: list[int | None] = []
    previous = 0
    for number in sorted(shown):
        if number - previous > 1:
            result.append(None)
        result.append(number)
        previous = number
    return result


def paginate(stmt: Select, page: int, per_page: int) -> Page:
    """One page of ``stmt`` (objects, or rows when it selects several columns); a page
    past the end shows the last page (never a 404). Two statements: count and page."""
    from sqlalchemy import func, select

    from ..extensions import db

    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    result = db.session.execute(stmt.offset((page - 1) * per_page).limit(per_page))
    items = list(result.scalars()) if len(stmt.column_descriptions) == 1 else list(result.all())
    return Page(items=items, page=page, pages=pages, total=total)
