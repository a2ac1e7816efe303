"""The demo data and `make run`: links follow the port, the logins come last, and the
coordinator's overview has something to show (a stalled partnership, one in round 2)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from stappenplan import demo
from stappenplan.audit.models import AuditEvent
from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.notifications.models import Notification
from stappenplan.organisations.models import Organisation
from stappenplan.partnerships.models import Partnership
from stappenplan.workflow.models import Cycle, StepInstance
from tests.conftest import make_app, wipe
from tests.factories import login

ROOT = Path(__file__).resolve().parent.parent


def _coordinator_page(app: Flask, path: str = "/regio") -> str:
    client = app.test_client()
    login(client, "coordinator@demo.stappenplan.nl", demo.PASSWORD)
    response = client.get(path)
    assert response.status_code == 200
    return " ".join(response.get_data(as_text=True).split())


def test_demo_has_a_stalled_partnership_on_the_coordinators_list(app: Flask) -> None:
    with app.app_context():
        assert demo.seed()
    html = _coordinator_page(app)
    stalled = html.split('id="h-stalled"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r'<th scope="row"><a [^>]*>([^<]+)</a>', stalled)
    assert rows == ["Bibliotheek Rivierenland – vestiging Culemborg – Kinderopvang De Vlinder"]
    days = int(re.search(r"\((\d+) dagen geleden\)", stalled).group(1))
    assert demo.STALLED_FOR_DAYS <= days <= demo.STALLED_FOR_DAYS + 1  # the page counts in local time


def test_demo_has_a_partnership_in_round_two_with_progress(app: Flask) -> None:
    with app.app_context():
        demo.seed()
        cycle = db.session.scalar(
            select(Cycle).join(Partnership, Partnership.id == Cycle.partnership_id)
            .join(Organisation, Organisation.id == Partnership.childcare_id)
            .where(Organisation.name == "Kinderdagverblijf Zonnestraal").order_by(Cycle.number.desc()).limit(1))
        assert cycle.number == 2 and cycle.closed_at is None
        done = db.session.scalar(select(func.count(StepInstance.id)).where(
            StepInstance.cycle_id == cycle.id, StepInstance.status == "completed"))
        assert done == 3  # steps 1 and 2 of the library, step 1 of the childcare organisation
    assert "ronde 2" in _coordinator_page(app).lower()


def test_demo_history_is_spread_over_months(app: Flask) -> None:
    """The "completed steps per month" chart shows a course, not one point this month."""
    with app.app_context():
        demo.seed()
    html = _coordinator_page(app)
    desc = re.search(r"Lijndiagram van het aantal afgeronde stappen per maand[^<]*", html)
    assert desc
    counts = [int(n) for n in re.findall(r"\b\w+ \d{4}(?: \([^)]*\))?: (\d+)", desc.group(0))]
    assert len(counts) == 12 and sum(1 for n in counts if n) >= 4, desc.group(0)


def test_demo_invitation_links_follow_base_url(_migrated: None) -> None:
    app = make_app(MAIL_BACKEND="memory", BASE_URL="http://127.0.0.1:8123")
    try:
        assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
        with app.app_context():
            links = [link for mail in outbox() for link in re.findall(r"https?://\S+", mail.body)]
        assert links and all(link.startswith("http://127.0.0.1:8123/") for link in links)
        assert any("/uitnodiging/" in link for link in links)
    finally:
        wipe(app)


def test_seed_demo_prints_the_logins_last_and_no_mails(_migrated: None) -> None:
    app = make_app(MAIL_BACKEND="console")
    try:
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
        lines = result.output.strip().splitlines()
        assert "----- e-mail -----" not in result.output  # kept in MAIL_DIR, not printed
        assert list(Path(app.config["MAIL_DIR"]).glob("*.eml"))
        table = lines[-(len(demo.LOGINS) + 1):]
        assert table[0] == f"Demo-logins (wachtwoord voor allemaal: {demo.PASSWORD})"
        assert [row.split()[-1] for row in table[1:]] == [login.email for login in demo.LOGINS]
        assert all(len(row) <= 80 for row in table)  # fits a terminal
    finally:
        wipe(app)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_points_the_demo_links_at_its_port(tmp_path: Path) -> None:
    """`PORT=8123 make run`: the seed and the server get BASE_URL http://127.0.0.1:8123."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / ".deps").touch()
    flask = fake / "flask"
    flask.write_text('#!/bin/sh\necho "flask $* BASE_URL=$BASE_URL"\n')
    flask.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"BASE_URL", "PORT", "MAKEFLAGS"}}
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "-o", f"{fake}/.deps", "run", "PORT=8123", f"BIN={fake}"],
                         capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    assert "flask seed-demo BASE_URL=http://127.0.0.1:8123" in out
    assert "flask run --host 127.0.0.1 --port 8123 BASE_URL=http://127.0.0.1:8123" in out
    lines = out.strip().splitlines()
    assert lines[-1].startswith("flask run ")  # the server starts right after the logins (printed by seed-demo)


def test_the_start_page_shows_what_happened_last_across_the_partnerships(app: Flask) -> None:
    """The library's "Recente activiteit" reads the log newest id first; the demo moves each
    partnership's history in time after writing it, and must number the events by time."""
    with app.app_context():
        demo.seed()
        newest = db.session.execute(
            select(AuditEvent.created_at).join(Partnership, Partnership.id == AuditEvent.partnership_id)
            .join(Organisation, Organisation.id == Partnership.library_id)
            .where(Organisation.name == "Bibliotheek Rivierenland – vestiging Tiel",
                   AuditEvent.kind.like("workflow.%"))
            .order_by(AuditEvent.created_at.desc()).limit(1)).scalar_one()
    client = app.test_client()
    login(client, demo.LOGINS[0].email, demo.PASSWORD)
    html = client.get("/start").get_data(as_text=True)
    recent = html.split('id="recent"', 1)[1].split("</section>", 1)[0]
    shown = re.findall(r'<time datetime="([^"]+)Z">', recent)
    assert len(shown) == 5
    assert shown == sorted(shown, reverse=True)
    assert shown[0] >= newest.isoformat(timespec="seconds")
    # Not one partnership's history only: the three partnerships of Tiel all had news lately.
    assert len(set(re.findall(r'<span class="muted small">([^<·]+) ·', recent))) >= 2


def test_a_notification_has_the_time_of_the_event_it_tells_of(app: Flask) -> None:
    """"Stap 7 staat open" in Meldingen and in Recente activiteit: the same moment."""
    with app.app_context():
        demo.seed()
        notifications = db.session.execute(
            select(Notification.partnership_id, Notification.created_at)
            .where(Notification.partnership_id.is_not(None))).all()
        events = set(db.session.execute(select(AuditEvent.partnership_id, AuditEvent.created_at)).all())
    assert len(notifications) >= 10
    assert [n for n in notifications if tuple(n) not in events] == []


def test_each_organisations_demo_answers_name_its_own_people(app: Flask) -> None:
    """Kabouterhuis' step 3 names Kabouterhuis' contact, not De Vlinder's; the joint step 4
    names the two people of that partnership."""
    from stappenplan.workflow.services import instances_of
    from stappenplan.worksheets.models import Answer

    with app.app_context():
        demo.seed()
        values: dict[str, list[str]] = {}
        for p in db.session.scalars(select(Partnership)):
            cycle = db.session.scalar(select(Cycle).where(Cycle.partnership_id == p.id).order_by(Cycle.number.desc()))
            ids = [i.id for i in instances_of(cycle)]
            answers = db.session.scalars(select(Answer).where(Answer.step_instance_id.in_(ids))).all()
            values[p.childcare.name] = [str(a.value) for a in answers]
        kabouterhuis = " ".join(values["Kindcentrum Het Kabouterhuis"])
        assert "Lotte Jansen, locatiemanager" in kabouterhuis
        assert "Fatima" not in kabouterhuis and "Vlinders" not in kabouterhuis
        assert "Sanne en Lotte" in kabouterhuis
        assert not any("{" + placeholder in v for vs in values.values() for v in vs
                       for placeholder in ("library", "childcare"))


def test_the_demo_tells_of_past_activities_only_as_past() -> None:
    """An activity dated after today has not happened: no practice record calls it held and
    no evaluation, note or comment speaks of how it went."""
    from stappenplan import demo_content as content
    from stappenplan.extensions import local_today

    today = local_today().isoformat()
    activities = {row["id"]: row["cells"] for row in content.JOINT[6]["activities"]}
    future = {cells["activity"].lower() for cells in activities.values() if cells["date"] > today}
    assert future, "the demo keeps one activity still to come"
    for row_id, (_party, fields) in content.PRACTICE.items():
        if fields.get("status") == "held":
            assert fields["date"] <= today and activities[row_id]["date"] <= today, row_id
    looking_back = [content.JOINT[8]["parent_feedback"], content.JOINT[8]["went_well"], content.PRACTICE_NOTE]
    for text in looking_back:
        assert not any(title in text.lower() for title in future), text


def test_demo_partnerships_run_on_version_1_and_flask_plan_upgrade_moves_them_once(app: Flask) -> None:
    """The demo's partnerships started before version 2: the dry run lists each and what
    would change, the real run moves them, and a second run changes nothing. The region's
    figures show the versions in use, checked against the rounds themselves."""
    with app.app_context():
        demo.seed()
        db.session.commit()
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["plan", "upgrade", "--to", "2", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.count("zou gaan van versie 1 naar 2") == 4
    assert "Peuteropvang Hummeltje: zou gaan van versie 1 naar 2" in dry.output
    assert "stap 7: 2 antwoorden naar een nieuwe vraag (samen: recorded_where+funding → embedding)" in dry.output
    assert "Kinderdagverblijf Zonnestraal: staat al op versie 2" in dry.output  # its round 2 began on it
    assert dry.output.rstrip().endswith("4 samenwerking(en) zouden worden bijgewerkt, 2 stond(en) al op versie 2.")
    figures = _coordinator_page(app)
    assert "versie 1: 4 samenwerkingen" in figures and "versie 2: 1 samenwerking<" in figures
    real = runner.invoke(args=["plan", "upgrade"])
    assert real.output.rstrip().endswith("4 samenwerking(en) bijgewerkt, 2 stond(en) al op versie 2.")
    again = runner.invoke(args=["plan", "upgrade"])
    assert again.output.rstrip().endswith("0 samenwerking(en) bijgewerkt, 6 stond(en) al op versie 2.")
    with app.app_context():
        versions = db.session.execute(select(Cycle.number, Cycle.plan_version, Cycle.upgraded_from)
                                      .order_by(Cycle.id)).all()
        assert {(n, v) for n, v, _f in versions if n == 1 and _f == 1} and all(v == 2 for n, v, _f in versions
                                                                               if n == 2)
