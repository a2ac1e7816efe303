"""What the building blocks of a request cost in this app, in-process: the floor under
any page or save, whatever is cached.

Adds a few measuring views to an app instance of its own (never to the real app) and
times them through the Flask test client as the demo library admin, on the data of
``bench/feed.py`` or ``bench/overviews.py`` (run one of them first, or pass ``--load``):

* ``bare``: ``/healthz`` - no session, no database;
* ``login``: a ``@policy("login")`` view that returns the user's name - the session,
  the user loader's statement, the access check, the commit;
* ``+ ORM read`` / ``+ 5 Core reads`` / ``+ write``: the same plus statements;
* ``+ layout``: the same plus ``base.html`` around an empty page (the navigation and
  the unread-notification count every page shows).

Prints the median CPU time of this process per request (the database's own CPU is not
included) and the statements per request.

    .venv/bin/python bench/floor.py [--database-url URL] [--requests 500] [--load]

With ``--load`` the database's ``public`` schema is dropped and re-created: never point it
at data you want to keep.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from feed import timed  # noqa: E402
from flask import render_template  # noqa: E402
from flask_login import current_user  # noqa: E402
from overviews import LIBRARY_ADMIN, client_for, ensure_database, load, make_app  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from config import normalise_database_url  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/stappenplan_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--load", action="store_true", help="load the demo plus 100 partnerships first")
    args = parser.parse_args(argv)

    url = normalise_database_url(args.database_url)
    ensure_database(url)
    app = make_app(url)
    if args.load:
        load(app, 100)

    from stappenplan.access import policy
    from stappenplan.extensions import db
    from stappenplan.partnerships.models import Partnership

    empty_page = app.jinja_env.from_string("{% extends 'base.html' %}{% block content %}-{% endblock %}")

    @policy("login")
    def floor_login() -> str:
        return str(current_user.name)

    @policy("login")
    def floor_orm_read() -> str:
        return str(db.session.scalar(select(Partnership).limit(1)) is not None)

    @policy("login")
    def floor_core_reads() -> str:
        return str(sum(db.session.execute(text("SELECT 1")).scalar_one() for _ in range(5)))

    @policy("login")
    def floor_write() -> str:
        db.session.execute(text("UPDATE users SET locale = locale WHERE id = :id"), {"id": current_user.id})
        return "ok"

    @policy("login")
    def floor_layout() -> str:
        return render_template(empty_page)

    views = {"login": floor_login, "+ ORM read": floor_orm_read, "+ 5 Core reads": floor_core_reads,
             "+ write": floor_write, "+ layout": floor_layout}
    for view in views.values():
        app.add_url_rule(f"/_floor/{view.__name__}", view.__name__, view)

    with app.app_context():
        engine = db.engine
    client = client_for(app, LIBRARY_ADMIN)
    print(f"{'request':<16} {'CPU ms':>7} {'statements':>11}")
    for name, path in [("bare", "/healthz"), *((n, f"/_floor/{v.__name__}") for n, v in views.items())]:
        status: list[int] = []
        _times, statements, cpu = timed(engine, args.requests, 50,
                                        lambda path=path, status=status: status.append(client.get(path).status_code))
        if set(status) != {200}:
            raise SystemExit(f"{path}: {sorted(set(status))}")
        print(f"{name:<16} {statistics.median(cpu):>7.2f} {round(statistics.median(statements)):>11}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
