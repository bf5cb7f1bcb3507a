"""The naive durable timer: one Celery task per deadline, sent with ``apply_async(countdown=…)``.

What issue 5 compares the database sweeper with. The app is built by the production factory
(:func:`slamon.worker.app.create_app`): JSON, ``acks_late``, prefetch 4; only the task, its
queue, the Redis transport's redelivery settings and the consumer differ (Celery's own: slamon's
message gate runs only slamon's tasks and refuses an eta this far off, as it should). It lives
here, not in ``worker/``, so that no production worker ever registers it (like
:mod:`benchmarks.noop`).

The task body counts its own executions in Redis (``HINCRBY`` per task id), so a message that
the broker redelivered after its visibility timeout shows up as a task that ran twice.

Run a worker: ``python -m benchmarks.countdown --broker URL [--visibility-timeout S]
[--restore-interval S] [-c N] [--pool prefork] [-n NAME]``.
"""

from __future__ import annotations

import argparse
import socket
from typing import Any

import redis
from celery import Celery, Task
from kombu import Queue

from slamon.worker.app import create_app

# Naive countdown timers wait in a worker unacknowledged for their whole countdown: the broker
# must not redeliver them meanwhile (slamon's own 40 s timeout would, see worker/redelivery.py).
NAIVE_VISIBILITY_TIMEOUT_SECONDS = 3600.0

COUNTDOWN_TASK = "bench.deadline_countdown"
COUNTDOWN_QUEUE = "bench.countdown"
RUNS_KEY = "bench:countdown:runs"  # hash: task id -> times its body ran

# kombu's stock sweep for unacknowledged messages: every 10 s, scanning on every 10th call.
STOCK_RESTORE_INTERVAL = 10
STOCK_RESTORE_THROTTLE = 10

_clients: dict[str, redis.Redis[bytes]] = {}


def build_app(
    broker_url: str | None = None,
    visibility_timeout: float = NAIVE_VISIBILITY_TIMEOUT_SECONDS,
    restore_interval: int | None = None,
) -> Celery:
    """The benchmark app; ``restore_interval`` (s) also makes every sweep scan (throttle 1).

    A short run can only show redelivery if kombu looks for overdue messages more often than
    its stock ~100 s (interval 10 s x throttle 10): scaled down, the visibility timeout and
    the sweep period keep the production ratio of 1 h to a couple of minutes.
    """
    app = create_app(broker_url)
    app.main = "slamon-bench-countdown"
    transport: dict[str, Any] = {"visibility_timeout": visibility_timeout}
    if restore_interval is not None:
        transport.update(unacked_restore_interval=restore_interval, unacked_restore_throttle=1)
    app.conf.update(
        include=[],  # the production tasks stay out of this app
        task_queues=[Queue(COUNTDOWN_QUEUE)],
        task_default_queue=COUNTDOWN_QUEUE,
        task_routes={COUNTDOWN_TASK: {"queue": COUNTDOWN_QUEUE}},
        broker_transport_options=transport,
        worker_consumer="celery.worker.consumer:Consumer",
    )
    app.task(name=COUNTDOWN_TASK, bind=True, acks_late=True)(deadline_countdown)
    return app


def deadline_countdown(task: Task, deadline_id: int) -> None:
    """The timer fired: count it (a real one would judge ``deadline_id`` here)."""
    url = str(task.app.conf.broker_url)
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url)
    client.hincrby(RUNS_KEY, str(task.request.id), 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a worker for the countdown-timer benchmark.")
    parser.add_argument("--broker", required=True, help="Redis URL, e.g. redis://host:6379/11")
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=NAIVE_VISIBILITY_TIMEOUT_SECONDS,
        help="seconds before Redis redelivers an unacknowledged message (default: long enough "
        "for the naive timers' countdowns; slamon itself runs 40)",
    )
    parser.add_argument(
        "--restore-interval",
        type=int,
        default=None,
        help="seconds between scans for overdue messages (default: kombu's, about 100)",
    )
    parser.add_argument("-c", "--concurrency", type=int, default=2)
    parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    parser.add_argument("--loglevel", default="WARNING")
    parser.add_argument("-n", "--name", default=None, help="node name")
    args = parser.parse_args(argv)
    app = build_app(args.broker, args.visibility_timeout, args.restore_interval)
    # The same worker arguments as `slamon worker` (slamon/commands/roles.py).
    app.worker_main(
        [
            "worker",
            f"--queues={COUNTDOWN_QUEUE}",
            f"--concurrency={args.concurrency}",
            f"--pool={args.pool}",
            f"--loglevel={args.loglevel}",
            f"--hostname={args.name or f'bench-countdown@{socket.gethostname()}'}",
            "--task-events",
        ]
    )


if __name__ == "__main__":
    main()
