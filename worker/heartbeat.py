"""Workers say they are alive: a Celery bootstep that stamps this worker in a Redis sorted set.

``/metrics`` counts the workers stamped within :data:`ALIVE_WITHIN_SECONDS` (the
``slamon_workers`` gauge), so "no worker" is an alert on one number, whichever API replica is
scraped. Celery's own heartbeats are broadcast events that only a listener running at that
moment sees (Flower); a stamp in the broker is there for any reader. A worker that stops
cleanly removes its stamp; one that dies leaves a stamp that stops being counted.

Each beat also stamps the worker in one sorted set per queue it consumes
(:func:`consumers_key`), so ``/readyz`` can say that *someone consumes* ``sla.events``: a worker
started with ``--queues sla.compensation`` alone keeps the service alive but not ready.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, ClassVar

import redis
from celery import bootsteps

log = logging.getLogger("slamon.heartbeat")

WORKERS_KEY = "slamon:workers"
CONSUMERS_KEY_PREFIX = "slamon:consumers:"
BEAT_SECONDS = 10.0
ALIVE_WITHIN_SECONDS = 3 * BEAT_SECONDS  # two beats may be missed (a busy host) before we say


def consumers_key(queue: str) -> str:
    """The sorted set of the workers that consume ``queue``, scored by their latest beat."""
    return f"{CONSUMERS_KEY_PREFIX}{queue}"


def latest_consumer_beat(client: redis.Redis, queue: str) -> float | None:
    """The latest beat (Unix time) of a worker consuming ``queue``, or None if none beat."""
    newest = client.zrevrange(consumers_key(queue), 0, 0, withscores=True)
    return float(newest[0][1]) if newest else None


def alive_workers(client: redis.Redis, now: float) -> int:
    """How many workers stamped themselves within the window; forgets the long-gone ones."""
    pipe = client.pipeline()
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 100 * ALIVE_WITHIN_SECONDS)
    pipe.zcount(WORKERS_KEY, now - ALIVE_WITHIN_SECONDS, "+inf")
    return int(pipe.execute()[1])


class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
    """Stamps ``WORKERS_KEY`` with this worker's node name every :data:`BEAT_SECONDS`."""

    requires: ClassVar[set[str]] = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer_ref: Any = None
        self.client: redis.Redis | None = None
        self.queues: tuple[str, ...] = ()

    def start(self, worker: Any) -> None:
        self.client = redis.Redis.from_url(
            worker.app.conf.broker_url, socket_timeout=2, socket_connect_timeout=2
        )
        # The queues of --queues (all declared ones when it was not given).
        self.queues = tuple(sorted(worker.app.amqp.queues.consume_from))
        self.beat(worker.hostname)
        self.timer_ref = worker.timer.call_repeatedly(
            BEAT_SECONDS, self.beat, (worker.hostname,), priority=10
        )

    def stop(self, worker: Any) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
        if self.client is not None:
            with contextlib.suppress(redis.RedisError):  # the stamp ages out on its own
                pipe = self.client.pipeline()
                for key in (WORKERS_KEY, *map(consumers_key, self.queues)):
                    pipe.zrem(key, worker.hostname)
                pipe.execute()

    def beat(self, hostname: str) -> None:
        if self.client is None:
            return
        now = time.time()
        try:
            pipe = self.client.pipeline()
            for key in (WORKERS_KEY, *map(consumers_key, self.queues)):
                pipe.zadd(key, {hostname: now})
                pipe.zremrangebyscore(key, "-inf", now - 100 * ALIVE_WITHIN_SECONDS)
            pipe.execute()
        except redis.RedisError as exc:  # the broker is away: the worker is idle anyway
            log.warning("heartbeat not recorded: %s", exc)
