"""A Celery consumer that dead-letters messages it cannot run instead of dropping them.

Celery's stock consumer logs and discards a message it cannot decode, one that is not in the
task protocol, or one naming an unknown task. Here each is written to ``dead_letters`` with its
raw body and the reason before it is acknowledged, so "nothing accepted is lost" holds even for
a producer that bypasses the SDK. If the dead letter cannot be written (database down), the
message is requeued rather than acknowledged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.worker.consumer import Consumer

from slamon.models.dead_letter_causes import Cause
from slamon.worker import ingest, runtime

log = logging.getLogger("slamon.consumer")


def _raw(message: Any, body: Any = None) -> str:
    raw = message.body if body is None else body
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return raw if isinstance(raw, str) else repr(raw)


class DeadLetteringConsumer(Consumer):  # type: ignore[misc]
    def _dead_letter(self, message: Any, raw: str, reason: str, cause: Cause) -> None:
        headers = getattr(message, "headers", None) or {}
        try:
            ingest.dead_letter(runtime.current(), raw, reason, cause, "queue", headers.get("id"))
        except Exception:
            log.exception("could not dead-letter a message; requeueing it")
            time.sleep(1)  # do not spin on a database that is down
            message.reject(requeue=True)
            return
        message.ack()

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._dead_letter(message, _raw(message), f"undecodable message: {exc}",
                          Cause.UNDECODABLE)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._dead_letter(message, _raw(message, body), "not a Celery task message",
                          Cause.NOT_A_TASK)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        name = (getattr(message, "headers", None) or {}).get("task")
        self._dead_letter(message, _raw(message, body), f"unknown task {name!r}: {exc}",
                          Cause.UNKNOWN_TASK)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._dead_letter(message, _raw(message, body), f"invalid task message: {exc}",
                          Cause.INVALID_TASK)
