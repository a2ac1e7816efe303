"""Demo data for `flask seed-demo`: a small region that shows every role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update

from . import demo_content as content
from .accounts.models import User
from .accounts.passwords import hash_password
from .audit.models import AuditEvent
from .extensions import db, utcnow
from .notifications.models import Notification
from .organisations import services as organisations
from .organisations.models import Membership, Organisation, Region, RegionMembership
from .partnerships import services as partnership_services
from .partnerships.invitations import PartnerEntry, invite_partners
from .partnerships.models import Partnership
from .practice import services as practice
from .workflow import services as workflow
from .workflow.engine import Action
from .workflow.models import Cycle, SignOff, StepInstance
from .worksheets import comments as comment_service
from .worksheets import services as worksheets
from .worksheets.models import Answer, AnswerRevision, Comment, CommentThread

PASSWORD = "demo-stappenplan-2026"
DOMAIN = "demo.stappenplan.nl"


@dataclass
class Login:
    email: str
    role: str


LOGINS = [
    Login(f"bibliotheek@{DOMAIN}", "Bibliotheek Tiel, beheerder"),
    Login(f"taalhuis@{DOMAIN}", "Bibliotheek Tiel, lid (Taalhuis)"),
    Login(f"culemborg@{DOMAIN}", "Bibliotheek Culemborg, beheerder"),
    Login(f"opvang@{DOMAIN}", "Kinderopvang De Vlinder, beheerder"),
    Login(f"kabouterhuis@{DOMAIN}", "Kindcentrum Het Kabouterhuis, beheerder"),
    Login(f"coordinator@{DOMAIN}", "Regionale coördinator"),
    Login(f"zaltbommel@{DOMAIN}", "Bibliotheek Zaltbommel (wacht op de regio)"),
]

#: Days without activity of the demo's stalled partnership (Culemborg + De Vlinder): well
#: past the default STALLED_DAYS (30), so the coordinator's stalled list shows it.
STALLED_FOR_DAYS = 58


def logins_table() -> str:
    """The demo logins as a compact table: `make run` prints it last, just before serving."""
    width = max(len(login.role) for login in LOGINS)
    lines = [f"Demo-logins (wachtwoord voor allemaal: {PASSWORD})"]
    lines += [f"  {login.role:<{width}}  {login.email}" for login in LOGINS]
    return "\n".join(lines)


def _org(name: str, kind: str) -> Organisation:
    org = Organisation(name=name, kind=kind)
    db.session.add(org)
    return org


def _user(email: str, name: str, org: Organisation, role: str = "admin", team: str | None = None) -> User:
    user = User(email=email, name=name, password_hash=_hash(), email_confirmed_at=utcnow())
    db.session.add(user)
    db.session.add(Membership(user=user, organisation=org, role=role, team=team))
    return user


_HASH: dict[str, str] = {}


def _hash() -> str:
    if "h" not in _HASH:
        _HASH["h"] = hash_password(PASSWORD)
    return _HASH["h"]


def already_seeded() -> bool:
    return db.session.scalar(select(User.id).where(User.email == LOGINS[0].email)) is not None


def seed() -> bool:
    """Create the demo data once; False when it was already there."""
    if already_seeded():
        return False
    _HASH.clear()
    coordination = _org("Taalnetwerk Rivierenland", "coordination")
    region = Region(name="Regio Rivierenland", coordination=coordination)
    db.session.add(region)
    tiel = _org("Bibliotheek Rivierenland – vestiging Tiel", "library")
    culemborg = _org("Bibliotheek Rivierenland – vestiging Culemborg", "library")
    childcare = {
        "vlinder": _org("Kinderopvang De Vlinder", "childcare"),
        "kabouterhuis": _org("Kindcentrum Het Kabouterhuis", "childcare"),
        "hummeltje": _org("Peuteropvang Hummeltje", "childcare"),
        "zonnestraal": _org("Kinderdagverblijf Zonnestraal", "childcare"),
        "regenboog": _org("KDV De Regenboog", "childcare"),
    }
    lib_admin = _user(LOGINS[0].email, "Sanne de Vries", tiel, "admin", "jeugd")
    _user(LOGINS[1].email, "Ahmed El Amrani", tiel, "member", "taalhuis")
    cul_admin = _user(LOGINS[2].email, "Joost Bakker", culemborg, "admin", "jeugd")
    vlinder_admin = _user(LOGINS[3].email, "Fatima Yilmaz", childcare["vlinder"])
    kabouter_admin = _user(LOGINS[4].email, "Lotte Jansen", childcare["kabouterhuis"])
    _user(f"hummeltje@{DOMAIN}", "Petra Smit", childcare["hummeltje"])
    _user(f"zonnestraal@{DOMAIN}", "Noor Hendriks", childcare["zonnestraal"])
    _user(LOGINS[5].email, "Marieke Visser", coordination)
    db.session.flush()
    db.session.add(RegionMembership(region=region, library=tiel))
    db.session.add(RegionMembership(region=region, library=culemborg))
    db.session.flush()
    # A branch that asked to join: the coordinator has one request to decide.
    zaltbommel = _org("Bibliotheek Rivierenland – vestiging Zaltbommel", "library")
    zaltbommel_admin = _user(LOGINS[6].email, "Ingrid Willems", zaltbommel, "admin", "jeugd")
    db.session.flush()
    organisations.request_region(zaltbommel_admin, region)

    hummeltje_admin = db.session.scalars(select(User).where(User.email == f"hummeltje@{DOMAIN}")).one()
    zonnestraal_admin = db.session.scalars(select(User).where(User.email == f"zonnestraal@{DOMAIN}")).one()
    # These partnerships started months ago, on version 1 of the plan: their libraries can
    # move them to version 2 (the newest), and Zonnestraal's second round started on it.
    def start(library: Organisation, cc: Organisation, situation: int, actor: User) -> Partnership:
        return partnership_services.start_partnership(library, cc, situation, actor, plan_version=1)

    p1 = start(tiel, childcare["vlinder"], 2, lib_admin)
    p2 = start(tiel, childcare["kabouterhuis"], 3, lib_admin)
    p3 = start(tiel, childcare["hummeltje"], 2, lib_admin)
    p4 = start(culemborg, childcare["zonnestraal"], 2, cul_admin)
    p5 = start(culemborg, childcare["vlinder"], 1, vlinder_admin)
    db.session.flush()

    # Partnerships at different points of the plan.
    Driver(p1, lib_admin, vlinder_admin).own_steps(library_done=2, childcare_done=1)
    d2 = Driver(p2, lib_admin, kabouter_admin)
    d2.own_steps(3, 3)
    d2.fill_joint(4)
    d2.act("library", Action("sign_off", 4, "joint"))
    Driver(p3, lib_admin, hummeltje_admin).through(6, then_fill=7)
    d4 = Driver(p4, cul_admin, zonnestraal_admin)
    d4.through(8)
    d4.act("library", Action("start_new_cycle"))
    # Round 2 is under way: both look at their own steps again, with last round's answers.
    d4.act("library", Action("complete", 1, "library"))
    d4.act("childcare", Action("complete", 1, "childcare"))
    d4.act("library", Action("complete", 2, "library"))
    # Started by the childcare organisation, then nothing happened for weeks: stalled.
    Driver(p5, cul_admin, vlinder_admin).own_steps(library_done=0, childcare_done=1)
    # One invitation still open, so the invitation list is not empty.
    invite_partners(cul_admin, [PartnerEntry(f"regenboog@{DOMAIN}", "KDV De Regenboog")], 2)
    db.session.flush()
    # The demo was made in seconds; spread each partnership's history over the past months,
    # so the activity feeds, the "per month" chart and the stalled list look like real use.
    now = utcnow()
    for partnership, first, last in ((p1, 75, 2), (p2, 120, 1), (p3, 210, 4), (p4, 330, 6),
                                     (p5, 90, STALLED_FOR_DAYS)):
        spread_history(partnership, now - timedelta(days=first), now - timedelta(days=last))
    number_events_in_time_order()
    return True


def number_events_in_time_order() -> None:
    """Give the audit events ids in the order of their times.

    The activity lists read the log newest id first (an index walk, activity/describe.py),
    which in real use is newest first. The demo wrote each partnership's history in one go
    and then moved its times (``spread_history``), so without this the start page's
    "Recente activiteit" showed the partnership seeded last, not what happened last."""
    db.session.flush()
    table = cast(Table, AuditEvent.__table__)
    ids = list(db.session.scalars(select(table.c.id).order_by(table.c.created_at, table.c.id)))
    if not ids:
        return
    for event in [obj for obj in db.session.identity_map.values() if isinstance(obj, AuditEvent)]:
        db.session.expunge(event)  # its id changes below
    # First out of the way (every id above the highest), then 1..n by time: no two rows
    # ever share an id. The sequence stays where it is, above n.
    shift = max(ids)
    db.session.execute(update(table).values(id=table.c.id + shift))
    db.session.execute(update(table).where(table.c.id == bindparam("old")).values(id=bindparam("new")),
                       [{"old": old + shift, "new": new} for new, old in enumerate(ids, 1)])


def spread_history(partnership: Partnership, start: datetime, end: datetime) -> None:
    """Move the timestamps of ``partnership`` evenly into [start, end], keeping their order."""
    cycles = list(db.session.scalars(select(Cycle).where(Cycle.partnership_id == partnership.id)))
    instances = list(db.session.scalars(select(StepInstance).where(StepInstance.cycle_id.in_([c.id for c in cycles]))))
    ids = [i.id for i in instances]
    answers = list(db.session.scalars(select(Answer).where(Answer.step_instance_id.in_(ids))))
    threads = list(db.session.scalars(select(CommentThread).where(CommentThread.step_instance_id.in_(ids))))
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.partnership_id == partnership.id)))
    notifications = list(db.session.scalars(select(Notification).where(Notification.partnership_id == partnership.id)))
    rows: list[tuple[Any, tuple[str, ...]]] = [
        (partnership, ("created_at",)),
        *[(c, ("created_at", "closed_at", "last_activity_at")) for c in cycles],
        *[(i, ("opened_at", "completed_at")) for i in instances],
        *[(s, ("created_at",)) for s in db.session.scalars(select(SignOff).where(SignOff.step_instance_id.in_(ids)))],
        *[(a, ("updated_at",)) for a in answers],
        *[(r, ("created_at", "updated_at")) for r in db.session.scalars(
            select(AnswerRevision).where(AnswerRevision.answer_id.in_([a.id for a in answers])))],
        *[(t, ("created_at", "resolved_at")) for t in threads],
        *[(c, ("created_at",)) for c in db.session.scalars(
            select(Comment).where(Comment.thread_id.in_([t.id for t in threads])))],
        *[(e, ("created_at",)) for e in events],
    ]
    # By rank, not by the seconds between them: the seeding of the other partnerships
    # happened in between, and the steps should be spread evenly over the period.
    stamps = sorted({v for obj, names in rows for name in names if (v := getattr(obj, name)) is not None})
    step = (end - start) / max(len(stamps) - 1, 1)
    moved = {value: start + step * rank for rank, value in enumerate(stamps)}
    # A notification tells of an event of the log, written in the same action a moment
    # later: it gets that event's time, so "Meldingen" and "Recente activiteit" agree.
    event_stamps = sorted(e.created_at for e in events)
    for notification in notifications if event_stamps else ():
        for name in ("created_at", "read_at", "emailed_at"):
            value = getattr(notification, name)
            if value is not None:
                setattr(notification, name, moved[_nearest(event_stamps, value)])
    for obj, names in rows:
        for name in names:
            value = getattr(obj, name)
            if value is not None:
                setattr(obj, name, moved[value])
    # The newest round's last activity is the last thing that happened (a save writes it
    # at most every few minutes, so its own stamp may rank a little earlier).
    if cycles:
        max(cycles, key=lambda c: c.number).last_activity_at = end
    db.session.flush()


def _nearest(stamps: list[datetime], value: datetime) -> datetime:
    return min(stamps, key=lambda stamp: abs(stamp - value))


class Driver:
    """Moves a demo partnership through the plan with the real services."""

    def __init__(self, partnership: Partnership, library_user: User, childcare_user: User) -> None:
        self.p = partnership
        self.users = {"library": library_user, "childcare": childcare_user}

    def act(self, party: str, action: Action) -> None:
        workflow.perform(self.p, self.users[party], party, action)

    def fill(self, party: str, step: int, slot: str, answers: dict[str, object]) -> None:
        sheet = worksheets.load_sheet(self.p, party, step, slot)
        for key, value in answers.items():
            if sheet.question(key) is None:
                continue
            current = worksheets.answers_for(sheet.instance).get(key)
            outcome = worksheets.save(sheet, self.users[party], key, value, current.version if current else 0)
            assert outcome.ok, (step, key, outcome.message)

    def _personal(self, answers: dict[str, object]) -> dict[str, object]:
        return content.for_people(answers, self.users["library"].name, self.users["childcare"].name)

    def own_steps(self, library_done: int, childcare_done: int) -> None:
        for party, done in (("library", library_done), ("childcare", childcare_done)):
            for step in (1, 2, 3):
                if step <= done:
                    self.fill(party, step, party, self._personal(content.OWN[party][step]))
                    self.act(party, Action("complete", step, party))
                elif step == done + 1:
                    half = dict(list(self._personal(content.OWN[party][step]).items())[:2])
                    self.fill(party, step, party, half)
                    break

    def fill_joint(self, step: int) -> None:
        """Both organisations write: the library first, the childcare organisation adds."""
        answers = list(self._personal(content.JOINT[step]).items())
        split = max(1, len(answers) // 2)
        self.fill("library", step, "joint", dict(answers[:split]))
        self.fill("childcare", step, "joint", dict(answers[split:]))
        for c_step, key, party, text in content.COMMENTS:
            if c_step == step:
                comment_service.add_comment(worksheets.load_sheet(self.p, party, step, "joint"),
                                            self.users[party], key, text, [])

    def finish_joint(self, step: int) -> None:
        self.fill_joint(step)
        if step == 5:
            self.act("childcare", Action("complete", 5, "joint"))
        else:
            self.act("library", Action("sign_off", step, "joint"))
            self.act("childcare", Action("sign_off", step, "joint"))
        if step in (6, 7):
            self.keep_practice()

    def keep_practice(self) -> None:
        """What happened since the plan was agreed, kept as practice (not in the plan)."""
        cycle = workflow.current_cycle(self.p)
        for record in practice.records_of(self.p):
            if record.cycle_id != cycle.id or record.source_row not in content.PRACTICE or record.version > 1:
                continue
            party, fields = content.PRACTICE[record.source_row]
            outcome = practice.update(record, self.users[party], party, fields, record.version)
            assert outcome.ok, (record.source_row, outcome.errors)
        if any(r.kind == "activity" and r.cycle_id == cycle.id for r in practice.records_of(self.p)):
            note = practice.round_note(self.p, cycle)
            if not note.note:
                practice.update(note, self.users["library"], "library", {"note": content.PRACTICE_NOTE}, note.version)

    def through(self, last: int, then_fill: int | None = None) -> None:
        self.own_steps(3, 3)
        for step in range(4, last + 1):
            self.finish_joint(step)
        if then_fill:
            self.fill_joint(then_fill)
