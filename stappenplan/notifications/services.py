"""Who hears about what, and how: one module, so preferences apply everywhere.

In-app notifications are always made; the user's choice per kind decides the
email: right away ("direct"), once a day in a digest ("digest"), or not ("off").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, Subquery, bindparam, func, insert, or_, select, update

from .. import rls
from ..accounts.models import User
from ..audit.services import record as audit
from ..core.web import Page, external_url, paginate
from ..extensions import db, local_today, new_public_id, utcnow
from ..i18n import Msg, render
from ..organisations.models import Membership, RegionRequest
from ..outbox import services as outbox
from ..outbox.services import mail_template
from ..partnerships.models import Partnership
from ..practice.models import PracticeRecord, ReminderMark
from ..workflow.definition import N_
from ..workflow.models import Cycle, StepInstance
from ..worksheets.display import format_date
from ..worksheets.models import Answer
from .models import KINDS, MODES, Notification, NotificationPreference

if TYPE_CHECKING:
    from ..workflow.engine import Event
    from ..worksheets.services import Sheet

KIND_LABELS = {
    "step_opened": "Een stap gaat open voor jullie organisatie, of het stappenplan krijgt een nieuwe versie",
    "signoff": "Je partner keurt een stap goed of vraagt om jullie goedkeuring",
    "mention": "Iemand noemt je in een opmerking",
    "comment": "Je partner plaatst een opmerking bij een gezamenlijke stap",
    "reminder": "Herinneringen uit de praktijk: acties, activiteiten en evaluatiemomenten",
    "region": "Aanvragen om mee te doen in een regio, en de beslissing daarover",
}
#: The kinds an organisation of each kind can get, so its people are asked only about
#: those (a childcare organisation never joins a region; a coordinator works on no step).
KINDS_FOR = {
    "library": ("step_opened", "signoff", "mention", "comment", "reminder", "region"),
    "childcare": ("step_opened", "signoff", "mention", "comment", "reminder"),
    "coordination": ("region",),
}
PARTY_NAME = {"library": N_("de bibliotheek"), "childcare": N_("de kinderopvang")}
PARTY_TITLE = {"library": N_("De bibliotheek"), "childcare": N_("De kinderopvang")}
SLUGS = {"library": "bibliotheek", "childcare": "kinderopvang", "joint": "samen"}
#: Step 8's table of evaluation moments (dates the reminders and calendars announce).
EVALUATION_STEP, EVALUATION_QUESTION = 8, "evaluation_moments"


#: The e-mail choice of a kind nobody chose for yet ("direct" otherwise): a partner's every
#: comment by mail right away would bury the rest, so once a day.
DEFAULT_MODES = {"comment": "digest"}


def preferences(user: User) -> dict[str, str]:
    stored = dict(db.session.execute(
        select(NotificationPreference.kind, NotificationPreference.mode)
        .where(NotificationPreference.user_id == user.id)
    ).all())
    return {kind: stored.get(kind, DEFAULT_MODES.get(kind, "direct")) for kind in KINDS}


def labels_for(user: User) -> dict[str, str]:
    """The e-mail choices worth asking this user about, with their labels."""
    kinds = KINDS_FOR.get(user.organisation.kind if user.organisation else "", tuple(KIND_LABELS))
    return {kind: label for kind, label in KIND_LABELS.items() if kind in kinds}


def set_preferences(user: User, choices: dict[str, str]) -> None:
    existing = {p.kind: p for p in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user.id))}
    for kind, mode in choices.items():
        if kind not in KINDS or mode not in MODES:
            continue
        if kind in existing:
            existing[kind].mode = mode
        else:
            db.session.add(NotificationPreference(user_id=user.id, kind=kind, mode=mode))
    db.session.flush()


def _members(org_ids: Iterable[int], exclude: int | None = None) -> list[User]:
    users = db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id.in_(list(org_ids)))
    ).all()
    return [u for u in users if u.id != exclude]


def notify(users: Iterable[User], kind: str, *, partnership: Partnership | None, title: Msg | str, body: Msg | str,
           link: str, dedupe_key: str | None = None) -> list[Notification]:
    """Add notifications to the current transaction (skipping ones already made).

    ``title`` and ``body`` are kept as source text and parameters, so each reader sees
    them in their own language; a "direct" one also goes into the outbox as an e-mail.
    """
    users = list(users)
    modes = _modes([u.id for u in users], kind)
    message = {part: text.to_json() if isinstance(text, Msg) else text for part, text in (("title", title),
                                                                                         ("body", body))}
    # A constant number of statements, whatever the number of people (a comment tells a
    # whole organisation): one to skip those who have it already, one to insert the rest.
    done = set(db.session.scalars(select(Notification.user_id).where(
        Notification.user_id.in_([u.id for u in users]), Notification.dedupe_key == dedupe_key))) \
        if dedupe_key and users else set()
    rows = [dict(user_id=user.id, partnership_id=partnership.id if partnership else None, kind=kind,
                 title=str(title)[:300], body=str(body), message=message, link=link[:500], dedupe_key=dedupe_key,
                 mode=modes.get(user.id, DEFAULT_MODES.get(kind, "direct")))
            for user in users if user.id not in done]
    if not rows:
        return []
    made = list(db.session.scalars(insert(Notification).returning(Notification), rows))
    by_user = {user.id: user for user in users}
    for note in made:
        user = by_user[note.user_id]
        if note.mode == "direct":
            outbox.enqueue("notification", user.email, {"notification": note.id}, dedupe_key=f"notification:{note.id}",
                           locale=user.locale, user_id=user.id, organisation_id=_organisation_of(user))
    return made


def _organisation_of(user: User) -> int | None:
    return user.membership.organisation_id if user.membership is not None else None


def _modes(user_ids: list[int], kind: str) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(db.session.execute(
        select(NotificationPreference.user_id, NotificationPreference.mode)
        .where(NotificationPreference.user_id.in_(user_ids), NotificationPreference.kind == kind)
    ).all())


@mail_template("notification")
def _notification_mail(params: dict[str, Any]) -> tuple[str, str]:
    """A notification by e-mail, in the recipient's language (rendered at delivery;
    text: templates/mail/notification.txt)."""
    note = db.session.get(Notification, params["notification"])
    if note is None:
        raise LookupError("the notification was removed")
    user = db.session.get(User, note.user_id)
    note.emailed_at = note.emailed_at or utcnow()
    title, body = shown(note)
    return outbox.render("notification", name=user.name if user else "", title=title, body=body, link=note.link)


def shown(note: Notification) -> tuple[str, str]:
    """Title and body in the reader's language (older notifications: as they were stored)."""
    message = note.message or {}
    if "title" in message:
        return render(message["title"]), render(message.get("body"))
    return note.title, note.body


# --- triggers --------------------------------------------------------------------------------


def for_events(partnership: Partnership, events: list[Event], actor: User, party: str) -> list[Notification]:
    """Notifications for workflow transitions (same transaction as the transition)."""
    made: list[Notification] = []
    completed = {e.step for e in events if e.kind == "step_completed"}
    org_of = {"library": partnership.library_id, "childcare": partnership.childcare_id}
    # What a completed step asked of people ("Stap N staat open", "… wacht op jullie
    # goedkeuring") is done: no longer new for anyone.
    settle(keys=[f"opened:{partnership.id}:{e.step}:{e.slot}:{_cycle(e)}" for e in events
                 if e.kind == "step_completed"],
           prefixes=[prefix for e in events if e.kind == "step_completed"
                     for prefix in (_signoff_key(partnership, e), _comment_key(partnership.id, _cycle(e), e.step))])
    for event in events:
        if event.kind == "step_opened" and event.step is not None:
            orgs = [org_of[event.slot]] if event.slot in org_of else list(org_of.values())
            link = external_url("worksheets.show", partnership_id=partnership.public_id, step=event.step,
                                slot=SLUGS.get(event.slot or "joint", "samen"))
            made += notify(
                _members(orgs, exclude=actor.id), "step_opened", partnership=partnership,
                title=Msg(N_("Stap %(n)d staat open: %(p)s"), n=event.step, p=_pair(partnership)),
                body=Msg(N_("Jullie kunnen verder met stap %(n)d van het stappenplan."), n=event.step),
                link=link, dedupe_key=f"opened:{partnership.id}:{event.step}:{event.slot}:{_cycle(event)}",
            )
        elif event.kind == "signed_off" and event.step not in completed:
            other = "childcare" if event.party == "library" else "library"
            link = external_url("partnerships.show", partnership_id=partnership.public_id) + f"#stap-{event.step}"
            made += notify(
                _members([org_of[other]]), "signoff", partnership=partnership,
                title=Msg(N_("%(who)s keurde stap %(n)d goed"), who=Msg(PARTY_TITLE[event.party]), n=event.step),
                body=Msg(N_("%(name)s keurde stap %(n)d goed. Nu wacht de stap op jullie goedkeuring."),
                         name=actor.name, n=event.step),
                link=link, dedupe_key=_signoff_key(partnership, event) + new_public_id(),
            )
        elif event.kind == "sign_off_withdrawn" and (event.detail or {}).get("reason") == "edit":
            # An edit voided the other organisation's approval: they must look again.
            signer = (event.detail or {}).get("signoff_party")
            if signer in org_of and signer != party:
                link = external_url("worksheets.show", partnership_id=partnership.public_id, step=event.step,
                                    slot="samen")
                made += notify(
                    _members([org_of[signer]]), "signoff", partnership=partnership,
                    title=Msg(N_("Jullie goedkeuring van stap %(n)d is vervallen"), n=event.step),
                    body=Msg(N_("%(name)s (%(who)s) heeft stap %(n)d gewijzigd nadat jullie die hadden "
                                "goedgekeurd. Bekijk de wijziging en keur de stap opnieuw goed."),
                             name=actor.name, who=Msg(PARTY_NAME[party]), n=event.step),
                    link=link, dedupe_key=_signoff_key(partnership, event) + new_public_id(),
                )
    return made


def _cycle(event: Event) -> Any:
    return (event.detail or {}).get("cycle", "")


def _signoff_key(partnership: Partnership, event: Event) -> str:
    """The start of the key of every approval notification of one step in one round: the
    step's completion settles them all (each gets a unique end, so none is skipped)."""
    return f"signoff:{partnership.id}:{_cycle(event)}:{event.step}:"


def _comment_key(partnership_id: int, cycle: Any, step: int | None) -> str:
    """The start of the key of every comment notification of one step in one round: news
    about a step's discussion is old once the step is completed."""
    return f"comment:{partnership_id}:{cycle}:{step}:"


def settle(*, keys: Iterable[str] = (), prefixes: Iterable[str] = ()) -> None:
    """Notifications whose question has been answered - the step completed, the request
    decided - are no longer new for anyone (read now; they stay in the list). A write for
    other people's notifications: the system's, not the user's scope."""
    keys, prefixes = list(keys), list(prefixes)
    if not keys and not prefixes:
        return
    answered: list[ColumnElement[bool]] = [Notification.dedupe_key.in_(keys)] if keys else []
    answered += [Notification.dedupe_key.startswith(prefix, autoescape=True) for prefix in prefixes]
    with rls.system_write():
        db.session.execute(update(Notification).where(Notification.read_at.is_(None), or_(*answered))
                           .values(read_at=utcnow()).execution_options(synchronize_session=False))


def _pair(p: Partnership) -> str:
    return f"{p.library.name} & {p.childcare.name}"


def on_mention(sheet: Sheet, *, person: User, author: User, key: str, body: str) -> None:
    mentioned(person, author, sheet, key, body)


def on_comment(sheet: Sheet, *, comment: Any, author: User, key: str, body: str,
               mentioned: list[User]) -> None:
    commented(sheet, comment, author, key, body, mentioned)


def on_workflow_events(partnership: Partnership, *, events: list[Event], actor: User, party: str) -> None:
    for_events(partnership, events, actor, party)


def on_plan_upgraded(partnership: Partnership, *, actor: User | None, from_version: int, to_version: int) -> None:
    """The library moved the partnership to a newer plan: the childcare organisation hears
    of it (the library's other members too), with a link to what changed."""
    body = Msg(N_("%(name)s heeft jullie samenwerking bijgewerkt naar versie %(new)d van het stappenplan. "
                  "Alle antwoorden zijn bewaard. Lees wat er veranderde."),
               name=actor.name if actor else Msg(N_("De beheerder")), new=to_version)
    notify(_members([partnership.childcare_id, partnership.library_id], exclude=actor.id if actor else None),
           "step_opened", partnership=partnership,
           title=Msg(N_("Het stappenplan is bijgewerkt naar versie %(new)d: %(pair)s"), new=to_version,
                     pair=_pair(partnership)),
           body=body, link=external_url("plan.upgrade", partnership_id=partnership.public_id),
           dedupe_key=f"plan-upgraded:{partnership.id}:{to_version}")


def on_region_reminder(partnership: Partnership, *, coordinator: User, organisation: Any, message: str,
                        reminder_id: int) -> None:
    """A coordinator reminds a stalled partnership: the admins of both organisations hear it."""
    admins = [u for u in _members([partnership.library_id, partnership.childcare_id])
              if u.membership is not None and u.membership.role == "admin"]
    body = (Msg(N_("%(name)s van %(region)s ziet dat er al een tijd niets is gebeurd in jullie samenwerking. "
                   "Kunnen jullie verder met het stappenplan? Lukt het niet, neem dan contact op met "
                   "%(name)s.\n\nBericht: \"%(message)s\""),
                name=coordinator.name, region=organisation.name, message=message) if message else
            Msg(N_("%(name)s van %(region)s ziet dat er al een tijd niets is gebeurd in jullie samenwerking. "
                   "Kunnen jullie verder met het stappenplan? Lukt het niet, neem dan contact op met "
                   "%(name)s."), name=coordinator.name, region=organisation.name))
    with rls.system_write():  # a coordinator scope writes no notifications for other organisations
        notify(admins, "reminder", partnership=partnership,
               title=Msg(N_("Herinnering van %(region)s: %(pair)s"), region=organisation.name,
                         pair=_pair(partnership)),
               body=body, link=external_url("partnerships.show", partnership_id=partnership.public_id),
               dedupe_key=f"region-reminder:{reminder_id}")


def on_region_request(request: RegionRequest, *, event: str, actor: User) -> None:
    region_request(request, event, actor)


def region_request(request: RegionRequest, event: str, actor: User) -> list[Notification]:
    """A branch asked to join a region (its coordinators hear of it), or a coordinator
    decided (the branch's members hear of it). Same transaction as the request or decision."""
    branch, region = request.library.name, request.region.name
    if event == "requested":
        return notify(
            _members([request.region.coordination_id]), "region", partnership=None,
            title=Msg(N_("%(branch)s vraagt om mee te doen in %(region)s"), branch=branch, region=region),
            # No person's name: the notification outlives an account; the request page names who asked.
            body=Msg(N_("De bibliotheekvestiging %(branch)s wil meedoen in %(region)s. Tot jullie de aanvraag "
                        "aannemen, zien jullie niets van haar samenwerkingen."), branch=branch, region=region),
            link=external_url("coordination.requests") + f"#aanvraag-{request.public_id}",
            dedupe_key=f"region-request:{request.id}",
        )
    if event in ("accepted", "declined", "withdrawn"):
        settle(keys=[f"region-request:{request.id}"])  # the coordinators' question is answered
    if event in ("accepted", "declined"):
        accepted = event == "accepted"
        with rls.system_write():  # the coordinator's decision, told to the branch's people
            return notify(
                _members([request.library_id]), "region", partnership=None,
                title=(Msg(N_("Je vestiging doet nu mee in %(region)s"), region=region) if accepted
                       else Msg(N_("Je aanvraag voor %(region)s is afgewezen"), region=region)),
                body=(Msg(N_("De regionale ondersteuning heeft de aanvraag aangenomen. Zij kan nu de voortgang van "
                             "jullie samenwerkingen zien, maar niets wijzigen.")) if accepted
                      else Msg(N_("De regionale ondersteuning heeft de aanvraag afgewezen. Je vestiging doet niet mee "
                                  "in de regio. Heb je vragen? Neem dan contact op met de regionale ondersteuning."))),
                link=external_url("organisations.region"),
                dedupe_key=f"region-request:{request.id}:{event}",
            )
    return []


def mentioned(person: User, author: User, sheet: Sheet, key: str, body: str) -> None:
    """Someone named ``person`` in a comment (in the comment's transaction)."""
    question = sheet.question(key)
    link = external_url("worksheets.show", partnership_id=sheet.partnership.public_id,
                        step=sheet.step.number, slot=SLUGS[sheet.instance.slot]) + f"#vraag-{key}"
    notify(
        [person], "mention", partnership=sheet.partnership,
        title=Msg(N_("%(name)s noemde je bij stap %(n)d"), name=author.name, n=sheet.step.number),
        body=Msg(N_("Bij de vraag \"%(q)s\":\n\n\"%(text)s\""), q=question.label if question else key,
                 text=body[:500]),
        link=link,
    )


def commented(sheet: Sheet, comment: Any, author: User, key: str, body: str,
              mentioned: list[User]) -> list[Notification]:
    """A comment on a step both organisations share: the partner organisation's people hear
    of it in the app (mail per their choice for "comment"), except those it names, who have
    the mention notification already. Own steps (1-3) stay within the organisation; the
    step's completion settles these notifications."""
    if sheet.step.mode == "each" or sheet.party not in ("library", "childcare"):
        return []
    p = sheet.partnership
    partner = p.childcare_id if sheet.party == "library" else p.library_id
    named = {u.id for u in mentioned}
    question = sheet.question(key)
    label = question.label if question else key
    link = external_url("worksheets.show", partnership_id=p.public_id, step=sheet.step.number,
                        slot=SLUGS[sheet.instance.slot]) + f"#vraag-{key}"
    return notify(
        [u for u in _members([partner], exclude=author.id) if u.id not in named], "comment", partnership=p,
        title=Msg(N_("%(name)s plaatste een opmerking bij stap %(n)d: %(q)s"), name=author.name,
                  n=sheet.step.number, q=label),
        body=Msg(N_("Bij de vraag \"%(q)s\":\n\n\"%(text)s\""), q=label, text=body[:500]),
        link=link, dedupe_key=_comment_key(p.id, sheet.cycle.number, sheet.step.number) + str(comment.id),
    )


# --- scheduled: reminders and digests -------------------------------------------------------------


#: Actions and evaluation moments are announced this many days ahead.
REMINDER_DAYS = 7
#: One item is brought up at most once in this many days (ReminderMark).
REMIND_EVERY = timedelta(days=7)


def due_reminders(today: date | None = None, days: int = REMINDER_DAYS) -> int:
    """The year's rhythm, for the people of both organisations of each partnership (its
    newest round, also once that round is closed): actions due within ``days`` days or
    overdue, activities whose date passed without being marked, and step 8's evaluation
    moments within ``days`` days. In the app, and by e-mail as each person chose (direct,
    daily or weekly overview); never more than once a week per item, however often it runs.
    """
    today = today or local_today()
    horizon = today + timedelta(days=days)
    items = [*_practice_items(today, horizon), *_evaluation_items(today, horizon)]
    if not items:
        return 0
    marks = dict(db.session.execute(select(ReminderMark.key, ReminderMark.sent_on)
                                    .where(ReminderMark.key.in_([i.key for i in items]))).all())
    due = [i for i in items if marks.get(i.key) is None or today - marks[i.key] >= REMIND_EVERY]
    if not due:
        return 0
    partnerships = {p.id: p for p in db.session.scalars(
        select(Partnership).where(Partnership.id.in_({i.partnership_id for i in due})))}
    people = _people_of({org for p in partnerships.values() for org in (p.library_id, p.childcare_id)})
    made: list[Notification] = []
    for item in due:
        p = partnerships[item.partnership_id]
        made += notify(people.get(p.library_id, []) + people.get(p.childcare_id, []), "reminder", partnership=p,
                       title=item.title, body=Msg(N_("%(what)s\n\nSamenwerking: %(pair)s."), what=item.body,
                                                 pair=_pair(p)),
                       link=item.link(p), dedupe_key=f"reminder:{item.key}:{today.isoformat()}")
        mark = db.session.get(ReminderMark, item.key)
        if mark is None:
            db.session.add(ReminderMark(key=item.key, partnership_id=p.id, sent_on=today))
        else:
            mark.sent_on = today
    db.session.flush()
    return len(made)


@dataclass(frozen=True)
class _Due:
    """One item to remind the people of a partnership of."""

    key: str
    partnership_id: int
    title: Msg
    body: Msg
    #: ("practice", record public id) or ("worksheet", step)
    target: tuple[str, Any]

    def link(self, p: Partnership) -> str:
        if self.target[0] == "practice":
            return external_url("practice.show", partnership_id=p.public_id) + f"#praktijk-{self.target[1]}"
        return external_url("worksheets.show", partnership_id=p.public_id, step=self.target[1], slot="samen")


def _newest_cycles() -> Subquery:
    """Each partnership's newest round (number): reminders are about what is going on now."""
    return (select(Cycle.partnership_id, func.max(Cycle.number).label("number"))
            .group_by(Cycle.partnership_id).subquery())


def _practice_items(today: date, horizon: date) -> list[_Due]:
    newest = _newest_cycles()
    records = db.session.execute(
        select(PracticeRecord.public_id, PracticeRecord.id, PracticeRecord.partnership_id, PracticeRecord.kind,
               PracticeRecord.title, PracticeRecord.date)
        .join(Cycle, Cycle.id == PracticeRecord.cycle_id)
        .join(newest, (newest.c.partnership_id == Cycle.partnership_id) & (newest.c.number == Cycle.number))
        .where(PracticeRecord.date.is_not(None),
               ((PracticeRecord.kind == "action") & PracticeRecord.status.in_(("planned", "in_progress"))
                & (PracticeRecord.date <= horizon))
               | ((PracticeRecord.kind == "activity") & (PracticeRecord.status == "planned")
                  & (PracticeRecord.date < today)))
        .order_by(PracticeRecord.date, PracticeRecord.id)
    ).all()
    items = []
    for public_id, record_id, partnership_id, kind, title, when in records:
        assert when is not None  # the statement asks for dated records only
        shown = format_date(when.isoformat())
        if kind == "action" and when < today:
            title_msg = Msg(N_("Actie over tijd: %(what)s"), what=title or Msg(N_("actie")))
            body = Msg(N_("Deze actie had klaar moeten zijn op %(date)s. Is ze klaar, of gaat het anders? "
                          "Zet het bij de praktijk."), date=shown)
        elif kind == "action":
            title_msg = Msg(N_("Deadline %(date)s: %(what)s"), date=shown, what=title or Msg(N_("actie")))
            body = Msg(N_("Deze actie moet klaar zijn op %(date)s. Zet bij de praktijk hoe het ervoor staat."),
                       date=shown)
        else:
            title_msg = Msg(N_("Is %(what)s geweest?"), what=title or Msg(N_("de activiteit")))
            body = Msg(N_("Deze activiteit stond op %(date)s. Zet bij de praktijk of ze is geweest, en voor hoeveel "
                          "ouders en kinderen."), date=shown)
        items.append(_Due(f"{kind}:{record_id}", partnership_id, title_msg, body, ("practice", public_id)))
    return items


def _evaluation_items(today: date, horizon: date) -> list[_Due]:
    newest = _newest_cycles()
    rows = db.session.execute(
        select(Answer.value, Cycle.id, Cycle.partnership_id)
        .join(StepInstance, StepInstance.id == Answer.step_instance_id)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .join(newest, (newest.c.partnership_id == Cycle.partnership_id) & (newest.c.number == Cycle.number))
        .where(StepInstance.step == EVALUATION_STEP, StepInstance.slot == "joint",
               StepInstance.status != "locked", Answer.question == EVALUATION_QUESTION)
    ).all()
    items = []
    for value, cycle_id, partnership_id in rows:
        for row in value if isinstance(value, list) else []:
            cells = row.get("cells") or {} if isinstance(row, dict) else {}
            when = cells.get("date")
            try:
                day = date.fromisoformat(when) if isinstance(when, str) else None
            except ValueError:
                day = None
            if day is None or not today <= day <= horizon:
                continue
            items.append(_Due(
                f"evaluation:{cycle_id}:{row.get('id')}:{when}", partnership_id,
                Msg(N_("Evaluatiemoment %(date)s: %(what)s"), date=format_date(when), what=cells.get("topic") or ""),
                Msg(N_("Dit evaluatiemoment staat in jullie plan (stap %(n)d)."), n=EVALUATION_STEP),
                ("worksheet", EVALUATION_STEP)))
    return items


def _people_of(org_ids: set[int]) -> dict[int, list[User]]:
    """The members of these organisations, per organisation, in one statement."""
    people: dict[int, list[User]] = {}
    for user, org_id in db.session.execute(
            select(User, Membership.organisation_id).join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id.in_(org_ids))).all():
        people.setdefault(org_id, []).append(user)
    return people


#: The weekly overview goes out on this weekday (0 = Monday).
WEEKLY_DIGEST_DAY = 0


def send_digests(today: date | None = None) -> int:
    """Put one e-mail per user in the outbox with everything collected for their overview:
    the daily one every day, the weekly one on Mondays (run once a day, from cron)."""
    today = today or local_today()
    modes = ["digest", "weekly"] if today.weekday() == WEEKLY_DIGEST_DAY else ["digest"]
    pending = db.session.scalars(
        select(Notification).where(Notification.mode.in_(modes), Notification.emailed_at.is_(None))
        .order_by(Notification.user_id, Notification.created_at)
    ).all()
    by_user: dict[tuple[int, str], list[Notification]] = {}
    for note in pending:
        by_user.setdefault((note.user_id, note.mode), []).append(note)
    now = utcnow()
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({k[0] for k in by_user})))}
    for (user_id, mode), notes in by_user.items():
        user = users.get(user_id)
        if user is None:
            continue
        ids = [n.id for n in notes]
        outbox.enqueue("digest", user.email, {"notifications": ids, "weekly": mode == "weekly"},
                       dedupe_key=f"digest:{user_id}:{ids[-1]}", locale=user.locale, user_id=user.id,
                       organisation_id=_organisation_of(user))
        for note in notes:
            note.emailed_at = now
    return len(by_user)


@mail_template("digest")
def _digest_mail(params: dict[str, Any]) -> tuple[str, str]:
    """Text: templates/mail/digest.txt, one line and link per notification."""
    notes = db.session.scalars(select(Notification).where(Notification.id.in_(params["notifications"]))
                               .order_by(Notification.created_at)).all()
    if not notes:
        raise LookupError("the notifications were removed")
    user = db.session.get(User, notes[0].user_id)
    return outbox.render("digest", name=user.name if user else "", weekly=bool(params.get("weekly")),
                         items=[(shown(n)[0], n.link) for n in notes])


def unread_count(user: User) -> int:
    return db.session.scalar(_unread_statement(), {"user": user.id}) or 0


@functools.cache
def _unread_statement() -> Select:
    """The layout's unread count (every page), built once (see ``access.user_by_public_id``)."""
    return select(func.count(Notification.id)).where(
        Notification.user_id == bindparam("user"), Notification.read_at.is_(None))


# --------------------------------------------------------------------------- the person's list


def listing(user: User, number: int, per_page: int) -> Page:
    """One page of the person's notifications, newest first."""
    return paginate(select(Notification).where(Notification.user_id == user.id)
                    .order_by(Notification.created_at.desc(), Notification.id.desc()), number, per_page)


def open_for(user: User, public_id: str) -> Notification | None:
    """The person's own notification (None for anyone else's), marked read on opening."""
    note = db.session.scalar(select(Notification).where(Notification.public_id == public_id,
                                                         Notification.user_id == user.id))
    if note is not None and note.read_at is None:
        note.read_at = utcnow()
        db.session.flush()
    return note


def mark_all_read(user: User) -> int:
    """Every unread notification of the person read; how many there were (audited, as
    every change a person makes)."""
    count = cast(CursorResult, db.session.execute(update(Notification).where(  # an UPDATE: it has a rowcount
        Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=utcnow())
        .execution_options(synchronize_session=False))).rowcount
    audit("notifications_read", actor_id=user.id, organisation_id=user.organisation.id if user.organisation else None,
          count=count)
    db.session.flush()
    return int(count or 0)

