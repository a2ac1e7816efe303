"""Imports every model so metadata is complete (Alembic, tests, create_app)."""

from .accounts.models import LoginThrottle, PasswordResetRequest, User
from .audit.models import AuditEvent
from .live.models import LiveEvent
from .organisations.models import Membership, Organisation, Region, RegionMembership
from .partnerships.models import Invitation, InvitationSend, Partnership

__all__ = [
    "AuditEvent",
    "Invitation",
    "LiveEvent",
    "InvitationSend",
    "LoginThrottle",
    "Membership",
    "Organisation",
    "PasswordResetRequest",
    "Partnership",
    "Region",
    "RegionMembership",
    "User",
]
from .workflow.models import Cycle, SignOff, StepInstance
from .worksheets.models import (
    Answer,
    AnswerRevision,
    Comment,
    CommentMention,
    CommentThread,
    Presence,
    ThemeSnapshot,
)

__all__ += [
    "Answer", "AnswerRevision", "Comment", "CommentMention", "CommentThread", "Cycle", "Presence", "SignOff",
    "StepInstance", "ThemeSnapshot",
]
from .notifications.models import Notification, NotificationPreference  # noqa: E402

__all__ += ["Notification", "NotificationPreference"]
from .outbox.models import OutboxMessage  # noqa: E402

__all__ += ["OutboxMessage"]
from .coordination.models import Reminder  # noqa: E402

__all__ += ["Reminder"]
from .practice.models import PracticeRecord, PracticeRevision, ReminderMark  # noqa: E402

__all__ += ["PracticeRecord", "PracticeRevision", "ReminderMark"]
