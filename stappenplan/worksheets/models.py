"""Answers to worksheet questions, with a version for optimistic concurrency."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..extensions import Model, new_public_id, utcnow


class Answer(Model):
    """The current answer to one question of one step instance.

    ``version`` grows with every accepted write; a save must name the version it
    was based on, so no one silently overwrites someone else's work.
    """

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("step_instance_id", "question", name="uq_answers_instance_question"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    step_instance_id: Mapped[int] = mapped_column(ForeignKey("step_instances.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(60))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    version: Mapped[int] = mapped_column(default=0)
    # The step instance's content_version when this answer last changed: the change
    # feed sends exactly the answers newer than what a page has seen.
    instance_seq: Mapped[int] = mapped_column(default=0)
    # A value carried over from the previous cycle that nobody confirmed yet.
    draft: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    updated_by: Mapped[User | None] = relationship()


class AnswerRevision(Model):
    """One accepted write (or several quick ones by the same person, folded)."""

    __tablename__ = "answer_revisions"
    __table_args__ = (Index("ix_answer_revisions_answer_version", "answer_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    version: Mapped[int]
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    party: Mapped[str | None] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(20), default="edit")  # edit, restore, carry_over
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # How many saves this revision holds (folding keeps the count, for the history).
    saves: Mapped[int] = mapped_column(default=1)

    user: Mapped[User | None] = relationship()


class CommentThread(Model):
    """The conversation about one question of one step instance."""

    __tablename__ = "comment_threads"
    __table_args__ = (UniqueConstraint("step_instance_id", "question", name="uq_comment_threads_instance_question"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    step_instance_id: Mapped[int] = mapped_column(ForeignKey("step_instances.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    comments: Mapped[list[Comment]] = relationship(
        back_populates="thread", cascade="all, delete-orphan", order_by="Comment.created_at"
    )


class Comment(Model):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    thread_id: Mapped[int] = mapped_column(ForeignKey("comment_threads.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    party: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    thread: Mapped[CommentThread] = relationship(back_populates="comments")
    author: Mapped[User | None] = relationship(lazy="joined")


class CommentMention(Model):
    """A person named in a comment; they get an email."""

    __tablename__ = "comment_mentions"
    __table_args__ = (UniqueConstraint("comment_id", "user_id", name="uq_comment_mentions_comment_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class Presence(Model):
    """Who has a worksheet open, and in which field (shared across app processes)."""

    __tablename__ = "presence"
    __table_args__ = (UniqueConstraint("step_instance_id", "user_id", name="uq_presence_instance_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    step_instance_id: Mapped[int] = mapped_column(ForeignKey("step_instances.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    question: Mapped[str | None] = mapped_column(String(60))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ThemeSnapshot(Model):
    """The last published step-5 theme counts of one scope: a partnership's overview (one
    step 5) or a coordinator's region. What is shown changes only when a new snapshot is
    taken (workflow/disclosure.py), so one new conversation never changes a shown figure."""

    __tablename__ = "theme_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "instance:<step instance id>" or "region:<coordination organisation id>"
    scope: Mapped[str] = mapped_column(String(80), unique=True)
    #: For row-level security: whose figure it is.
    partnership_id: Mapped[int | None] = mapped_column(ForeignKey("partnerships.id", ondelete="CASCADE"), index=True)
    coordination_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"),
                                                        index=True)
    #: {partnership id: conversations} and {"column:option": n} at the time of the snapshot.
    by_partnership: Mapped[Any] = mapped_column(JSON)
    counts: Mapped[Any] = mapped_column(JSON)
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
