"""Partners add table rows at the same moment: every add is answered and kept, on
SQLite (the embedded default) as on PostgreSQL.

On SQLite a savepoint used to begin a deferred transaction: the request read, another
request committed, and the first write was refused at once ("database is locked", a 503
that replaced the table in the browser). ``uow`` now begins with ``BEGIN IMMEDIATE``."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import select

from stappenplan.extensions import db
from stappenplan.worksheets.models import Answer
from tests.factories import PASSWORD, joint_step_writers, login

WRITERS = 4
ADDS = 8
KEY = "shared_goals"


def test_rows_added_at_the_same_moment_are_all_kept(world, app: Flask) -> None:
    emails = joint_step_writers(app, world, WRITERS, "rijen")
    url = f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen/vraag/{KEY}/tabel"
    answered: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(WRITERS)

    def writer(index: int) -> None:
        client = app.test_client()
        login(client, emails[index], PASSWORD)
        barrier.wait()
        for _ in range(ADDS):
            # Every add is based on the version the writer first saw (0): added rows merge.
            response = client.post(url, data={"op": "add", f"v-{KEY}": "0"}, headers={"HX-Request": "true"})
            with lock:
                answered.append(response.status_code)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert answered == [200] * (WRITERS * ADDS)
    with app.app_context():
        answer = db.session.scalar(select(Answer).where(Answer.question == KEY))
        assert len(answer.value) == WRITERS * ADDS
        assert len({row["id"] for row in answer.value}) == WRITERS * ADDS
