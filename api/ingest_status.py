"""What the API says about the ingest watermark: the ``judgement`` readiness check and the
dashboard overview's ``ingest`` figures (:mod:`slamon.models.watermark`).

While the oldest accepted message has waited longer than SLAMON_INGEST_BEHIND_SECONDS, both
say "judgement paused, ingest behind by N s": deadlines due since it was accepted are not
judged until it is applied, and judgement resumes by itself when the backlog drains.
"""

from __future__ import annotations

import time
from typing import Any

from slamon.api.broker_gauges import BrokerProbe

UNREADABLE = "judgement paused, the broker cannot be read"


def judgement_check(probe: BrokerProbe, behind_limit: float) -> str:
    """"ok", or why judgement waits."""
    reading = probe.read(time.time())
    if reading is None:
        return UNREADABLE
    return reading.watermark.describe(behind_limit)


def ingest_summary(probe: BrokerProbe, behind_limit: float) -> dict[str, Any]:
    """The overview's figures: is judgement paused, how far behind, how many unapplied."""
    reading = probe.read(time.time())
    if reading is None:
        return {"paused": True, "status": UNREADABLE, "behind_seconds": None,
                "unapplied": None, "presumed_lost": None}
    mark = reading.watermark
    return {
        "paused": mark.paused(behind_limit),
        "status": mark.describe(behind_limit),
        "behind_seconds": round(mark.behind_seconds, 1),
        "unapplied": mark.unapplied,
        "presumed_lost": mark.presumed_lost,
    }
