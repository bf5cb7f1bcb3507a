"""Instants as people read them: in the policy's zone, with its offset.

Every instant a person or a consumer reads (reason texts, the ledger text a consumer's points
grant carries, CLI tables, the dashboard) is written by :func:`as_read`, so that a reason
never says ``due 2026-11-27T01:30:00+00:00`` beside fields that say ``09:30:00+08:00``.
Comparisons stay in UTC (:mod:`slamon.models.judge`); only the text changes.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

# The shipped policies' calendar zone (Tmall's); where a text is written without its policy at
# hand (the scheduler, a compensation, an operator's view), instants are read in it.
DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")


def as_read(at: datetime, zone: tzinfo = DISPLAY_ZONE) -> str:
    """``at`` in ``zone`` as ISO 8601 with its offset, e.g. ``2026-11-27T09:30:00+08:00``."""
    if at.tzinfo is None or at.utcoffset() is None:
        # A naive reading would silently be taken as the zone's wall time.
        raise ValueError(f"instant {at.isoformat()} must carry a UTC offset")
    return at.astimezone(zone).isoformat()
