"""Who hears about what. One module, so preferences can be applied in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..accounts.models import User

if TYPE_CHECKING:
    from ..worksheets.services import Sheet


def mentioned(person: User, author: User, sheet: Sheet, key: str, body: str) -> None:
    """Someone named ``person`` in a comment."""
    from ..worksheets.comments import mention_mail

    mention_mail(person, author, sheet, key, body)
