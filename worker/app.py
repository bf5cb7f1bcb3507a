"""The Celery application: configuration only, no business logic.

Every choice here is about not losing or repeating work:
- JSON only: a pickle payload from the queue could run code in the worker.
- ``acks_late`` + ``reject_on_worker_lost``: a message is acknowledged after its task ran, so a
  worker killed mid-task leaves it on the queue for another one. That is safe only because every
  task is idempotent (the inbox dedupes events, unique rows guard breaches and payments).
- prefetch 4: with acks_late a worker holds its prefetched messages unacknowledged; keeping that
  small keeps redelivery after a crash small too, while still batching broker round-trips.
- a short visibility timeout (:mod:`slamon.worker.redelivery`): a dead worker's messages are
  delivered again within a minute; so no countdown longer than a few seconds, and deadlines
  and long retries live in the database (see scheduler/).
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from slamon.worker import redelivery
from slamon.worker.heartbeat import Heartbeat

EVENTS_QUEUE = "sla.events"
COMPENSATION_QUEUE = "sla.compensation"
QUEUES = (EVENTS_QUEUE, COMPENSATION_QUEUE)  # what `slamon worker` consumes by default

# Celery's Redis transport re-delivers an unacked message after this long; no task may run
# (or wait on a countdown) longer than this (see slamon.worker.redelivery).
VISIBILITY_TIMEOUT_SECONDS = redelivery.VISIBILITY_TIMEOUT_SECONDS


def create_app(broker_url: str | None = None) -> Celery:
    app = Celery("slamon", broker=broker_url, include=["slamon.worker.tasks"])
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue=EVENTS_QUEUE,
        task_routes={
            "sla.ingest": {"queue": EVENTS_QUEUE},
            "sla.compensate": {"queue": COMPENSATION_QUEUE},
            "sla.compensate_batch": {"queue": COMPENSATION_QUEUE},
        },
        # Flower shows every task only if workers emit events and the client emits "sent".
        worker_send_task_events=True,
        task_send_sent_event=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=redelivery.transport_options(VISIBILITY_TIMEOUT_SECONDS),
        worker_hijack_root_logger=False,
        # Messages the worker cannot run are dead-lettered, not dropped (worker/consumer.py).
        worker_consumer="slamon.worker.consumer:DeadLetteringConsumer",
        enable_utc=True,
        timezone="UTC",
    )
    # Each worker stamps itself in the broker, so /metrics can tell that none is running.
    app.steps["worker"].add(Heartbeat)
    return app


# The app the tasks register on. It has no broker until the shell (slamon.bootstrap) sets one
# from the settings, so that importing this package reads no configuration.
app = create_app()
