"""Who hears about what, and how: one module, so preferences apply everywhere.

In-app notifications are always made; the user's choice per kind decides the
email: right away ("direct"), once a day in a digest ("digest"), or not ("off").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, update

from .. import rls
from ..accounts.models import User
from ..core import signals
from ..core.web import external_url
from ..extensions import db, new_public_id, utcnow
from ..i18n import Msg, render
from ..i18n import gettext as _
from ..organisations.models import Membership, RegionRequest
from ..outbox import services as outbox
from ..outbox.services import mail_template
from ..partnerships.models import Partnership
from ..workflow.definition import N_
from ..workflow.models import Cycle, StepInstance
from ..worksheets.display import format_date
from ..worksheets.models import Answer
from .models import KINDS, Notification, NotificationPreference

if TYPE_CHECKING:
    from ..workflow.engine import Event
    from ..worksheets.services import Sheet

KIND_LABELS = {
    "step_opened": "Een stap gaat open voor jullie organisatie",
    "signoff": "Je partner keurt een stap goed of vraagt om jullie goedkeuring",
    "mention": "Iemand noemt je in een opmerking",
    "reminder": "Herinneringen aan deadlines en evaluatiemomenten",
    "region": "Aanvragen om mee te doen in een regio, en de beslissing daarover",
}
#: The kinds an organisation of each kind can get, so its people are asked only about
#: those (a childcare organisation never joins a region; a coordinator works on no step).
KINDS_FOR = {
    "library": ("step_opened", "signoff", "mention", "reminder", "region"),
    "childcare": ("step_opened", "signoff", "mention", "reminder"),
    "coordination": ("region",),
}
PARTY_NAME = {"library": N_("de bibliotheek"), "childcare": N_("de kinderopvang")}
PARTY_TITLE = {"library": N_("De bibliotheek"), "childcare": N_("De kinderopvang")}
SLUGS = {"library": "bibliotheek", "childcare": "kinderopvang", "joint": "samen"}


def preferences(user: User) -> dict[str, str]:
    stored = dict(db.session.execute(
        select(NotificationPreference.kind, NotificationPreference.mode)
        .where(NotificationPreference.user_id == user.id)
    ).all())
    return {kind: stored.get(kind, "direct") for kind in KINDS}


def labels_for(user: User) -> dict[str, str]:
    """The e-mail choices worth asking this user about, with their labels."""
    kinds = KINDS_FOR.get(user.organisation.kind if user.organisation else "", tuple(KIND_LABELS))
    return {kind: label for kind, label in KIND_LABELS.items() if kind in kinds}


def set_preferences(user: User, choices: dict[str, str]) -> None:
    existing = {p.kind: p for p in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user.id))}
    for kind, mode in choices.items():
        if kind not in KINDS or mode not in ("direct", "digest", "off"):
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
    made = []
    users = list(users)
    modes = _modes([u.id for u in users], kind)
    message = {part: text.to_json() if isinstance(text, Msg) else text for part, text in (("title", title),
                                                                                         ("body", body))}
    for user in users:
        if dedupe_key and db.session.scalar(select(Notification.id).where(
                Notification.user_id == user.id, Notification.dedupe_key == dedupe_key)):
            continue
        note = Notification(user_id=user.id, partnership_id=partnership.id if partnership else None, kind=kind,
                            title=str(title)[:300], body=str(body), message=message, link=link[:500],
                            dedupe_key=dedupe_key, mode=modes.get(user.id, "direct"))
        db.session.add(note)
        made.append(note)
    if made:
        db.session.flush()
    for note, user in zip(made, [u for u in users if any(n.user_id == u.id for n in made)], strict=False):
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
    """A notification by e-mail, in the recipient's language (rendered at delivery)."""
    note = db.session.get(Notification, params["notification"])
    if note is None:
        raise LookupError("the notification was removed")
    user = db.session.get(User, note.user_id)
    note.emailed_at = note.emailed_at or utcnow()
    title, body = shown(note)
    return title, _("Hallo %(name)s,\n\n%(title)s\n\n%(body)s\n\nBekijk het in Stappenplan:\n%(link)s\n\n"
                    "Je kunt in je account kiezen welke e-mails je krijgt.\n",
                    name=user.name if user else "", title=title, body=body, link=note.link)


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
           prefixes=[_signoff_key(partnership, e) for e in events if e.kind == "step_completed"])
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


@signals.mentioned.connect
def _on_mention(sheet: Sheet, *, person: User, author: User, key: str, body: str) -> None:
    mentioned(person, author, sheet, key, body)


@signals.workflow_events.connect
def _on_workflow_events(partnership: Partnership, *, events: list[Event], actor: User, party: str) -> None:
    for_events(partnership, events, actor, party)


@signals.region_reminder.connect
def _on_region_reminder(partnership: Partnership, *, coordinator: User, organisation: Any, message: str,
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
@signals.region_request.connect
def _on_region_request(request: RegionRequest, *, event: str, actor: User) -> None:
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


# --- scheduled: reminders and digests -------------------------------------------------------------


def due_reminders(today: date | None = None, days: int = 7) -> int:
    """Reminders for action-schema deadlines and evaluation moments in the next ``days`` days.

    Safe to run twice: each reminder has a dedupe key per user, row and date.
    """
    today = today or utcnow().date()
    horizon = today + timedelta(days=days)
    rows = db.session.execute(
        select(Answer.value, Answer.question, StepInstance.step, Cycle.partnership_id, Cycle.id)
        .join(StepInstance, StepInstance.id == Answer.step_instance_id)
        .join(Cycle, Cycle.id == StepInstance.cycle_id)
        .where(Cycle.closed_at.is_(None),
               ((StepInstance.step == 7) & (Answer.question == "action_schema"))
               | ((StepInstance.step == 8) & (Answer.question == "evaluation_moments")))
    ).all()
    partnerships = {p.id: p for p in db.session.scalars(
        select(Partnership).where(Partnership.id.in_({r.partnership_id for r in rows})))} if rows else {}
    made: list[Notification] = []
    for value, question, step, partnership_id, cycle_id in rows:
        p = partnerships[partnership_id]
        for row in value or []:
            cells = row.get("cells", {})
            when = cells.get("deadline") if question == "action_schema" else cells.get("date")
            if not when or (question == "action_schema" and cells.get("status") == "done"):
                continue
            try:
                day = date.fromisoformat(when)
            except ValueError:
                continue
            if not today <= day <= horizon:
                continue
            what = cells.get("action") if question == "action_schema" else cells.get("topic")
            title = (Msg(N_("Deadline %(date)s: %(what)s"), date=format_date(when), what=what or Msg(N_("actie")))
                     if question == "action_schema"
                     else Msg(N_("Evaluatiemoment %(date)s: %(what)s"), date=format_date(when), what=what or ""))
            link = external_url("worksheets.show", partnership_id=p.public_id, step=step, slot="samen")
            made += notify(
                _members([p.library_id, p.childcare_id]), "reminder", partnership=p, title=title,
                body=Msg(N_("Dit staat in jullie samenwerkingsplan (%(pair)s), stap %(n)d."), pair=_pair(p), n=step),
                link=link, dedupe_key=f"reminder:{cycle_id}:{question}:{row.get('id')}:{when}",
            )
    return len(made)


def send_digests() -> int:
    """Put one e-mail per user in the outbox with everything collected for the daily digest."""
    pending = db.session.scalars(
        select(Notification).where(Notification.mode == "digest", Notification.emailed_at.is_(None))
        .order_by(Notification.user_id, Notification.created_at)
    ).all()
    by_user: dict[int, list[Notification]] = {}
    for note in pending:
        by_user.setdefault(note.user_id, []).append(note)
    now = utcnow()
    for user_id, notes in by_user.items():
        user = db.session.get(User, user_id)
        if user is None:
            continue
        ids = [n.id for n in notes]
        outbox.enqueue("digest", user.email, {"notifications": ids}, dedupe_key=f"digest:{user_id}:{ids[-1]}",
                       locale=user.locale, user_id=user.id, organisation_id=_organisation_of(user))
        for note in notes:
            note.emailed_at = now
    return len(by_user)


@mail_template("digest")
def _digest_mail(params: dict[str, Any]) -> tuple[str, str]:
    notes = db.session.scalars(select(Notification).where(Notification.id.in_(params["notifications"]))
                               .order_by(Notification.created_at)).all()
    if not notes:
        raise LookupError("the notifications were removed")
    user = db.session.get(User, notes[0].user_id)
    lines = "\n".join(f"- {shown(n)[0]}\n  {n.link}" for n in notes)
    return (_("Je overzicht van vandaag in Stappenplan (%(n)d)", n=len(notes)),
            _("Hallo %(name)s,\n\nDit gebeurde er sinds je vorige overzicht:\n\n%(lines)s\n",
              name=user.name if user else "", lines=lines))


def unread_count(user: User) -> int:
    return db.session.scalar(_unread_statement(), {"user": user.id}) or 0


@functools.cache
def _unread_statement() -> Select:
    """The layout's unread count (every page), built once (see ``access.user_by_public_id``)."""
    return select(func.count(Notification.id)).where(
        Notification.user_id == bindparam("user"), Notification.read_at.is_(None))
