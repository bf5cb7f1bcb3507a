"""The ingest a Celery user would write first: a peer for the benchmarks, never shipped.

One task per event, the ORM row by row in a transaction per event, and one countdown task per
deadline (``apply_async(countdown=…)`` until ``judge_at``), on a Celery app with the plain
defaults (early acknowledgement, prefetch 4, JSON). It reuses the domain's planner (a user
would have to write the business calendar too) and checks nothing slamon checks beyond the
event's own validation: no inbox lookup before the insert (a repeat fails on the primary
key), no locks, no parking of early evidence, no dead letters. It lives here, not in
``worker/``, so that no production worker ever registers it (like :mod:`benchmarks.noop`).

The timers go to their own queue, which nothing consumes while ingest is measured: the peer
is timed until every case, its deadlines and their countdown messages are stored, which is
what slamon's ingest is timed to (slamon's timers are the deadline rows themselves).

Run a worker: ``python -m benchmarks.naive --broker URL --database URL [-c N] [-n NAME]``.
"""

from __future__ import annotations

import argparse
import os
import socket
from datetime import datetime, timezone
from typing import Any

from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from slamon.models.db.engine import create_db_engine
from slamon.models.db.tables import Case, Deadline, InboxEvent
from slamon.models.events import HelpOpened, event_to_json, parse_event
from slamon.models.policy.policy import PolicySet, load_policies
from slamon.models.states import DeadlineState, InboxOutcome
from slamon.worker.case_apply import opening_rows

NAIVE_INGEST = "naive.ingest"
NAIVE_JUDGE = "naive.judge"
NAIVE_QUEUE = "naive.events"
NAIVE_TIMERS = "naive.timers"

app = Celery("slamon-naive")
app.conf.update(task_routes={NAIVE_INGEST: {"queue": NAIVE_QUEUE},
                             NAIVE_JUDGE: {"queue": NAIVE_TIMERS}})

_state: dict[str, Any] = {}


def _engine() -> Engine:
    # One engine per process: the prefork pool forks after the module is imported.
    if _state.get("pid") != os.getpid():
        _state.update(pid=os.getpid(), engine=create_db_engine(os.environ["NAIVE_DATABASE_URL"]))
    engine: Engine = _state["engine"]
    return engine


def _policies() -> PolicySet:
    if "policies" not in _state:
        _state["policies"] = load_policies()
    policies: PolicySet = _state["policies"]
    return policies


@app.task(name=NAIVE_INGEST)
def ingest(event: dict[str, Any]) -> None:
    """Store one opening with the ORM, then send a countdown task per deadline."""
    parsed = parse_event(event)
    if not isinstance(parsed, HelpOpened):
        raise ValueError("the naive peer only opens cases")
    now = datetime.now(timezone.utc)  # noqa: UP017 - the spelling a first version has
    case_row, deadline_rows = opening_rows(_policies(), parsed, now)
    with Session(_engine()) as session:
        session.add(InboxEvent(event_id=parsed.event_id, case_id=parsed.case_id,
                               type=parsed.type, occurred_at=parsed.occurred_at,
                               received_at=now, payload=event_to_json(parsed),
                               outcome=InboxOutcome.APPLIED, duplicates=0))
        session.add(Case(**case_row))
        deadlines = [Deadline(**row) for row in deadline_rows]
        for deadline in deadlines:
            session.add(deadline)
            session.flush()  # row by row: the id is needed for the timer
        session.commit()
        for deadline in deadlines:
            wait = (deadline.judge_at - now).total_seconds()
            judge.apply_async(args=[deadline.id], countdown=max(0.0, wait))


@app.task(name=NAIVE_JUDGE)
def judge(deadline_id: int) -> None:
    """Never run during the benchmark (its queue is not consumed); here for completeness."""
    with Session(_engine()) as session:
        deadline = session.get(Deadline, deadline_id)
        pending = deadline is not None and deadline.state == DeadlineState.PENDING
        if deadline is not None and pending and deadline.met_at is None:
            deadline.state = DeadlineState.BREACHED
            session.commit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a worker of the naive ingest peer.")
    parser.add_argument("--broker", required=True, help="Redis URL, e.g. redis://host:6379/9")
    parser.add_argument("--database", required=True, help="SQLAlchemy URL of the database")
    parser.add_argument("-c", "--concurrency", type=int, default=2)
    parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    parser.add_argument("--loglevel", default="WARNING")
    parser.add_argument("-n", "--name", default=None, help="node name")
    args = parser.parse_args(argv)
    os.environ["NAIVE_DATABASE_URL"] = args.database
    app.conf.broker_url = args.broker
    app.worker_main([
        "worker", f"--queues={NAIVE_QUEUE}", f"--concurrency={args.concurrency}",
        f"--pool={args.pool}", f"--loglevel={args.loglevel}",
        f"--hostname={args.name or f'bench-naive@{socket.gethostname()}'}",
    ])


if __name__ == "__main__":
    main()
