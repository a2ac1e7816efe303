"""Simultaneous workflow actions on PostgreSQL: row locks make them safe."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from sqlalchemy import func, select

from stappenplan.accounts.models import User
from stappenplan.audit.models import AuditEvent
from stappenplan.demo import Driver
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow import services as workflow
from stappenplan.workflow.engine import Action, ActionRefused
from stappenplan.workflow.models import SignOff
from tests.factories import make_org, make_partnership, make_user

pytestmark = pytest.mark.postgres


def _setup(app: Flask, n: int) -> list[tuple[str, str, str]]:
    """n partnerships with step 4 filled in, ready for both sign-offs."""
    out = []
    with app.app_context():
        for i in range(n):
            lib = make_org(f"Bieb {i}", "library")
            cc = make_org(f"Opvang {i}", "childcare")
            lib_user = make_user(lib, f"bieb{i}@x.nl")
            cc_user = make_user(cc, f"opvang{i}@x.nl")
            p = make_partnership(lib, cc, lib_user)
            db.session.commit()
            d = Driver(p, lib_user, cc_user)
            d.own_steps(3, 3)
            d.fill_joint(4)
            out.append((p.public_id, lib_user.email, cc_user.email))
    return out


def _run_together(app: Flask, jobs: list) -> list[BaseException | None]:
    barrier = threading.Barrier(len(jobs))
    results: list[BaseException | None] = [None] * len(jobs)

    def worker(index: int) -> None:
        # One unit of work per worker, like one request: it commits when its context ends.
        with app.app_context():
            try:
                args = jobs[index]
                p = db.session.scalar(select(Partnership).where(Partnership.public_id == args[0]))
                user = db.session.scalar(select(User).where(User.email == args[1]))
                barrier.wait()
                workflow.perform(p, user, args[2], args[3])
            except BaseException as exc:  # reported to the test
                results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_partners_sign_off_at_the_same_moment(app: Flask) -> None:
    for pid, lib_email, cc_email in _setup(app, 5):
        sign = Action("sign_off", 4, "joint")
        results = _run_together(app, [(pid, lib_email, "library", sign), (pid, cc_email, "childcare", sign)])
        assert results == [None, None]
        with app.app_context():
            p = db.session.scalar(select(Partnership).where(Partnership.public_id == pid))
            completed = db.session.scalar(select(func.count(AuditEvent.id)).where(
                AuditEvent.partnership_id == p.id, AuditEvent.kind == "workflow.step_completed",
                AuditEvent.detail["step"].as_integer() == 4))
            assert completed == 1
            assert db.session.scalar(select(func.count(SignOff.id)).join(SignOff.instance).where(
                SignOff.instance.has(step=4))) >= 2
            state = workflow.load_state(workflow.current_cycle(p))
            assert state.get(4, "joint").status == "completed"
            assert state.get(5, "joint").status == "open"


def test_completing_twice_at_once_counts_once(app: Flask) -> None:
    with app.app_context():
        lib = make_org("Bieb", "library")
        cc = make_org("Opvang", "childcare")
        lib_user = make_user(lib, "bieb@x.nl")
        cc_user = make_user(cc, "opvang@x.nl")
        p = make_partnership(lib, cc, lib_user)
        db.session.commit()
        Driver(p, lib_user, cc_user).fill("library", 1, "library", {"why": "Daarom.", "aims": ["trust"]})
        pid = p.public_id
    complete = Action("complete", 1, "library")
    results = _run_together(app, [(pid, "bieb@x.nl", "library", complete)] * 2)
    assert sum(r is None for r in results) == 1
    assert all(r is None or isinstance(r, ActionRefused) for r in results)
    with app.app_context():
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.kind == "workflow.step_completed")) == 1
