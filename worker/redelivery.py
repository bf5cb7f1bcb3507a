"""How soon the broker hands a dead worker's messages to another one, and what that allows.

Celery's Redis transport emulates acknowledgements: a fetched message is parked in the
``unacked`` hash (scored by its fetch time in ``unacked_index``) until the task acks it, and
every consumer periodically moves entries older than the *visibility timeout* back onto their
queue. That sweep is the only redelivery there is for a worker that died (SIGKILL, OOM, lost
host): a killed process cannot restore anything itself, and kombu's restore-at-start-up runs
only under gevent. So the visibility timeout *is* the redelivery delay.

slamon keeps it short (:data:`VISIBILITY_TIMEOUT_SECONDS`, SLAMON_BROKER_VISIBILITY_TIMEOUT_SECONDS)
and sweeps often (:data:`RESTORE_INTERVAL_SECONDS`, every sweep a real scan): a message held
by a dead worker is queued again within ``visibility timeout + restore interval`` of its fetch,
well inside a minute. The price of a short timeout is that nothing may stay unacknowledged
longer in a *live* worker either, or it is delivered twice:

- a Celery countdown (ETA) is held unacked until it runs, so no countdown may exceed
  :data:`MAX_COUNTDOWN_SECONDS` (half the shortest allowed timeout). Longer waits live in the
  database: a compensation retry further off is left to the scheduler's redispatch claim,
  which dispatches it once when its ``next_attempt_at`` comes (:mod:`slamon.worker.compensation`);
- tasks are short (a batch of events, a chunk of payments with a few seconds' timeout each).

Anything that still runs twice (a very slow task, a stopped-and-resumed worker) is harmless:
every task is idempotent (the inbox dedupes events, unique rows guard breaches and payments).
"""

from __future__ import annotations

from typing import Any

# The default; SLAMON_BROKER_VISIBILITY_TIMEOUT_SECONDS sets it (at least this floor).
VISIBILITY_TIMEOUT_SECONDS = 40.0
MIN_VISIBILITY_TIMEOUT_SECONDS = 30.0
# kombu sweeps every 10 s and scans on every 10th sweep by default (~100 s); scan every 5 s.
RESTORE_INTERVAL_SECONDS = 5
# The longest countdown any slamon task may be given: fits the shortest allowed timeout twice.
MAX_COUNTDOWN_SECONDS = MIN_VISIBILITY_TIMEOUT_SECONDS / 2


def transport_options(visibility_timeout: float = VISIBILITY_TIMEOUT_SECONDS) -> dict[str, Any]:
    """The Redis transport options that make redelivery after a worker's death fast."""
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": RESTORE_INTERVAL_SECONDS,
        "unacked_restore_throttle": 1,  # every sweep scans (kombu's default: every 10th)
    }


def fits(countdown: float) -> bool:
    """Whether a Celery countdown of ``countdown`` seconds is safe on this broker."""
    return countdown <= MAX_COUNTDOWN_SECONDS
