"""Events for the fault tests: one ``help.opened`` per case, so that every event applied has
one visible effect (a case row) and an event applied twice would show as a missing duplicate
count or a second effect."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.support.histories import opened_event


def openings(prefix: str, count: int, per_message: int = 1) -> list[str]:
    """Message bodies carrying ``count`` openings, ``per_message`` events each."""
    at = datetime.now(UTC).replace(microsecond=0)
    events = [opened_event(f"{prefix}{n:06d}", f"{prefix}{n:06d}-0", at) for n in range(count)]
    return [
        json.dumps(events[i : i + per_message], ensure_ascii=False)
        for i in range(0, count, per_message)
    ]
