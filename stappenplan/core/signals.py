"""Domain events that other packages react to, without the sender knowing them.

The workflow and the worksheets announce what happened; ``notifications`` listens
(see notifications/services.py). Receivers run in the sender's unit of work, so a
notification is made in the same transaction as the change that caused it.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: sender: the Partnership; events (workflow engine Events, with the cycle number in
#: their detail), actor (User), party ("library", "childcare" or "" for the system).
workflow_events = _signals.signal("workflow-events")

#: sender: the worksheet Sheet; person (User named), author (User), key (question), body.
mentioned = _signals.signal("mentioned")
#: sender: the worksheet Sheet; comment (Comment), author (User), key (question), body,
#: mentioned (the Users named, who hear of it through ``mentioned`` instead).
commented = _signals.signal("commented")

#: sender: the Partnership; coordinator (User), organisation (the coordination
#: Organisation), message (str, may be empty). A coordinator reminds a stalled partnership.
region_reminder = _signals.signal("region-reminder")
#: sender: the organisations RegionRequest; event ("requested", "accepted" or "declined"),
#: actor (User who asked or decided).
region_request = _signals.signal("region-request")

#: sender: the Partnership; actor (User or None for an operator's bulk run), from_version,
#: to_version (int). The partnership's current round moved to a newer plan version.
plan_upgraded = _signals.signal("plan-upgraded")
