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
from ..workflow.services import AnswerMove, CarryOver
from .models import Answer, AnswerRevision, CommentThread


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
        carried: list[Answer] = [Answer(step_instance_id=c.target, question=key, value=value, version=1, draft=True)
                                 for c in copies if c.values is not None for key, value in c.values.items()]
        db.session.add_all(carried)
        by_source = {c.source: c for c in copies if c.values is None}
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

    def move(self, moves: Sequence[AnswerMove], user_id: int | None) -> None:
        """A plan upgrade: renames re-key the answer and its comments (history goes along);
        merges and splits write the combined value under each new key, as an ``upgrade``
        revision, and leave the old answers where they are."""
        if not moves:
            return
        instances = sorted({m.instance for m in moves})
        answers = {(a.step_instance_id, a.question): a for a in db.session.scalars(
            select(Answer).where(Answer.step_instance_id.in_(instances)).with_for_update())}
        threads = {(t.step_instance_id, t.question): t for t in db.session.scalars(
            select(CommentThread).where(CommentThread.step_instance_id.in_(instances)))}
        written: list[Answer] = []
        for move in moves:
            free = [t for t in move.targets if (move.instance, t) not in answers]
            if not free:
                continue  # already moved: the upgrade is idempotent
            source = answers.get((move.instance, move.sources[0]))
            if move.rename and source is not None:
                source.question = free[0]
                answers[(move.instance, free[0])] = source
            elif move.value is not None:
                for key in free:
                    new = Answer(step_instance_id=move.instance, question=key, value=move.value, version=1,
                                 updated_by_id=user_id)
                    answers[(move.instance, key)] = new
                    written.append(new)
            thread = next((threads[(move.instance, k)] for k in move.sources if (move.instance, k) in threads), None)
            if thread is not None and (move.instance, free[0]) not in threads:
                thread.question = free[0]
                threads[(move.instance, free[0])] = thread
        db.session.add_all(written)
        db.session.flush()
        for new in written:
            db.session.add(AnswerRevision(answer_id=new.id, version=1, value=new.value, user_id=user_id, party=None,
                                          kind="upgrade"))
        db.session.flush()


ANSWERS = WorksheetAnswers()
