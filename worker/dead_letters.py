"""Dead letters: what could not be ingested, listed for operators and replayed once fixed.

A dead letter keeps the text as it was received (``raw``), why it could not be used
(``error``), and, once an operator supplied one, a corrected text (``corrected_raw``). Its
*current text* is the correction if there is one, else the raw text.

Replaying a letter (:func:`replay`), in one transaction:
  1. Lock the letter (two operators replaying it at once would only produce duplicates, which
     the inbox ignores, but one outcome per replay is clearer).
  2. Take the text to replay: a new correction (stored as ``corrected_raw``), or the letter's
     current text.
  3. Read it exactly as ingest does (:func:`slamon.worker.ingest.decode`, the clock-skew check). If
     anything is still wrong, nothing is applied: the letter stays, its ``error`` now says
     what is wrong with this text, and the result says so.
  4. Otherwise ingest the events through the same path as the queue (source ``replay``) and
     mark the letter ``replayed_at``. Whatever the events' outcomes (applied, parked,
     duplicate, rejected by the case lifecycle), the letter has been used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from slamon.models.db.engine import transaction
from slamon.models.db.tables import DeadLetter
from slamon.models.events import HelpEvent
from slamon.worker.ingest import (
    IngestOutcome,
    Unreadable,
    decode,
    future_error,
    ingest_in_session,
    storable,
)
from slamon.worker.runtime import Runtime

SOURCE = "replay"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
SHOWN_RAW_CHARS = 2000  # a listing shows this much of each text; `show` prints it whole
UTC_ZONE = ZoneInfo("UTC")


class DeadLetterNotFoundError(LookupError):
    def __init__(self, letter_id: int) -> None:
        super().__init__(f"no dead letter #{letter_id}")
        self.letter_id = letter_id


@dataclass(frozen=True)
class ReplayResult:
    letter_id: int
    replayed: bool
    error: str | None = None  # why the text is still refused (replayed is False)
    outcomes: tuple[IngestOutcome, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": self.letter_id,
            "status": "replayed" if self.replayed else "invalid",
        }
        if self.error is not None:
            result["error"] = self.error
        if self.outcomes:
            result["events"] = [o.as_dict() for o in self.outcomes]
        return result


def replay(runtime: Runtime, letter_id: int, correction: str | None = None) -> ReplayResult:
    """Replay dead letter ``letter_id`` (see the module docstring); raises
    :class:`DeadLetterNotFoundError` if there is no such letter."""
    now = runtime.now()
    with transaction(runtime.engine) as session:
        letter = session.get(DeadLetter, letter_id, with_for_update=True)  # step 1
        if letter is None:
            raise DeadLetterNotFoundError(letter_id)
        if correction is not None:  # step 2
            letter.corrected_raw = storable(correction)
        text = letter.corrected_raw if letter.corrected_raw is not None else letter.raw
        events, problems = _read(runtime, text, now)  # step 3
        if problems:
            letter.error = storable("; ".join(problems))
            return ReplayResult(letter_id, False, letter.error)
        outcomes = ingest_in_session(session, runtime, events, now, SOURCE)  # step 4
        letter.replayed_at = now
        return ReplayResult(letter_id, True, None, tuple(outcomes))


def replay_pending(
    runtime: Runtime,
    limit: int | None = None,
    on_result: Callable[[ReplayResult], None] | None = None,
) -> list[ReplayResult]:
    """Replay every letter not replayed yet, oldest first, each in its own transaction."""
    with transaction(runtime.engine) as session:
        query = select(DeadLetter.id).where(DeadLetter.replayed_at.is_(None))
        ids = list(session.scalars(query.order_by(DeadLetter.id).limit(limit)))
    results = []
    for letter_id in ids:
        result = replay(runtime, letter_id)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _read(runtime: Runtime, text: str, now: datetime) -> tuple[list[HelpEvent], list[str]]:
    events: list[HelpEvent] = []
    problems: list[str] = []
    items = decode(text)
    for index, item in enumerate(items):
        where = f"event {index}: " if len(items) > 1 else ""
        if isinstance(item, Unreadable):
            problems.append(where + item.error)
        elif (error := future_error(runtime, item, now)) is not None:
            problems.append(where + error)
        else:
            events.append(item)
    return events, problems


# --- read side -------------------------------------------------------------------------------


def list_dead_letters(
    session: Session,
    limit: int = DEFAULT_LIMIT,
    include_replayed: bool = False,
    zone: tzinfo = UTC_ZONE,
) -> list[dict[str, Any]]:
    """The newest letters first (only those not replayed yet, unless ``include_replayed``)."""
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return [dead_letter_view(letter, zone, SHOWN_RAW_CHARS) for letter in session.scalars(query)]


def get_dead_letter(session: Session, letter_id: int, zone: tzinfo = UTC_ZONE) -> dict[str, Any]:
    """One letter with its texts in full; raises :class:`DeadLetterNotFoundError`."""
    letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise DeadLetterNotFoundError(letter_id)
    return dead_letter_view(letter, zone, None)


def dead_letter_view(letter: DeadLetter, zone: tzinfo, shown: int | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": letter.id,
        "received_at": letter.received_at.astimezone(zone).isoformat(),
        "source": letter.source,
        "event_id": letter.event_id,
        "error": letter.error,
        "cause": letter.cause,
        "replayed_at": (
            letter.replayed_at.astimezone(zone).isoformat() if letter.replayed_at else None
        ),
    }
    for name in ("raw", "corrected_raw"):
        text: str | None = getattr(letter, name)
        if text is not None and shown is not None and len(text) > shown:
            view[name], view[f"{name}_chars"] = text[:shown] + "…", len(text)
        else:
            view[name] = text
    return view
