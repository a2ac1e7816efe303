"""Eight writers, fifty saves each, one joint answer: no update is ever lost (PostgreSQL)."""

from __future__ import annotations

import html
import re
import threading

import pytest
from flask import Flask
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from stappenplan.worksheets.models import Answer, AnswerRevision
from tests.factories import PASSWORD, joint_step_writers, login

pytestmark = pytest.mark.postgres

WRITERS = 8
SAVES = 50
KEY = "target_parents"


def test_eight_writers_never_lose_an_update(world, app: Flask) -> None:
    emails = joint_step_writers(app, world, WRITERS, "schrijver")
    url = f"/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen/vraag/{KEY}"
    accepted: list[tuple[int, str, str]] = []  # (version, writer, value)
    refused: list[tuple[str, int, str]] = []  # (writer, version shown, text shown)
    lock = threading.Lock()
    errors: list[str] = []
    barrier = threading.Barrier(WRITERS)

    def writer(index: int) -> None:
        client = app.test_client()
        login(client, emails[index], PASSWORD)
        seen = 0
        barrier.wait()
        for n in range(SAVES):
            value = f"schrijver {index} bericht {n}"
            response = client.post(url, data={f"q-{KEY}": value, f"v-{KEY}": seen}, headers={"HX-Request": "true"})
            body = response.get_data(as_text=True)
            if response.status_code == 200:
                seen = int(re.search(rf'id="v-{KEY}" name="v-{KEY}" value="(\d+)"', body).group(1))
                with lock:
                    accepted.append((seen, emails[index], value))
            elif response.status_code == 409:
                base = int(re.search(r'data-theirs-version="(\d+)"', body).group(1))
                theirs = re.search(r"<h5>Hun versie</h5><div class=\"answer-text\"[^>]*>(.*?)</div>", body, re.S)
                if theirs is None:
                    errors.append(f"409 without their version: {body[:200]}")
                    continue
                with lock:
                    refused.append((emails[index], base, html.unescape(theirs.group(1))))
                seen = base  # the writer takes the current version into account, like the conflict view offers
            else:
                errors.append(f"{response.status_code}: {body[:200]}")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(accepted) + len(refused) == WRITERS * SAVES
    assert refused, "with eight writers some saves must have been stale"

    accepted.sort()
    versions = [v for v, _w, _x in accepted]
    assert versions == list(range(1, len(accepted) + 1)), "every version is exactly one accepted save"
    by_version = {v: (w, x) for v, w, x in accepted}

    with app.app_context():
        final = db.session.scalar(select(Answer).where(Answer.question == KEY))
        revisions = db.session.execute(
            select(AnswerRevision.version, User.email, AnswerRevision.value)
            .join(User, User.id == AnswerRevision.user_id)
            .where(AnswerRevision.answer_id == final.id).order_by(AnswerRevision.version)
        ).all()
    # the final value equals the last accepted save
    assert final.version == versions[-1] and final.value == accepted[-1][2]
    # nothing was written that no one sent: every revision is an accepted save, as sent
    for version, email, value in revisions:
        assert by_version[version] == (email, value)
    # every accepted save is a revision, or was folded into the same person's next save
    revision_versions = {r.version for r in revisions}
    for version, (email, _value) in by_version.items():
        v = version
        while v not in revision_versions:
            v += 1
            assert by_version[v][0] == email, f"save {version} by {email} was folded across someone else's save"
    # every refused save was shown the text that was current at that version
    for _email, base, text in refused:
        assert text == by_version[base][1], "the conflict shows what was current at the version it names"
