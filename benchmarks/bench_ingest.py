"""Ingest throughput, end to end, against the raw Celery floor on the same broker (issue 4).

Run: ``python -m benchmarks.bench_ingest [--events N] [--batch B] [--workers C] [--keep]``
(``--help`` for the database and broker options). On a Redis that others use too, such as a
dev server whose indexes the test suite flushes, pass ``--own-redis``: the run then starts a
redis-server of its own (AOF on, as in ``slamon up`` and docker-compose). ``--embedded`` runs
the embedded mode: SQLite and such a server.

Method, in one run, on one broker (a dedicated Redis database index, emptied before and after)
and one machine, ``--repeat`` times over:
1. No-op floor: a real worker of :mod:`benchmarks.noop` (the production Celery configuration,
   the same pool and concurrency as the ingest worker) is started and warmed up. The clock
   starts at the first publish of ``--noop-tasks`` no-op tasks, one message each, and stops
   when the queue and kombu's unacked set are both empty: every task ran and was
   acknowledged. The worker's own count of tasks run is checked afterwards.
2. Ingest: a real ``slamon worker`` on ``sla.events`` is started and warmed up. The clock
   starts at the first SDK ``publish_many`` of ``--events`` ``help.opened`` events in batches
   of ``--batch``, and stops when the last case is committed (a case and its deadlines commit
   in one transaction, so counting cases suffices). Every event is then checked to be applied
   and every case to be monitored with its deadlines.
3. Print both rates and their ratio per run, and the medians.

The publisher runs in this process while the worker runs, as producers do in production; its
publishing time is printed too, so a publisher-bound run shows.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import Engine, exists, func, select
from sqlalchemy.engine import make_url

from benchmarks.bench_services import bench_broker, bench_database
from benchmarks.bench_workers import RoleWorker, noop_worker, slamon_worker
from benchmarks.noop import NOOP_QUEUE, NOOP_TASK
from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade
from slamon.models.db.tables import Case, Deadline, InboxEvent
from slamon.sdk import Producer
from slamon.worker.app import create_app

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"
TARGET_RATIO = 1.5
SH = ZoneInfo("Asia/Shanghai")

# Eligible case facts (DOMAIN.md), cycled so that every rule and penalty kind is exercised.
FACTS: tuple[dict[str, object], ...] = (
    {"category": "家装家具", "services": ["送货入户并安装"], "item_price": "1299.00"},
    {"category": "家装建材", "services": ["送货入户"], "item_price": "86.50"},
    {"category": "灯具灯饰", "services": ["预约安装"]},
    {"category": "家电", "services": ["三年质保", "预约安装"], "item_price": "4999.00"},
)


@dataclass(frozen=True)
class Phase:
    """One timed phase: ``items`` tasks or events done in ``seconds``."""

    items: int
    seconds: float
    publish_seconds: float

    @property
    def rate(self) -> float:
        return self.items / self.seconds


@dataclass(frozen=True)
class Options:
    events: int
    batch: int
    workers: int
    pool: str
    noop_tasks: int
    repeat: int
    loglevel: str
    stall: float


# --- the workload ------------------------------------------------------------------------------


def opened_events(prefix: str, count: int, now: datetime) -> Iterator[dict[str, object]]:
    """``count`` valid ``help.opened`` events of new cases, opened in the 3 days before ``now``."""
    rng = random.Random(prefix)
    span_us = 3 * 86_400 * 10**6
    for i in range(count):
        opened_at = now - timedelta(minutes=1, microseconds=rng.randrange(span_us))
        yield {
            "event_id": f"{prefix}-e{i}",
            "type": "help.opened",
            "case_id": f"{prefix}-c{i}",
            "occurred_at": opened_at.astimezone(SH).isoformat(),
            "order_id": f"O{i}",
            "buyer_account": f"tb_buyer_{i % 9973}",
            "merchant_id": f"M{i % 97}",
            "provider_id": f"P{i % 31}",
            "city": "杭州",
            **FACTS[i % len(FACTS)],
        }


def batches(events: Iterator[dict[str, object]], size: int) -> Iterator[list[dict[str, object]]]:
    batch: list[dict[str, object]] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- the phases --------------------------------------------------------------------------------


def wait_until(
    done: Callable[[], bool], progress: Callable[[], int], worker: RoleWorker, stall: float
) -> None:
    """Poll ``done``; fail if the worker dies or ``progress`` stands still for ``stall`` s."""
    last, since = progress(), time.monotonic()
    while not done():
        time.sleep(0.05)
        worker.check_alive()
        moved = progress()
        if moved != last:
            last, since = moved, time.monotonic()
        elif time.monotonic() - since > stall:
            raise RuntimeError(f"{worker.node}: no progress for {stall:g} s\n{worker.tail()}")


def time_noop(
    broker: redis.Redis[bytes], publisher: Producer, worker: RoleWorker, tasks: int, stall: float
) -> Phase:
    """Phase 1: one message per no-op task, until every one ran and was acknowledged."""

    def pending() -> int:
        pipe = broker.pipeline()
        pipe.llen(NOOP_QUEUE)
        pipe.hlen("unacked")  # kombu's Redis transport: delivered but not acknowledged yet
        queued, unacked = pipe.execute()
        return int(queued) + int(unacked)

    before = worker.tasks_done(NOOP_TASK)
    started = time.perf_counter()
    for _ in range(tasks):
        publisher.app.send_task(NOOP_TASK, queue=NOOP_QUEUE)
    published = time.perf_counter() - started
    wait_until(lambda: pending() == 0, lambda: -pending(), worker, stall)
    elapsed = time.perf_counter() - started
    ran = worker.tasks_done(NOOP_TASK) - before
    if ran != tasks:
        raise RuntimeError(f"the no-op worker ran {ran} tasks, expected {tasks}")
    return Phase(tasks, elapsed, published)


def time_ingest(
    engine: Engine,
    publisher: Producer,
    worker: RoleWorker,
    prefix: str,
    events: int,
    batch: int,
    stall: float,
) -> Phase:
    """Phase 2: SDK batches of ``help.opened``, until every case is committed."""
    target = count_cases(engine) + events
    now = datetime.now(UTC)
    started = time.perf_counter()
    for chunk in batches(opened_events(prefix, events, now), batch):
        publisher.publish_many(chunk)
    published = time.perf_counter() - started
    wait_until(lambda: count_cases(engine) >= target, lambda: count_cases(engine), worker, stall)
    elapsed = time.perf_counter() - started
    check_ingested(engine, prefix, events)
    return Phase(events, elapsed, published)


def count_cases(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Case)) or 0)


def check_ingested(engine: Engine, prefix: str, events: int) -> None:
    """Every event of the run applied; every case monitored and with deadlines."""
    like = f"{prefix}-%"
    has_deadline = exists().where(Deadline.case_id == Case.case_id)
    with engine.connect() as conn:
        rows = conn.execute(
            select(InboxEvent.outcome, func.count())
            .where(InboxEvent.event_id.like(like))
            .group_by(InboxEvent.outcome)
        )
        outcomes = {outcome: n for outcome, n in rows}
        good = conn.scalar(
            select(func.count()).where(Case.case_id.like(like), Case.monitored, has_deadline)
        )
    if outcomes != {"applied": events} or good != events:
        raise RuntimeError(
            f"ingest went wrong: event outcomes {outcomes}; {good} of {events} cases "
            "monitored with deadlines"
        )


# --- one run -----------------------------------------------------------------------------------


def run(
    database_url: str, broker_url: str, options: Options, workdir: Path
) -> list[tuple[Phase, Phase]]:
    """Both phases, ``options.repeat`` times, on one broker and one database; see the module doc."""
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    engine = create_db_engine(database_url)
    upgrade(engine)
    o = options
    results: list[tuple[Phase, Phase]] = []
    try:
        with Producer(app=create_app(broker_url)) as publisher:
            for round_ in range(o.repeat):
                with noop_worker(
                    broker_url, o.workers, o.pool, o.loglevel, workdir, publisher.app
                ) as w:
                    time_noop(broker, publisher, w, 4 * o.workers, o.stall)  # warm-up
                    noop = time_noop(broker, publisher, w, o.noop_tasks, o.stall)
                prefix = f"b{os.getpid()}r{round_}"
                with slamon_worker(
                    database_url, broker_url, o.workers, o.pool, o.loglevel, workdir, publisher.app
                ) as w:
                    time_ingest(engine, publisher, w, f"warm{prefix}", 10 * o.workers, 10, o.stall)
                    ingest = time_ingest(engine, publisher, w, prefix, o.events, o.batch, o.stall)
                results.append((noop, ingest))
                # Other processes count on a small machine: say how busy it was meanwhile.
                load = os.getloadavg()[0]
                print(f"run {round_ + 1}: {describe(noop, ingest, o)}; load {load:.1f}", flush=True)
    finally:
        engine.dispose()
        broker.flushdb()
    return results


def describe(noop: Phase, ingest: Phase, o: Options) -> str:
    return (
        f"no-op {noop.items:,} tasks in {noop.seconds:.1f} s = {noop.rate:,.0f}/s "
        f"(published in {noop.publish_seconds:.1f} s); ingest {ingest.items:,} events "
        f"(batch {o.batch}) in {ingest.seconds:.1f} s = {ingest.rate:,.0f} events/s "
        f"(published in {ingest.publish_seconds:.1f} s); ratio {ingest.rate / noop.rate:.2f}"
    )


def report(results: list[tuple[Phase, Phase]]) -> str:
    noop = statistics.median(n.rate for n, _ in results)
    ingest = statistics.median(i.rate for _, i in results)
    ratio = statistics.median(i.rate / n.rate for n, i in results)
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    label = "median of runs" if len(results) > 1 else "result"
    return (
        f"{label}: raw Celery no-op {noop:,.0f} tasks/s; ingest {ingest:,.0f} events/s; "
        f"ratio {ratio:.2f} (target >= {TARGET_RATIO}: {verdict})"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_ingest",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=100_000, help="help.opened events per run")
    parser.add_argument("--batch", type=int, default=500, help="events per SDK message")
    parser.add_argument("--workers", type=int, default=2, help="worker concurrency (both phases)")
    parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    parser.add_argument("--noop-tasks", type=int, default=20_000, help="no-op tasks per run")
    parser.add_argument("--repeat", type=int, default=1, help="runs (medians are reported)")
    parser.add_argument("--loglevel", default="WARNING", help="both workers' log level")
    parser.add_argument("--stall", type=float, default=120.0, help="fail after this long idle")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="broker; its index is flushed")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="where to CREATE DATABASE")
    parser.add_argument("--database-url", help="use this database as is (migrated, not dropped)")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of Postgres")
    parser.add_argument(
        "--own-redis", action="store_true", help="start a redis-server for this run instead"
    )
    parser.add_argument("--embedded", action="store_true", help="SQLite and --own-redis")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args(argv)
    for name in ("events", "batch", "workers", "noop_tasks", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    options = Options(
        args.events,
        args.batch,
        args.workers,
        args.pool,
        args.noop_tasks,
        args.repeat,
        args.loglevel.upper(),
        args.stall,
    )
    workdir = Path(tempfile.mkdtemp(prefix="slamon-bench-"))
    try:
        own_redis = args.own_redis or args.embedded
        with (
            bench_broker(workdir, None if own_redis else args.redis_url) as broker_url,
            bench_database(
                workdir,
                given=args.database_url,
                sqlite=args.sqlite or args.embedded,
                postgres_admin=args.postgres,
                keep=args.keep,
            ) as db_url,
        ):
            print(
                f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
                f"{platform.platform()}, Python "
                f"{platform.python_version()}\nbroker {_safe(broker_url)}; database "
                f"{_safe(db_url)}\nworkers: pool {options.pool}, concurrency {options.workers}, "
                f"prefetch 4, log level {options.loglevel}; publisher in this process",
                flush=True,
            )
            results = run(db_url, broker_url, options, workdir)
        print(report(results))
    finally:
        if args.keep:
            print(f"kept worker logs in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True) if "://" in url else url


if __name__ == "__main__":
    main()
