"""What ``/metrics`` reads from the broker: messages waiting per queue, live workers, and the
ingest watermark (:mod:`slamon.worker.ingest_watermark`).

The broker is shared by every replica, like the database, so these agree across API replicas
too. A scrape must answer even when Redis does not: the probe waits at most ``timeout``
seconds and then reports the broker as down (``slamon_broker_up 0``) with no queue samples,
rather than a depth of 0 that would read as "all caught up".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from slamon.models.watermark import IngestWatermark
from slamon.worker import ingest_watermark
from slamon.worker.app import QUEUES
from slamon.worker.heartbeat import alive_workers

log = logging.getLogger("slamon.metrics")

PROBE_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class BrokerReading:
    queue_depths: dict[str, int]
    workers: int
    watermark: IngestWatermark


class BrokerProbe:
    """Reads queue lengths and worker stamps from the Redis that ``broker_url()`` names."""

    def __init__(
        self,
        broker_url: Callable[[], str],
        queues: Sequence[str] = QUEUES,
        timeout: float = PROBE_TIMEOUT_SECONDS,
        presumed_lost_after: float = 21_600.0,
    ) -> None:
        self._broker_url = broker_url
        self._presumed_lost_after = presumed_lost_after
        self._queues = tuple(queues)
        self._timeout = timeout
        self._client: redis.Redis | None = None

    def read(self, now: float) -> BrokerReading | None:
        """The reading as of ``now`` (Unix seconds), or None when the broker cannot be read."""
        try:
            client = self._connect()
            pipe = client.pipeline(transaction=False)
            # Celery's Redis transport keeps a queue's waiting messages in a list named after
            # it (slamon sends no priorities, which would go to lists beside it).
            for queue in self._queues:
                pipe.llen(queue)
            depths = dict(zip(self._queues, (int(n) for n in pipe.execute()), strict=True))
            watermark = ingest_watermark.read(client, self._presumed_lost_after)
            return BrokerReading(depths, alive_workers(client, now), watermark)
        except (redis.RedisError, OSError, RuntimeError) as exc:
            # RuntimeError: no broker is configured or running (slamon.settings.NoBrokerError).
            log.warning("metrics: broker not readable: %s", exc)
            self._client = None
            return None

    def _connect(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(
                self._broker_url(),
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
            )
        return self._client
