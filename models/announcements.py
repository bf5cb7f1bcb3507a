"""The shape of an outbox row: one builder for every announcement the service makes.

``message_id`` is ``topic:key`` with a key that names what is announced (``case:kind``, or a
compensation's idempotency key), so a retried transaction cannot announce the same thing
twice (the outbox's unique constraint) and consumers can dedupe on it after an at-least-once
relay. The payload repeats ``message_id`` and ``case_id`` so it stands on its own on the
stream or in a webhook.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def message_id_for(topic: str, key: str) -> str:
    return f"{topic}:{key}"


def outbox_row(topic: str, key: str, case_id: str, now: datetime, **payload: Any) -> dict[str, Any]:
    message_id = message_id_for(topic, key)
    return {
        "message_id": message_id,
        "topic": topic,
        "case_id": case_id,
        "created_at": now,
        "attempts": 0,
        "payload": {"message_id": message_id, "case_id": case_id, **payload},
    }
