"""The retry policy of every slamon task, in one base class (as pypi/warehouse's WarehouseTask).

- **Transient database errors** (:data:`TRANSIENT_DATABASE_ERRORS`: a restart, a failover, a
  dropped connection, a lock or statement timeout) are waited out: Celery retries the task
  (``autoretry_for``) after an exponential backoff of 1, 2, 4… seconds capped at
  :data:`RETRY_BACKOFF_MAX`, with full jitter so that workers which lost the database together
  do not all come back in the same second, and as many times as it takes (``max_retries``
  None). The cap keeps every countdown far inside the broker's visibility timeout.
- **Every other error** (a constraint, a value the database refuses, a ``ProgrammingError``
  from SQL or a schema that does not match the code, a bug) would fail the same way on every
  retry, so it is not retried; each task says what becomes of its message (``sla.ingest``
  dead-letters it).
- ``acks_late``: a message is acknowledged once its task has run, so a worker killed mid-task
  leaves it for another one; safe because every task is idempotent.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from sqlalchemy.exc import InterfaceError, OperationalError

from slamon.worker.redelivery import MAX_COUNTDOWN_SECONDS

log = logging.getLogger("slamon.tasks")

TRANSIENT_DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
# A countdown the broker's short visibility timeout allows (slamon.worker.redelivery).
RETRY_BACKOFF_MAX = int(MAX_COUNTDOWN_SECONDS)  # seconds


class SlamonTask(Task):
    autoretry_for = TRANSIENT_DATABASE_ERRORS
    retry_backoff = 1  # seconds before the first retry, doubled each time
    retry_backoff_max = RETRY_BACKOFF_MAX
    retry_jitter = True
    max_retries = None
    acks_late = True
    ignore_result = True

    def on_retry(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # Celery logs a retry at INFO; waiting for the database or the points service is
        # worth a warning an operator sees.
        log.warning("%s %s: retry %d: %s", self.name, task_id, self.request.retries + 1, exc)
