"""The worksheets' side of the seam with the workflow: what it may know of answers.

The workflow decides whether a step may be completed (which questions are filled in)
and what a new round starts from (which answers carry over), but the answers are the
worksheets'. ``ANSWERS`` is installed by the app factory
(``workflow.services.install_answer_store``), so the workflow imports nothing of this
package.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select

from ..extensions import db
from ..workflow.services import CarryOver
from .models import Answer, AnswerRevision


@functools.cache
def answer_values_statement() -> Select:
    """The answers (values only) of a list of step instances (bind parameter ``instances``),
    built once: every workflow check, the partnership page and step 4's comparison."""
    return select(Answer.step_instance_id, Answer.question, Answer.value).where(
        Answer.step_instance_id.in_(bindparam("instances", expanding=True)))


class WorksheetAnswers:
    """``workflow.services.AnswerStore`` on the answers table."""

    def values(self, instance_ids: Sequence[int]) -> Iterable[tuple[int, str, Any]]:
        if not instance_ids:
            return []
        return [(i, q, v) for i, q, v in db.session.execute(answer_values_statement(),
                                                               {"instances": list(instance_ids)})]

    def carry_over(self, copies: Sequence[CarryOver], user_id: int) -> None:
        """Drafts in the new round (version 1, a ``carry_over`` revision each): nobody
        confirmed them yet, and the history says where they came from."""
        by_source = {c.source: c for c in copies}
        carried: list[Answer] = []
        for answer in db.session.scalars(select(Answer).where(Answer.step_instance_id.in_(by_source))):
            copy = by_source[answer.step_instance_id]
            if answer.value is None or answer.question not in copy.questions:
                continue
            new = Answer(step_instance_id=copy.target, question=answer.question, value=answer.value, version=1,
                         draft=True, updated_by_id=answer.updated_by_id)
            db.session.add(new)
            carried.append(new)
        db.session.flush()
        for new in carried:
            db.session.add(AnswerRevision(answer_id=new.id, version=1, value=new.value, user_id=user_id, party=None,
                                          kind="carry_over"))
        db.session.flush()


ANSWERS = WorksheetAnswers()
