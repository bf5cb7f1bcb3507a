"""The decisions a log line records, and the ids each carries.

With ``SLAMON_LOG_FORMAT=json`` every decision is one JSON line (:mod:`slamon.log_format`) with
these fields beside the message, so that an operator can follow one case, event, deadline or
compensation through the logs of every process with a filter instead of a regular expression.
The callers pass ``extra=decision(...)`` to the logging call; the text format ignores it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

# The attribute of a log record that carries the decision's fields.
RECORD_ATTRIBUTE = "slamon_decision"


class Decision(StrEnum):
    EVENT_APPLIED = "event.applied"
    EVENT_PARKED = "event.parked"
    EVENT_REJECTED = "event.rejected"
    EVENT_DUPLICATE = "event.duplicate"
    EVENT_CONFLICT = "event.conflict"  # an event id seen again with other content
    EVENT_DEAD_LETTERED = "event.dead_lettered"
    DEADLINE_JUDGED = "deadline.judged"
    BREACH_RECORDED = "breach.recorded"
    BREACH_CONTESTED = "breach.contested"
    COMPENSATION_PAID = "compensation.paid"
    COMPENSATION_RETRY = "compensation.retry"
    COMPENSATION_FAILED = "compensation.failed"
    COMPENSATION_HELD = "compensation.held"
    COMPENSATION_REVIEW = "compensation.review"


def decision(
    name: Decision,
    *,
    case_id: str | None,
    event_id: str | None = None,
    kind: str | None = None,
    deadline_id: int | None = None,
    breach_id: int | None = None,
    compensation_id: int | None = None,
    **more: Any,
) -> dict[str, dict[str, Any]]:
    """The ``extra`` mapping of one decision's log call: every id named, unknown ones null."""
    return {RECORD_ATTRIBUTE: {
        "decision": str(name), "case_id": case_id, "event_id": event_id, "kind": kind,
        "deadline_id": deadline_id, "breach_id": breach_id, "compensation_id": compensation_id,
        **more,
    }}
