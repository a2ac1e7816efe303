"""Template helpers: filters, globals and the one renderer of pages and their parts."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from cachetools import LRUCache
from flask import Flask, current_app, render_template, request, url_for
from flask_babel import get_locale, get_timezone
from markupsafe import Markup

from ..extensions import htmx
from ..i18n import format_day, format_moment
from ..i18n import gettext as _

KIND_LABELS = {
    "library": "Bibliotheekvestiging",
    "childcare": "Kinderopvang",
    "coordination": "Regionale ondersteuning",
}


def wants_partial() -> bool:
    """The one rule for "page or partial": an htmx request asks for a part of the page,
    except boosted navigation and htmx's history restore (the Back button after the
    cache expired), which must get the whole page, like a normal visit."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(page: str, part: str | None = None, **context: Any) -> str:
    """The one way a view answers with HTML. ``page`` is a whole page; ``part`` is a
    ``_*.html`` template that the page includes, answered instead of the page when the
    request wants a part (``wants_partial``). Because the page includes the very file, the
    part and the page cannot drift. A route that only ever answers htmx passes its part
    as ``page``."""
    return render_template(part if part and wants_partial() else page, **context)


#: Rendered fragments kept per process and template (``fragment``); cleared when full.
FRAGMENT_CACHE_SIZE = 64
_FRAGMENTS_LOCK = threading.Lock()


class FragmentKeyError(RuntimeError):
    """A kept fragment differs from rendering it now (``FRAGMENT_VERIFY``): its template
    reads something that is not in its key."""


def fragment(template: str, **context: Hashable) -> Markup:
    """A partial rendered once per distinct input and then reused: for a large part of a
    page that is a pure function of ``context`` (a region's table of 400 branches).

    The cache key is the input itself - the template, the language, the time zone (the
    ``date`` filters) and every value of ``context`` (hashable, compared for equality on a
    hit) - so a hit returns exactly what rendering would. The template may therefore read
    nothing but ``context``: no ``current_user``, ``request``, ``csrf_token()`` or
    ``url_for`` (pass a URL in).

    With ``FRAGMENT_VERIFY`` (the test suite) every hit is also rendered anew and must be
    equal, so every test that shows a kept fragment checks that its key covers it."""
    key = (template, str(get_locale()), get_timezone(), tuple(sorted(context.items())))
    # One bounded store per template: the dashboard's many matrix pages must not push out
    # the one branch table of a large region.
    stores: dict[str, LRUCache[Any, Markup]] = current_app.extensions.setdefault("fragments", {})
    with _FRAGMENTS_LOCK:  # cachetools' caches are not thread-safe themselves
        cache = stores.setdefault(template, LRUCache(maxsize=FRAGMENT_CACHE_SIZE))
        html = cache.get(key)
    if html is not None and current_app.config.get("FRAGMENT_VERIFY"):
        fresh = render_template(template, **context)
        if fresh != html:  # the key misses something the template reads
            raise FragmentKeyError(f"{template}: a kept copy differs from rendering it now")
    if html is None:
        html = Markup(render_template(template, **context))
        with _FRAGMENTS_LOCK:
            cache[key] = html
    return html


def _static_url(filename: str) -> str:
    """Static URL with a version query so browsers may cache it for long."""
    return url_for("static", filename=filename, v=static_version(current_app))


def static_version(app: Flask) -> str:
    """A digest of the static files, worked out once per process (see warm)."""
    version = app.config.get("STATIC_VERSION")
    if version is None:
        import hashlib
        from pathlib import Path

        digest = hashlib.sha1()
        root = Path(app.static_folder or "")
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest.update(path.read_bytes())
        version = digest.hexdigest()[:10]
        app.config["STATIC_VERSION"] = version
    return str(version)


def warm(app: Flask) -> int:
    """Compile every template and work out the static files' version now, in gunicorn's
    master before it forks the workers (``when_ready`` in gunicorn.conf.py): every worker -
    also each one recycled after ``max_requests`` - then starts with them, instead of
    spending ~1 s of CPU on compiling during its first requests. Returns how many
    templates were compiled."""
    env = app.jinja_env
    names = [name for name in env.list_templates() if name.endswith((".html", ".txt"))]
    for name in names:
        env.get_template(name)
    static_version(app)
    return len(names)


def register(app: Flask, domain_globals: dict[str, Any]) -> None:
    """Filters and globals of every template. ``domain_globals`` (the worksheets' field
    names and display helpers, the slot slugs) come from the app factory: core knows no
    domain package."""
    app.jinja_env.filters["date"] = format_day
    app.jinja_env.filters["datetime"] = format_moment
    app.jinja_env.globals.update(domain_globals)
    app.jinja_env.globals["static_url"] = _static_url
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True


    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "kind_label": lambda kind: _(KIND_LABELS.get(kind, kind or "")),
            "current_path": request.path,
        }
