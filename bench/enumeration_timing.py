"""Enumeration by timing: do known and unknown addresses take the same time?

In-process (Flask test client, no network), SQLite in a temporary file, mails into the
outbox only (as in production, where ``flask deliver`` sends them). For each form the
script alternates known and unknown addresses ``--rounds`` times and prints the median
time of each; equal medians mean the time taken does not tell whether an address has an
account.

    .venv/bin/python bench/enumeration_timing.py [--rounds 40] [--database-url postgresql://…/empty_db]

Nothing here is asserted: it is a measurement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--database-url", default="",
                        help="an empty PostgreSQL database (default: SQLite in a temporary file)")
    args = parser.parse_args()

    os.environ["TEST_DATABASE_URL"] = args.database_url or "sqlite:///" + os.path.join(tempfile.mkdtemp(), "timing.db")
    from flask_migrate import upgrade

    from tests.conftest import make_app
    from tests.factories import build_world, login

    # As in production: the request only puts mails in the outbox; the worker sends them.
    app = make_app(SQLALCHEMY_DATABASE_URI=os.environ["TEST_DATABASE_URL"], OUTBOX_INLINE=False)
    with app.app_context():
        upgrade()
    world = build_world(app)

    def timed(post, email: str) -> float:
        start = time.perf_counter()
        response = post(email)
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code in (200, 302), response.status_code
        return elapsed

    client = app.test_client()
    admin = app.test_client()
    login(admin, world.emails["lib_b"])
    forms = {
        "password reset": lambda email: client.post("/wachtwoord-vergeten", data={"email": email}),
        "registration": lambda email: client.post(
            "/registreren", data={"org_name": "Bieb", "name": "Iemand", "email": email, "team": "",
                                  "password": "lang-en-sterk-wachtwoord", "confirm": "lang-en-sterk-wachtwoord"}),
        "member invitation": lambda email: admin.post(
            "/organisatie/leden/uitnodigen", data={"email": email, "role": "member"}),
    }
    app.config["INVITATIONS_PER_DAY"] = 10 * args.rounds
    print(f"{'form':<20} {'known (ms)':>11} {'unknown (ms)':>13}   median of {args.rounds}")
    for name, post in forms.items():
        known_times, unknown_times = [], []
        for i in range(args.rounds):
            # A fresh address each time, known (an account made for this) or not: a repeat
            # within a minute is deduplicated in the outbox, for known and unknown alike.
            from stappenplan.extensions import db
            from tests.factories import make_user

            address = f"bekend-{name.split()[0]}-{i}@opvang-a.nl"
            with app.app_context():
                make_user(world_org(app, "Opvang A"), address, role="member")
                db.session.commit()
            known_times.append(timed(post, address))
            unknown_times.append(timed(post, f"onbekend-{name.split()[0]}-{i}@nergens.nl"))
        print(f"{name:<20} {statistics.median(known_times):>11.1f} {statistics.median(unknown_times):>13.1f}")


def world_org(app, name: str):
    from sqlalchemy import select

    from stappenplan.extensions import db
    from stappenplan.organisations.models import Organisation

    return db.session.scalar(select(Organisation).where(Organisation.name == name))


if __name__ == "__main__":
    main()
