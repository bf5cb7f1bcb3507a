"""A Celery consumer under which no broker message crashes the worker or vanishes unrecorded.

Every message first passes the gate (:mod:`slamon.worker.message_gate`): one it refuses (an
unreadable queue item, a foreign content type, a header of the wrong type, a task that is not
slamon's, arguments that do not fit, an ``expires`` passed, an ``eta`` too far ahead) is written
to ``dead_letters`` with the reason and the raw item, then acknowledged. A message that passes
goes to Celery; whatever Celery still raises about it (and the four callbacks Celery calls for
what it cannot run) ends the same way. If the dead letter cannot be written (database down),
the message is requeued rather than acknowledged: it stays on the queue.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

import redis
from celery.worker.consumer import Consumer
from vine import promise

from slamon.models.dead_letter_causes import Cause
from slamon.worker import ingest, ingest_watermark, message_gate, runtime
from slamon.worker.message_gate import ARGUMENT_CHECKS, raw_item

log = logging.getLogger("slamon.consumer")

REQUEUE_PAUSE_SECONDS = 1.0  # do not spin on a database that is down


def _raw(message: Any, body: Any = None) -> str:
    raw = message.body if body is None else body
    if isinstance(raw, bytes):
        return message_gate.text_of(raw)
    return raw if isinstance(raw, str) else repr(raw)


class DeadLetteringConsumer(Consumer):  # type: ignore[misc]
    _signatures: dict[str, inspect.Signature] | None = None

    def signatures(self) -> dict[str, inspect.Signature]:
        """The run signatures of slamon's own tasks: the only ones this worker runs."""
        if self._signatures is None:
            self._signatures = {
                name: inspect.signature(self.app.tasks[name].run) for name in ARGUMENT_CHECKS
            }
        return self._signatures

    def create_task_handler(self, promise: Any = promise) -> Any:
        run = super().create_task_handler(promise)

        def on_task_received(message: Any) -> None:
            rt = runtime.current()
            refused = message_gate.refusal(message, rt.now(), rt.message_limits,
                                           self.signatures())
            if refused is not None:
                self._dead_letter(message, refused.raw, refused.reason, refused.cause,
                                  refused.event_id)
                return
            try:
                run(message)
            except Exception as exc:  # what Celery raises outside its callbacks: kept too
                log.exception("Celery could not take a message; dead-lettering it")
                self._dead_letter(message, raw_item(message), f"invalid task message: {exc!r}",
                                  Cause.INVALID_TASK)

        return on_task_received

    def _dead_letter(
        self, message: Any, raw: str, reason: str, cause: Cause, event_id: Any = None
    ) -> None:
        if event_id is None:
            headers = message.headers if isinstance(message.headers, dict) else {}
            event_id = headers.get("id")
        try:
            ingest.dead_letter(runtime.current(), raw, reason, cause, "queue", event_id)
        except Exception:
            log.exception("could not dead-letter a message; requeueing it")
            time.sleep(REQUEUE_PAUSE_SECONDS)
            message.reject(requeue=True)
            return
        self._off_the_watermark(message)
        message.ack()

    def _off_the_watermark(self, message: Any) -> None:
        """A message refused here never reaches the task that takes it off the ingest
        watermark's ledger once done: take it off now (it is recorded, as a dead letter), or
        it would hold judgement back until presumed lost (an SDK batch over the size limit)."""
        headers = message.headers if isinstance(message.headers, dict) else {}
        task_id = headers.get("id")
        if not isinstance(task_id, str):
            return
        try:
            ingest_watermark.forget(self.app.conf.broker_url, task_id)
        except redis.RedisError:
            log.warning("message %s dead-lettered but still on the ingest watermark's ledger "
                        "(broker unreachable); it ages out as presumed lost", task_id)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._dead_letter(message, _raw(message), f"undecodable message: {exc}",
                          Cause.UNDECODABLE)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._dead_letter(message, _raw(message, body), "not a Celery task message",
                          Cause.NOT_A_TASK)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        headers = message.headers if isinstance(message.headers, dict) else {}
        self._dead_letter(message, _raw(message, body),
                          f"unknown task {headers.get('task')!r}: {exc}", Cause.UNKNOWN_TASK)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._dead_letter(message, _raw(message, body), f"invalid task message: {exc}",
                          Cause.INVALID_TASK)
