"""Memory of every role with no deadline pending and with a million (issue 13).

Run: ``python -m benchmarks.bench_memory [--pending N] [--own-redis] [--json FILE]``
(Postgres; ``--help`` for every option).

A real ``slamon worker`` (every queue), ``slamon scheduler`` and ``slamon api`` run on one
broker and one fresh database, and are measured twice, after the same work each time:
``--events`` events ingested through the SDK, ``--settle`` seconds of scheduler steps, and
``--requests`` rounds of the API's heavier reads (``/v1/summary``, ``/metrics``,
``/v1/breaches``, ``/v1/compensations``):
1. with nothing pending;
2. after ``--pending`` pending deadlines (half as many cases) were written beside them.
The resident memory (RSS, summed over a role's processes: the worker's pool children hold
the work) of each role at 2 is compared with 1; the goal is at most ``GROWTH_GOAL`` as much:
the deadlines live in the database, not in any process.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis
from sqlalchemy import Engine

from benchmarks.bench_cli import checked, publish, service_options, services
from benchmarks.bench_http import TOKEN, wait_http
from benchmarks.bench_workers import RoleWorker
from benchmarks.ingest_phases import time_ingest
from benchmarks.report import BenchResult, Figure, Goal
from benchmarks.timers_procs import Memory, RoleProcess, Roles, started, tree_memory, worker_pid
from benchmarks.timers_seed import DeadlineSet, count_pending, seed, vacuum_analyze
from slamon.embedded_redis import free_port
from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade
from slamon.sdk import Producer
from slamon.worker.app import create_app

DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
GROWTH_GOAL = 1.10
READS = ("/v1/summary", "/metrics", "/v1/breaches", "/v1/compensations")


@dataclass(frozen=True)
class Sample:
    pending: int
    roles: dict[str, Memory]
    load: float


def exercise(engine: Engine, broker: redis.Redis[bytes], producer: Producer,
             worker: RoleWorker, url: str, tag: str, args: argparse.Namespace) -> None:
    """The same work before each sample: events, scheduler steps, API reads."""
    time_ingest(engine, broker, producer, worker, tag, args.events, 100, args.stall)
    time.sleep(args.settle)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        for _ in range(args.requests):
            for path in READS:
                answer = http.get(path)
                if answer.status_code != 200:
                    raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:200]}")


def sample(engine: Engine, pids: dict[str, int], load: float) -> Sample:
    with engine.connect() as conn:
        pending = count_pending(conn)
    return Sample(pending, {role: tree_memory(pid) for role, pid in pids.items()}, load)


def run(database_url: str, broker_url: str, args: argparse.Namespace, workdir: Path
        ) -> tuple[Sample, Sample]:
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    engine = create_db_engine(database_url)
    upgrade(engine)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    roles = Roles(database_url, broker_url, workdir, args.workers, args.loglevel,
                  create_app(broker_url))
    worker, scheduler = roles.slamon_worker("memory"), roles.slamon_scheduler("memory")
    api: RoleProcess = roles.slamon_api("memory", port, TOKEN)
    with started(worker, scheduler, api), Producer(app=roles.control) as producer:
        wait_http(api, url)
        pids = {"worker": worker_pid(worker), "scheduler": scheduler.pid, "api": api.pid}
        exercise(engine, broker, producer, worker, url, "mz", args)
        empty = sample(engine, pids, os.getloadavg()[0])
        print(f"with {empty.pending:,} pending: " + _show(empty), flush=True)
        began = time.perf_counter()
        seed(engine, DeadlineSet("mp-", max(1, args.pending // 2),
                                 datetime.now(UTC) + timedelta(hours=2), timedelta(hours=48),
                                 kinds=("response", "resolution")))
        vacuum_analyze(engine)
        print(f"seeded in {time.perf_counter() - began:.1f} s", flush=True)
        exercise(engine, broker, producer, worker, url, "mf", args)
        full = sample(engine, pids, os.getloadavg()[0])
        print(f"with {full.pending:,} pending: " + _show(full), flush=True)
    engine.dispose()
    broker.flushdb()
    return empty, full


def _show(s: Sample) -> str:
    return ", ".join(f"{role} {m.rss:.0f} MiB RSS ({m.pss:.0f} PSS, {m.processes} processes)"
                     for role, m in s.roles.items())


def figures(empty: Sample, full: Sample, args: argparse.Namespace) -> BenchResult:
    result = BenchResult("Memory of every role (PostgreSQL)", "")
    for role in empty.roles:
        result.add(Figure(f"RSS of slamon {role} with {full.pending:,} deadlines pending", "MiB",
                          (full.roles[role].rss,), (full.load,),
                          f"the same with {empty.pending:,} pending", (empty.roles[role].rss,),
                          Goal("ratio", "<=", GROWTH_GOAL),
                          note=f"PSS {empty.roles[role].pss:.0f} → {full.roles[role].pss:.0f} "
                               f"MiB, {full.roles[role].processes} processes"))
    result.notes.append(
        f"before each sample: {args.events:,} events ingested, {args.settle:g} s of scheduler "
        f"steps, {args.requests} rounds of GET {', '.join(READS)}; worker concurrency "
        f"{args.workers}")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_memory",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=1_000_000, help="deadlines seeded")
    parser.add_argument("--events", type=int, default=2_000, help="events before each sample")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of scheduler steps")
    parser.add_argument("--requests", type=int, default=5, help="rounds of API reads")
    service_options(parser, DEFAULT_REDIS)
    return checked(parser, parser.parse_args(argv), "pending", "events", "requests")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    with services(args, "bench-memory") as (broker_url, db_url, workdir):
        empty, full = run(db_url, broker_url, args, workdir)
    publish(figures(empty, full, args), "bench_memory", argv, began, args.json)


if __name__ == "__main__":
    main()
