"""A Celery no-op task on its own app: the floor that ingest throughput is compared with.

The app is built by the production factory (:func:`slamon.worker.app.create_app`), so it has the
same serializer, ``acks_late``, prefetch and task events as the ingest worker; only the task, its
queue and the consumer differ. The consumer is Celery's own: slamon's message gate
(worker/consumer.py) dead-letters into slamon's database and runs only slamon's tasks, so it
would refuse this one; its cost is part of what the ingest figure measures, not of the peer.
It lives here, not in ``worker/``, so that no production worker ever registers a benchmark task.

With ``--plain`` the worker runs the same task on an app with Celery's plain defaults instead
(early acknowledgement, no task events, the stock consumer): what Celery costs per message
before any of the production choices.

Run a worker: ``python -m benchmarks.noop --broker URL [--plain] [-c N] [--pool prefork]
[-n NAME]``.
"""

from __future__ import annotations

import argparse
import socket

from celery import Celery
from kombu import Queue

from slamon.worker.app import create_app

NOOP_TASK = "bench.noop"
NOOP_QUEUE = "bench.noop"

app = create_app()
app.main = "slamon-bench"
app.conf.update(
    include=[],  # the production tasks stay out of this app
    task_queues=[Queue(NOOP_QUEUE)],
    task_default_queue=NOOP_QUEUE,
    task_routes={NOOP_TASK: {"queue": NOOP_QUEUE}},
    worker_consumer="celery.worker.consumer:Consumer",
)


@app.task(name=NOOP_TASK, acks_late=True)
def noop() -> None:
    """Nothing: what is measured is Celery's own cost per message."""


plain = Celery("slamon-bench-plain")
plain.task(name=NOOP_TASK)(noop.run)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a worker for the no-op benchmark task.")
    parser.add_argument("--broker", required=True, help="Redis URL, e.g. redis://host:6379/9")
    parser.add_argument("-c", "--concurrency", type=int, default=2)
    parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    parser.add_argument("--loglevel", default="WARNING")
    parser.add_argument("-n", "--name", default=None, help="node name")
    parser.add_argument("--plain", action="store_true", help="Celery's defaults, not ours")
    args = parser.parse_args(argv)
    chosen = plain if args.plain else app
    chosen.conf.broker_url = args.broker
    # The same worker arguments as `slamon worker` (slamon/commands/roles.py); the plain
    # worker leaves task events off, as Celery does by default.
    chosen.worker_main(
        [
            "worker",
            f"--queues={NOOP_QUEUE}",
            f"--concurrency={args.concurrency}",
            f"--pool={args.pool}",
            f"--loglevel={args.loglevel}",
            f"--hostname={args.name or f'bench-noop@{socket.gethostname()}'}",
            *([] if args.plain else ["--task-events"]),
        ]
    )


if __name__ == "__main__":
    main()
