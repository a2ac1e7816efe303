"""The URL words for a worksheet's slot (``/stap/4/samen``): Dutch in the address bar,
English in the code. Kept apart so that views, templates and the access policy share one
table without importing each other."""

from __future__ import annotations

SLOT_SLUGS = {"bibliotheek": "library", "kinderopvang": "childcare", "samen": "joint"}
SLUG_FOR_SLOT = {v: k for k, v in SLOT_SLUGS.items()}
