"""Ingest throughput, end to end, beside the database's floor and Celery's (issues 4 and 13).

Run: ``python -m benchmarks.bench_ingest [--events N] [--batch B] [--workers C] [--repeat R]``
(``--help`` for every size and the database and broker options). On a Redis that others use
too, such as a dev server whose indexes the test suite flushes, pass ``--own-redis``: the run
then starts a redis-server of its own (AOF on, as in ``slamon up`` and docker-compose).
``--embedded`` runs the embedded mode: SQLite and such a server. ``--json FILE`` writes the
figures for ``python -m benchmarks``.

Method, on one broker and one database, ``--repeat`` rounds of, back to back:
1. Raw Celery: a real worker of :mod:`benchmarks.noop` runs ``--noop-tasks`` no-op tasks, one
   message each, with the production configuration, then with Celery's plain defaults (the
   same pool and concurrency as the ingest worker), each after a warm-up.
2. The database floor (:mod:`benchmarks.ingest_floor`): the rows ``--events`` applied
   openings write (inbox, case, deadlines), computed beforehand, written by psycopg alone
   with ``executemany``, then with ``COPY``, from ``--workers`` connections, one transaction
   per message of ``--batch`` (on SQLite: ``sqlite3``, one connection).
3. slamon: a real ``slamon worker`` on ``sla.events``, warmed up; ``--events`` ``help.opened``
   through the SDK in batches of ``--batch``, timed from the first publish until every
   message is processed; every event must then be applied and every case monitored with its
   deadlines. Then the mixed stream (:mod:`benchmarks.ingest_workload`: openings, responses,
   resolutions, repeats, evidence ahead of its opening, resolutions ahead of responses) of
   ``--mixed-cases`` cases, checked to its exact end state, and its own floor (the same
   writes, statement by statement, from as many connections on disjoint cases).
4. The naive peer (:mod:`benchmarks.naive`: one task per event, the ORM row by row, a
   countdown task per deadline) on ``--naive-events`` openings, one message each.
5. Each round prints its rates and ratios; the end prints the medians, and the goals: slamon
   at least ``FLOOR_GOAL`` of the executemany floor, and ``NOOP_GOAL`` x the no-op rate.

The publisher runs in this process while the worker runs, as producers do in production; its
publishing time is printed too, so a publisher-bound run shows.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
from celery import Celery

from benchmarks.bench_cli import checked, publish, service_options, services
from benchmarks.bench_workers import naive_worker, noop_worker, slamon_worker
from benchmarks.floor_rows import by_case, mixed_floor, openings_floor
from benchmarks.ingest_floor import FloorRun, round_robin, write_floor
from benchmarks.ingest_phases import Phase, time_ingest, time_mixed, time_naive, time_noop
from benchmarks.ingest_workload import batches, mixed_stream, opened_events
from benchmarks.report import BenchResult, Figure, Goal
from slamon.models.db.engine import create_db_engine, display_url
from slamon.models.db.migrate import upgrade
from slamon.models.policy.policy import load_policies
from slamon.sdk import Producer
from slamon.worker.app import create_app

DEFAULT_REDIS = "redis://127.0.0.1:6379/9"
NOOP_GOAL = 1.5  # issue 4: ingest events/s at least 1.5 x raw Celery no-op tasks/s
FLOOR_GOAL = 0.25  # issue 13: ingest at least a quarter of the database's own rate


@dataclass(frozen=True)
class Round:
    noop: Phase
    plain: Phase
    floor: FloorRun
    copy: FloorRun | None  # Postgres only
    ingest: Phase
    mixed: Phase
    mixed_floor: FloorRun
    naive: Phase
    load: float


def run(database_url: str, broker_url: str, args: argparse.Namespace, workdir: Path) -> list[Round]:
    """Every round of the module docstring, on one broker and one database."""
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    engine = create_db_engine(database_url)
    upgrade(engine)
    policies = load_policies()
    postgres = not database_url.startswith("sqlite")
    w = args.workers
    rounds: list[Round] = []
    # The plain no-op and the naive peer are sent to by a Celery app with the plain defaults,
    # as their users would (by task name: the sender needs no tasks of its own).
    plain = Celery("bench-plain-sender", broker=broker_url)
    try:
        with Producer(app=create_app(broker_url)) as publisher, plain:
            control = publisher.app
            for r in range(args.repeat):
                tag = f"b{os.getpid()}r{r}"
                noop = _noop(broker, broker_url, control, control, args, workdir, plain=False)
                plain_noop = _noop(broker, broker_url, plain, control, args, workdir, plain=True)

                now = datetime.now(UTC)
                floor_messages = openings_floor(
                    list(batches(opened_events(f"fe{tag}", args.events, now), args.batch)),
                    now, policies)
                floor = write_floor(database_url, "executemany",
                                    round_robin(floor_messages, w), args.events)
                copy = None
                if postgres:
                    copy_messages = openings_floor(
                        list(batches(opened_events(f"fc{tag}", args.events, now), args.batch)),
                        now, policies)
                    copy = write_floor(database_url, "copy", round_robin(copy_messages, w),
                                       args.events)

                stream = mixed_stream(f"mx{tag}", args.mixed_cases, args.batch, now)
                with slamon_worker(database_url, broker_url, w, args.pool, args.loglevel,
                                   workdir, control) as worker:
                    time_ingest(engine, broker, publisher, worker, f"warm{tag}", 10 * w, 10,
                                args.stall)
                    ingest = time_ingest(engine, broker, publisher, worker, tag, args.events,
                                         args.batch, args.stall)
                    mixed = time_mixed(engine, broker, publisher, worker, stream, args.stall)
                floor_stream = mixed_stream(f"fm{tag}", args.mixed_cases, args.batch, now)
                shares = [mixed_floor(s, now, policies)
                          for s in by_case(floor_stream.messages, w, args.batch)]
                mixed_db = write_floor(database_url, "executemany", shares, floor_stream.events)

                with naive_worker(database_url, broker_url, w, args.pool, args.loglevel,
                                  workdir, control) as worker:
                    time_naive(engine, broker, plain, worker, f"nw{tag}", 4 * w, args.stall)
                    naive = time_naive(engine, broker, plain, worker, f"nv{tag}",
                                       args.naive_events, args.stall)
                broker.flushdb()  # the naive peer's countdown messages
                # Other processes count on a small machine: say how busy it was meanwhile.
                one = Round(noop, plain_noop, floor, copy, ingest, mixed, mixed_db, naive,
                            os.getloadavg()[0])
                rounds.append(one)
                say(f"round {r + 1}: {describe(one, args)}")
    finally:
        engine.dispose()
        broker.flushdb()
    return rounds


def _noop(
    broker: redis.Redis[bytes], broker_url: str, sender: Celery, control: Celery,
    args: argparse.Namespace, workdir: Path, plain: bool,
) -> Phase:
    with noop_worker(broker_url, args.workers, args.pool, args.loglevel, workdir, control,
                     plain=plain) as worker:
        time_noop(broker, sender, worker, 4 * args.workers, args.stall)  # warm-up
        return time_noop(broker, sender, worker, args.noop_tasks, args.stall)


def describe(r: Round, args: argparse.Namespace) -> str:
    copy = f", COPY {r.copy.rate:,.0f}/s" if r.copy else ""
    return (
        f"no-op {r.noop.items:,} tasks: production {r.noop.rate:,.0f}/s, plain Celery "
        f"{r.plain.rate:,.0f}/s; floor ({r.floor.method}) {r.floor.events:,} openings = "
        f"{r.floor.rows:,} rows at {r.floor.rate:,.0f} openings/s{copy}; ingest "
        f"{r.ingest.items:,} events (batch {args.batch}) in {r.ingest.seconds:.1f} s = "
        f"{r.ingest.rate:,.0f} events/s (published in {r.ingest.publish_seconds:.1f} s), "
        f"{r.ingest.rate / r.floor.rate:.2f} of the floor, {r.ingest.rate / r.noop.rate:.2f} x "
        f"no-op; mixed {r.mixed.items:,} events at {r.mixed.rate:,.0f}/s vs floor "
        f"{r.mixed_floor.rate:,.0f}/s = {r.mixed.rate / r.mixed_floor.rate:.2f}; naive "
        f"{r.naive.items:,} at {r.naive.rate:,.0f}/s; load {r.load:.1f}"
    )


def figures(rounds: list[Round], args: argparse.Namespace, mode: str) -> BenchResult:
    """The figures of the rounds, each beside its peer (see :mod:`benchmarks.report`)."""
    loads = tuple(r.load for r in rounds)
    ours = tuple(r.ingest.rate for r in rounds)
    result = BenchResult(f"Ingest ({mode})", "")
    path = f"help.opened, SDK → Redis → worker → {mode}, batches of {args.batch}"
    floor_name = ("database floor: the same rows by psycopg executemany"
                  if rounds[0].copy else "database floor: the same rows by sqlite3 executemany")
    result.add(Figure(path, "events/s", ours, loads, floor_name,
                      tuple(r.floor.rate for r in rounds), Goal("ratio", ">=", FLOOR_GOAL)))
    if rounds[0].copy:
        result.add(Figure(path, "events/s", ours, loads, "database floor: the same rows by COPY",
                          tuple(r.copy.rate for r in rounds if r.copy)))
    result.add(Figure(path, "events/s", ours, loads,
                      "raw Celery no-op, production configuration",
                      tuple(r.noop.rate for r in rounds), Goal("ratio", ">=", NOOP_GOAL),
                      peer_unit="tasks/s"))
    result.add(Figure(path, "events/s", ours, loads,
                      "naive Celery ingest: a task per event, ORM row by row, a countdown "
                      "per deadline", tuple(r.naive.rate for r in rounds),
                      note=f"naive on {args.naive_events:,} events, one message each"))
    result.add(Figure(
        f"mixed stream ({rounds[0].mixed.items:,} events of {args.mixed_cases:,} cases: "
        "openings, responses, resolutions, 10 % repeats, early evidence)", "events/s",
        tuple(r.mixed.rate for r in rounds), loads,
        floor_name.replace("the same rows", "the same writes"),
        tuple(r.mixed_floor.rate for r in rounds), Goal("ratio", ">=", FLOOR_GOAL)))
    result.add(Figure("raw Celery no-op, production configuration", "tasks/s",
                      tuple(r.noop.rate for r in rounds), loads,
                      "raw Celery no-op, plain Celery defaults",
                      tuple(r.plain.rate for r in rounds)))
    result.notes += [
        f"{args.events:,} events per run, worker concurrency {args.workers} ({args.pool}), "
        f"prefetch 4; the floor from {args.workers} connection(s) "
        f"({'one on SQLite' if not rounds[0].copy else 'processes'}), one transaction per "
        f"{args.batch} openings ({rounds[0].floor.rows // max(1, rounds[0].floor.events)} rows "
        "per opening); the publisher runs in the benchmark's process, on the same cores.",
        "Publishing times (s) of the ingest runs: "
        + ", ".join(f"{r.ingest.publish_seconds:.1f}" for r in rounds),
    ]
    return result


def say(line: str) -> None:
    print(line, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_ingest",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=100_000, help="help.opened events per run")
    parser.add_argument("--mixed-cases", type=int, default=30_000,
                        help="cases of the mixed stream (about 3.2 events each)")
    parser.add_argument("--naive-events", type=int, default=5_000,
                        help="openings sent to the naive peer, one message each")
    parser.add_argument("--batch", type=int, default=500, help="events per SDK message")
    parser.add_argument("--noop-tasks", type=int, default=20_000, help="no-op tasks per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs (medians are reported)")
    parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of Postgres")
    parser.add_argument("--embedded", action="store_true", help="SQLite and --own-redis")
    service_options(parser, DEFAULT_REDIS)
    args = checked(parser, parser.parse_args(argv), "events", "mixed_cases", "naive_events",
                   "batch", "noop_tasks", "repeat", postgres=False)
    args.own_redis = args.own_redis or args.embedded
    args.sqlite = args.sqlite or args.embedded
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    with services(args, "bench-ingest", sqlite=args.sqlite) as (broker_url, db_url, workdir):
        say(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
            f"{platform.platform()}, Python {platform.python_version()}\n"
            f"broker {display_url(broker_url)}; database {display_url(db_url)}\n"
            f"workers: pool {args.pool}, concurrency {args.workers}, prefetch 4, log level "
            f"{args.loglevel}; publisher in this process")
        rounds = run(db_url, broker_url, args, workdir)
    mode = "SQLite, embedded" if db_url.startswith("sqlite") else "PostgreSQL"
    say("medians of runs:" if len(rounds) > 1 else "result:")
    publish(figures(rounds, args, mode), "bench_ingest", argv, began, args.json)


if __name__ == "__main__":
    main()
