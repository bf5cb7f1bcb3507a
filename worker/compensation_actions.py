"""What an operator may do to a compensation (``slamon compensations …`` and the HTTP API).

Each action is one move of the compensation lifecycle
(:data:`slamon.models.states.COMPENSATION`), taken on the row locked for update, so two
operators (or an operator and a worker) cannot both move the same compensation.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from slamon.models.db.ops import compensation_view
from slamon.models.db.tables import Compensation
from slamon.models.db.views import UTC_ZONE
from slamon.models.states import COMPENSATION, CompensationStatus


class CompensationNotFoundError(LookupError):
    """No compensation has this id."""


class CompensationNotRetryableError(ValueError):
    """Only a failed compensation can be retried; the message says what state it is in."""


def retry_compensation(
    session: Session, compensation_id: int, now: datetime, zone: tzinfo = UTC_ZONE
) -> dict[str, Any]:
    """Put a failed compensation back to pending, due for dispatch at ``now``.

    The scheduler dispatches pending compensations whose ``next_attempt_at`` has passed, so
    the retry is sent within its next step; no broker is needed here. The idempotency key is
    unchanged, so a grant the points service did record is never paid twice.
    """
    comp = session.get(Compensation, compensation_id, with_for_update=True)
    if comp is None:
        raise CompensationNotFoundError(f"no compensation {compensation_id}")
    if comp.status != CompensationStatus.FAILED:
        raise CompensationNotRetryableError(
            f"compensation {compensation_id} is {comp.status}; only a failed one can be retried"
        )
    comp.status = COMPENSATION.move(comp.status, CompensationStatus.PENDING)
    comp.next_attempt_at = now
    session.flush()
    return compensation_view(comp, zone)
