"""The outbox relay: publishes outbound events written by the sweeper and the services.

An outbox row is written in the same transaction as the change it announces (a breach, an
at-risk flag, a payment), so an event is never announced for a change that rolled back, nor
lost for one that committed. The relay then delivers each row, at least once, to every
publisher (the Redis Stream, webhooks), in id order:

1. **Claim** up to ``batch`` unpublished rows whose ``next_attempt_at`` is empty or past, in
   one short transaction: ``next_attempt_at = now + lease`` (a lease, as for deadlines, so
   replicas never publish the same rows together and a relay that dies mid-publish only
   delays them) and ``attempts + 1``. Postgres picks rows with ``FOR UPDATE SKIP LOCKED``.
2. **Publish** outside any transaction (a webhook may be slow): every publisher in turn.
3. **Record**: rows every publisher accepted get ``published_at``; the others keep their
   error and wait an exponential backoff (at most five minutes) before the next attempt.
   A publisher that accepted a row whose other publisher failed will see it again: delivery
   is at least once, and every message carries a stable ``message_id`` to dedupe on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, or_, select, update

from slamon.models.db.claims import claim_rows
from slamon.models.db.engine import transaction
from slamon.models.db.tables import OutboxMessage

log = logging.getLogger("slamon.outbox")

MAX_BACKOFF_SECONDS = 300


@dataclass(frozen=True)
class OutboundMessage:
    """One outbound event as publishers see it."""

    outbox_id: int
    message_id: str
    topic: str
    case_id: str
    created_at: datetime
    payload: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The envelope sent to webhooks: the stable id, topic, case and the event itself."""
        return {
            "message_id": self.message_id,
            "topic": self.topic,
            "case_id": self.case_id,
            "created_at": self.created_at.isoformat(),
            "payload": self.payload,
        }


class Publisher(Protocol):
    """Delivers outbound messages somewhere; each one is accepted or fails with a reason."""

    name: str

    def publish(self, messages: Sequence[OutboundMessage]) -> list[str | None]:
        """Deliver ``messages`` in order; one entry per message: None if accepted, else why not."""
        ...


@dataclass(frozen=True)
class RelayResult:
    claimed: int
    published: int
    failed: int


def relay_outbox(
    engine: Engine,
    publishers: Sequence[Publisher],
    clock: Callable[[], datetime],
    batch: int,
    lease: timedelta,
) -> RelayResult:
    """Claim, publish and record one batch of the outbox; see the module docstring. ``lease``
    (SLAMON_OUTBOX_LEASE_SECONDS) must outlast a publishing round, webhook timeouts included."""
    claimed = _claim(engine, clock(), batch, lease)
    messages = [message for message, _ in claimed]
    if not messages:
        return RelayResult(0, 0, 0)
    errors: dict[int, str] = {}
    for publisher in publishers:
        outcomes = publisher.publish(messages)
        for message, error in zip(messages, outcomes, strict=True):
            if error is not None and message.outbox_id not in errors:
                errors[message.outbox_id] = f"{publisher.name}: {error}"
    now = clock()
    published = [m.outbox_id for m in messages if m.outbox_id not in errors]
    with transaction(engine) as session:
        if published:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(published))
                .values(published_at=now, next_attempt_at=None, last_error=None)
            )
        for message, attempts in claimed:
            if message.outbox_id in errors:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message.outbox_id)
                    .values(
                        next_attempt_at=now + _backoff(attempts),
                        last_error=errors[message.outbox_id],
                    )
                )
    for message in messages:
        if message.outbox_id in errors:
            log.warning("outbox %s (case %s): not delivered, will retry: %s",
                        message.message_id, message.case_id, errors[message.outbox_id])
    return RelayResult(len(messages), len(published), len(errors))


def _claim(
    engine: Engine, now: datetime, batch: int, lease: timedelta
) -> list[tuple[OutboundMessage, int]]:
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.published_at.is_(None),
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        )
        .order_by(OutboxMessage.id)
        .limit(batch)
    )
    with transaction(engine) as session:
        ids = claim_rows(
            session, OutboxMessage, due,
            next_attempt_at=now + lease, attempts=OutboxMessage.attempts + 1,
        )
        rows = session.execute(
            select(
                OutboxMessage.id, OutboxMessage.message_id, OutboxMessage.topic,
                OutboxMessage.case_id, OutboxMessage.created_at, OutboxMessage.payload,
                OutboxMessage.attempts,
            )
            .where(OutboxMessage.id.in_(ids))
            .order_by(OutboxMessage.id)
        ).all() if ids else []
    # Publishers get the messages in the order they were written.
    return [(OutboundMessage(*row[:6]), int(row[6])) for row in rows]


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2 ** min(attempts, 16)))
