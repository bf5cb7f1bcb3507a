"""The scheduler process: wires the sweeper loop (scheduler/) to Celery, Redis and webhooks."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Sequence

import redis

from slamon.bootstrap import build_runtime, configure_celery, configure_logging
from slamon.models.db.engine import engine_for
from slamon.models.watermark import IngestWatermark
from slamon.scheduler.loop import LoopConfig, SchedulerLoop
from slamon.scheduler.outbox import Publisher, relay_outbox
from slamon.scheduler.publishers import RedisStreamPublisher, WebhookPublisher
from slamon.scheduler.sweep_stamp import record_sweep
from slamon.settings import NoBrokerError, Settings
from slamon.worker import ingest_watermark
from slamon.worker.app import COMPENSATION_QUEUE
from slamon.worker.app import app as celery_app
from slamon.worker.runtime import Runtime

log = logging.getLogger("slamon.scheduler")


def claimer_id() -> str:
    """Unique per process (a restarted scheduler must not inherit its predecessor's leases)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def build_loop(settings: Settings, runtime: Runtime) -> SchedulerLoop:
    config = LoopConfig(
        claimer=claimer_id(),
        batch=settings.sweep_batch,
        lease=settings.claim_lease,
        redispatch_after=settings.redispatch_after,
    )
    client = redis.Redis.from_url(settings.broker)
    publishers = _publishers(settings, client)
    engine = engine_for(settings.database)

    def dispatch(compensation_ids: Sequence[int]) -> None:
        celery_app.send_task(
            "sla.compensate_batch", args=[list(compensation_ids)], queue=COMPENSATION_QUEUE
        )

    def relay() -> int:
        return relay_outbox(
            engine, publishers, runtime.now, settings.sweep_batch, settings.outbox_lease
        ).published

    def backlog() -> int:
        # Celery's Redis transport keeps a queue's ready messages in a list of its name.
        return int(client.llen(COMPENSATION_QUEUE))

    def swept() -> None:
        record_sweep(client, config.claimer, time.time())

    def watermark() -> IngestWatermark:
        return ingest_watermark.read(client, settings.ingest_presumed_lost_seconds)

    return SchedulerLoop(
        engine, config, runtime.now, dispatch, relay, backlog, swept, watermark
    )


def _publishers(settings: Settings, client: redis.Redis) -> list[Publisher]:
    publishers: list[Publisher] = [RedisStreamPublisher(client, settings.outbound_stream)]
    keys = settings.webhook_keys
    if settings.webhook_urls:
        assert keys is not None  # enforced by Settings
        publishers.append(
            WebhookPublisher(
                [str(u) for u in settings.webhook_urls],
                keys,
                timeout=settings.webhook_timeout_seconds,
            )
        )
    return publishers


def run_scheduler_role(settings: Settings) -> int:
    configure_logging(settings)
    runtime = build_runtime(settings)
    try:
        configure_celery(settings)
        loop = build_loop(settings, runtime)
    except NoBrokerError as exc:
        log.error("%s", exc)
        return 2
    stop = threading.Event()
    # SIGTERM sets a flag; the loop finishes its step and exits (no half-written sweep).
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    loop.run(stop, settings.scheduler_interval_seconds)
    log.info("scheduler stopped")
    return 0
