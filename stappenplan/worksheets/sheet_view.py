"""The view-model of a worksheet page: what one viewer sees of one worksheet (answers,
progress, presence, the step-4 comparison), built once per page or partial."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import Select, bindparam, func, select

from ..extensions import db
from ..i18n import gettext as _
from ..practice import services as practice_services
from ..workflow import engine
from ..workflow.answers import incomplete_rows, is_answered
from ..workflow.definition import Question
from ..workflow.models import StepInstance
from ..workflow.services import Filled, plan_for, previous_cycle, state_from
from ..workflow.slots import SLUG_FOR_SLOT
from ..workflow.upgrading import added_keys
from . import feed, reuse, tally
from .models import Answer, Comment, CommentThread
from .services import Sheet, answers_for
from .store import answer_values_statement


@dataclass
class Missing:
    question: Question
    #: Why it is not complete when it has an answer (a table row without a required column).
    detail: str | None = None


@dataclass
class Progress:
    """The worksheet's own bar: required questions done, what is missing, and the
    workflow buttons this viewer may press here (no trip back to the overview)."""

    required: int
    missing: list[Missing]
    actions: list[engine.Action]
    partner: str
    partner_signed: bool
    signed: bool
    #: Completing this step shows the organisation's answers of the private steps to the
    #: partner (the last private step): the button asks first.
    shares_answers: bool = False

    @property
    def done(self) -> int:
        return self.required - len([m for m in self.missing if m.question.required])


@dataclass
class Lessons:
    """What the partners wrote down at step 8 of the previous round, shown while they
    start the next one (steps 1-4)."""

    round: int
    items: list[tuple[Question, Any]]
    goals: dict[str, str] = field(default_factory=dict)


#: The evaluation step starts from what happened in practice (stappenplan/practice).
PRACTICE_SHOWN_AT = 8
#: The step whose answers are the lessons of a round, and the steps that show them.
LESSONS_STEP = 8
LESSONS_SHOWN_AT = (1, 2, 3, 4)


@dataclass
class SheetView:
    sheet: Sheet
    questions: list[Question]
    answers: dict[str, Answer]
    editable: bool
    slug: str
    seq: int
    #: Who approved the step (``feed.signed_token``): the poller sends it back.
    signed: str
    goals: list[dict[str, Any]] = field(default_factory=list)
    comment_counts: dict[str, tuple[int, bool]] = field(default_factory=dict)
    compare: list[dict[str, Any]] = field(default_factory=list)
    tally: dict[str, Any] | None = None
    records_question: Question | None = None
    #: Steps 1-4 of a later round: the step-8 evaluation of the round before.
    lessons: Lessons | None = None
    #: Step 8: what happened this round (practice), next to the evaluation's questions.
    practice: practice_services.Summary | None = None
    present: list[feed.Present] = field(default_factory=list)
    presence_sig: str = ""
    progress: Progress | None = None
    #: URL patterns built once per page (routes.sheet_url).
    urls: dict[tuple[str, bool], str] = field(default_factory=dict)
    #: The whole page of an own step, for its owner: where else the step has answers and
    #: where these came from (None in the parts htmx swaps, which do not show it).
    reuse: reuse.Overview | None = None

    def value(self, key: str) -> Any:
        answer = self.answers.get(key)
        return answer.value if answer else None

    def version(self, key: str) -> int:
        answer = self.answers.get(key)
        return answer.version if answer else 0

    def draft(self, key: str) -> bool:
        answer = self.answers.get(key)
        return bool(answer and answer.draft)

    @property
    def old_answers(self) -> list[tuple[Question, Any]]:
        """Answers to questions the round's former plan version asked and this one does not
        (after an upgrade): shown read-only under "Uit versie N", each with its history."""
        keys = [k for k, a in self.answers.items() if a.value is not None]
        return [(q, self.answers[q.key].value) for q in self.sheet.old_questions(keys)]

    def new_in_version(self, key: str) -> int | None:
        """The plan version that added this question, when the round moved to it from an
        older one: marked "Nieuw in versie N" (a completed step does not reopen for it)."""
        cycle = self.sheet.cycle
        if cycle.upgraded_from is None:
            return None
        return cycle.plan_version if key in added_keys(cycle.upgraded_from, cycle.plan_version,
                                                       self.sheet.step.number) else None

    def row_ids(self, key: str) -> set[str]:
        """Ids of a table's rows: a suggestion whose row is there shows as added."""
        value = self.value(key)
        return {row.get("id") for row in value} if isinstance(value, list) else set()

    @property
    def goal_labels(self) -> dict[str, str]:
        return {g["id"]: g["label"] for g in self.goals}


def build(sheet: Sheet, user: Any, *, whole_page: bool = False) -> SheetView:
    """``whole_page``: the worksheet page itself, with what only it shows (reuse)."""
    answers = answers_for(sheet.instance)
    view = SheetView(
        sheet=sheet,
        questions=sheet.questions(),
        answers=answers,
        editable=sheet.editable,
        slug=SLUG_FOR_SLOT[sheet.instance.slot],
        seq=sheet.instance.content_version,
        signed=feed.signed_token(s.party for s in sheet.instance.signoffs),
    )
    if any(q.type == "goal_progress" for q in view.questions):
        view.goals = shared_goals(sheet)
    view.comment_counts = _comment_counts(sheet)
    if sheet.step.number == 4 and sheet.party:
        view.compare = _compare_own_steps(sheet)
    if sheet.step.mode == "lead" and sheet.party:
        records = [q for q in sheet.step.questions if q.type == "records"]
        if records:
            view.records_question = records[0]
            # Both organisations see the overview (childcare leads step 5 and is told to
            # use it), published from a snapshot (tally.overview, workflow/disclosure.py).
            # The library's answers hold no records under row-level security: see tally.
            # A coordinator never sees one partnership's themes.
            value = answers.get(records[0].key)
            minimum = current_app.config["THEME_MIN_CONVERSATIONS"]
            shown = tally.overview(sheet.instance.id, sheet.partnership.id, records[0],
                                   value.value if value else None, minimum)
            view.tally = {"question": records[0], "overview": shown.counts, "count": shown.count,
                          "minimum": minimum, "basis": shown.basis}
    if sheet.step.number in LESSONS_SHOWN_AT and sheet.cycle.number > 1:
        view.lessons = previous_lessons(sheet)
    if sheet.step.number == PRACTICE_SHOWN_AT:
        view.practice = practice_services.summary(sheet.cycle.id)
    view.present = feed.others(sheet, user)
    view.presence_sig = feed.signature(view.present)
    if sheet.party and sheet.instance.status == engine.OPEN:
        view.progress = _progress(sheet, answers, user)
    if whole_page:
        view.reuse = reuse.overview(sheet, answers)
    return view


def _progress(sheet: Sheet, answers: dict[str, Answer], user: Any) -> Progress:
    """Required questions and allowed actions of this step instance, from the answers
    the page already loaded (the engine decides; nothing is read again)."""
    party = sheet.party
    assert party is not None  # only built for the two organisations (see build)
    instance = sheet.instance
    questions = {q.key: q for q in sheet.step.questions}
    filled = Filled()
    for key, answer in answers.items():
        question = questions.get(key)
        if question is None:
            continue
        if is_answered(question, answer.value):
            filled.answered.add(key)
        if incomplete_rows(question, answer.value):
            filled.incomplete.add(key)
    state = state_from(sheet.cycle, sheet.instances or [instance], {instance.id: filled})
    situation = sheet.partnership.situation
    asked_to = instance.slot if sheet.step.mode == "each" else sheet.party
    missing = []
    for question in engine.missing_required(sheet.defn, state, sheet.step.number, instance.slot, sheet.party,
                                            situation):
        detail = None
        rows = incomplete_rows(question, answers[question.key].value) if question.key in answers else []
        if rows:
            detail = "; ".join(
                _("rij %(n)d mist: %(columns)s", n=n, columns=", ".join(c.label for c in columns))
                for n, columns in rows[:3])
        missing.append(Missing(question, detail))
    required = [q for q in sheet.step.questions_for(asked_to, situation) if q.required]
    actions = [
        a for a in engine.allowed_actions(sheet.defn, state, engine.Actor(party, user.is_admin), situation,
                                          only=(sheet.step.number, instance.slot))
        if a.kind in ("complete", "sign_off", "withdraw_sign_off")
    ]
    signoffs = {s.party for s in instance.signoffs}
    partner = engine.other_party(party)
    return Progress(required=len(required), missing=missing, actions=actions, partner=partner,
                    partner_signed=partner in signoffs, signed=sheet.party in signoffs,
                    shares_answers=sheet.step.number == engine.last_private_step(sheet.defn))


def shared_goals(sheet: Sheet) -> list[dict[str, Any]]:
    """Step 8 asks about each shared goal of step 4 of the same cycle."""
    q = next((q for q in sheet.step.questions if q.type == "goal_progress"), None)
    if q is None:
        return []
    return _goals(sheet.cycle.id, q)


def _goals(cycle_id: int, q: Question) -> list[dict[str, Any]]:
    if q.source is None:
        return []
    row = db.session.execute(
        select(Answer.value)
        .join(StepInstance, StepInstance.id == Answer.step_instance_id)
        .where(StepInstance.cycle_id == cycle_id, StepInstance.step == q.source.step,
               Answer.question == q.source.question)
    ).scalar_one_or_none()
    goals = []
    for item in row or []:
        cells = item.get("cells", {})
        first = next((v for v in cells.values() if isinstance(v, str) and v.strip()), "")
        goals.append({"id": item["id"], "label": first or "Doel"})
    return goals


def previous_lessons(sheet: Sheet) -> Lessons | None:
    """The step-8 evaluation of the round before this one (its tables left out: the
    planning of evaluation moments is no lesson), or None when nothing was written."""
    previous = previous_cycle(sheet.cycle)
    if previous is None:
        return None
    rows = db.session.execute(
        select(Answer.question, Answer.value)
        .join(StepInstance, StepInstance.id == Answer.step_instance_id)
        .where(StepInstance.cycle_id == previous.id, StepInstance.step == LESSONS_STEP)
    ).all()
    values: dict[str, Any] = {key: value for key, value in rows}
    step = plan_for(previous).step(LESSONS_STEP)
    items = [(q, values[q.key]) for q in step.questions
             if q.type not in ("table", "records") and is_answered(q, values.get(q.key))]
    if not items:
        return None
    goals: dict[str, str] = {}
    for q, _value in items:
        if q.type == "goal_progress":
            goals.update({g["id"]: g["label"] for g in _goals(previous.id, q)})
    return Lessons(round=previous.number, items=items, goals=goals)


def _comment_counts(sheet: Sheet) -> dict[str, tuple[int, bool]]:
    rows = db.session.execute(_comment_counts_statement(), {"instance": sheet.instance.id}).all()
    return {key: (count, resolved is not None) for key, count, resolved in rows}


# The worksheet page's statements are built once per process with bind parameters (see
# ``access.user_by_public_id``).


@functools.cache
def _comment_counts_statement() -> Select:
    return (select(CommentThread.question, func.count(Comment.id), CommentThread.resolved_at)
            .join(Comment, Comment.thread_id == CommentThread.id)
            .where(CommentThread.step_instance_id == bindparam("instance"))
            .group_by(CommentThread.id, CommentThread.question, CommentThread.resolved_at))


def _compare_own_steps(sheet: Sheet) -> list[dict[str, Any]]:
    """Both parties' answers of steps 1-3, side by side, as the start of step 4."""
    instances = [i for i in sheet.instances if i.step in (1, 2, 3)]
    by_id = {i.id: i for i in instances}
    values: dict[tuple[int, str], dict[str, Any]] = {}
    # Only the values: step 4 compares some fifty answers, and loading them as ORM objects
    # cost ~1 ms per page.
    for instance_id, question, value in db.session.execute(answer_values_statement(), {"instances": list(by_id)}):
        inst = by_id[instance_id]
        values.setdefault((inst.step, inst.slot), {})[question] = value
    steps = []
    for number in (1, 2, 3):
        step = sheet.defn.step(number)
        rows = []
        for q in step.questions:
            if not q.applies_to(None, sheet.partnership.situation) and q.party is None:
                continue
            rows.append({
                "question": q,
                "library": values.get((number, "library"), {}).get(q.key) if q.party in (None, "library") else None,
                "childcare": values.get((number, "childcare"), {}).get(q.key)
                if q.party in (None, "childcare") else None,
                "only": q.party,
            })
        steps.append({"step": step, "rows": rows})
    return steps


def status_info(sheet: Sheet) -> dict[str, Any]:
    instance = sheet.instance
    return {
        "status": instance.status,
        "signoffs": sorted(s.party for s in instance.signoffs),
        "open": instance.status == engine.OPEN,
    }


__all__ = ["SheetView", "build", "shared_goals", "status_info"]


def client_messages() -> dict[str, str]:
    """The worksheet script's texts, in the viewer's language (the script has no catalog)."""
    return {
        "saving": _("Opslaan…"),
        "conflict": _("Niet opgeslagen: zie hieronder."),
        "failed": _("Niet opgeslagen. Je tekst is bewaard op deze computer; we proberen het zo opnieuw."),
        "offline": _("Geen verbinding. Je tekst is bewaard op deze computer en wordt opgeslagen zodra er weer "
                     "verbinding is."),
        "retry": _("Nu opnieuw proberen"),
        "auth": _("Je bent uitgelogd. Je tekst is bewaard op deze computer."),
        "login": _("Log opnieuw in (nieuw tabblad)"),
        "save_again": _("Daarna opnieuw opslaan"),
        "busy": _("Even wachten: er wordt veel tegelijk opgeslagen. We slaan het over %(s)s seconden op."),
        "gone": _("Dit antwoord kan hier niet meer worden opgeslagen. Je tekst is bewaard op deze computer; "
                  "kopieer hem als je hem nog nodig hebt."),
        "restored": _("Tekst van je vorige bezoek die nog niet was opgeslagen, is teruggezet. We slaan hem nu op."),
        "merging": _("%(name)s heeft dit antwoord net gewijzigd. Zodra je even pauzeert, voegen we jouw "
                     "wijziging erbij."),
        "updated": _("%(name)s heeft dit antwoord net gewijzigd."),
        "changed": _("%(name)s wijzigde ‘%(question)s’."),
        "commented": _("Nieuwe opmerking bij ‘%(question)s’."),
        "someone": _("Iemand"),
        "action_failed": _("Niet gelukt: er is niets gewijzigd. Probeer het zo opnieuw."),
        "action_offline": _("Geen verbinding: er is niets gewijzigd. Probeer het opnieuw zodra er weer "
                            "verbinding is."),
        "row_waits": _("Niet uitgevoerd: wat je in de tabel typte, is nog niet opgeslagen. Klik opnieuw op de "
                       "knop zodra het is opgeslagen."),
    }
