"""Catch-up after an outage: the backlog of due deadlines, and the live ones meanwhile (issue 13).

Run: ``python -m benchmarks.bench_catchup [--due N] [--pending N] [--live-window S]
[--own-redis] [--json FILE]`` (Postgres; ``--help`` for every option).

1. With no scheduler and no worker running, the database holds ``--pending`` deadlines due
   over the next two days and ``--due`` response deadlines (a compensation each) that came due
   over the ``--outage`` seconds before now: what an outage of the scheduler and the worker
   leaves. Beside them, ``--live`` deadlines come due evenly over the ``--live-window``
   seconds after the restart.
2. Restart: a real ``slamon worker`` (every queue) and ``slamon scheduler``, started together.
   The clock starts when they are launched.
3. Measured: the time from the restart until every backlog breach is recorded and until every
   backlog compensation is paid (its ledger entry written; the times are the database's
   ``detected_at`` and ``issued_at``), and the fire lag (``detected_at - judge_at``) of the
   live deadlines. Every backlog deadline must end with exactly one breach and one ledger
   entry. Goals: all paid within ``PAID_GOAL_S``, live lag at p99 within ``LAG_GOAL_S``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from sqlalchemy import Engine, func, select

from benchmarks.bench_cli import checked, publish, service_options, services
from benchmarks.report import BenchResult, Figure, Goal
from benchmarks.timers_procs import Roles, started, wait_until
from benchmarks.timers_seed import (
    DeadlineSet,
    count_breaches,
    count_issued,
    count_ledger,
    seed,
    vacuum_analyze,
)
from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade
from slamon.models.db.tables import Breach, LedgerEntry
from slamon.worker.app import create_app

DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
PAID_GOAL_S = 60.0
LAG_GOAL_S = 2.0
BACKLOG, LIVE, BACKGROUND = "cu-", "cl-", "cp-"


@dataclass(frozen=True)
class CatchUp:
    due: int
    breached_s: float  # restart -> last backlog breach recorded
    paid_s: float  # restart -> last backlog ledger entry
    first_paid_s: float
    lags: list[float]  # live deadlines, detected_at - judge_at
    load: float

    def lag(self, p: float) -> float:
        ordered = sorted(self.lags)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def run(database_url: str, broker_url: str, args: argparse.Namespace, workdir: Path) -> CatchUp:
    """Steps 1-3 of the module docstring."""
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    engine = create_db_engine(database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    if args.pending:
        seed(engine, DeadlineSet(BACKGROUND, max(1, args.pending // 2), now + timedelta(hours=2),
                                 timedelta(hours=48), kinds=("response", "resolution")))
    outage = timedelta(seconds=args.outage)
    seed(engine, DeadlineSet(BACKLOG, args.due, datetime.now(UTC) - outage, outage))
    vacuum_analyze(engine)
    live = max(1, round(args.live * args.live_window))
    roles = Roles(database_url, broker_url, workdir, args.workers, args.loglevel,
                  create_app(broker_url))
    worker, scheduler = roles.slamon_worker("catchup"), roles.slamon_scheduler("catchup")
    # The live deadlines start coming due once the roles have had time to start.
    seed(engine, DeadlineSet(LIVE, live, datetime.now(UTC) + timedelta(seconds=args.start),
                             timedelta(seconds=args.live_window)))
    restart = datetime.now(UTC)
    print(f"restart at {restart.isoformat()}: {args.due:,} deadlines due over the last "
          f"{args.outage:g} s, {live:,} live ones due over the next {args.live_window:g} s, "
          f"{args.pending:,} pending; load {os.getloadavg()[0]:.2f}", flush=True)
    with started(scheduler, worker) as alive:

        def done() -> int:
            with engine.connect() as conn:
                return count_issued(conn, BACKLOG) + count_breaches(conn, LIVE)

        wait_until(lambda: done() >= args.due + live, done, alive, args.stall,
                   "the backlog paid and the live deadlines judged", interval=0.5)
        load = os.getloadavg()[0]
    result = measure(engine, restart, args.due, live, load)
    engine.dispose()
    broker.flushdb()
    return result


def measure(engine: Engine, restart: datetime, due: int, live: int, load: float) -> CatchUp:
    with engine.connect() as conn:
        breaches = count_breaches(conn, BACKLOG)
        entries, keys = count_ledger(conn, BACKLOG)
        last_breach = conn.scalar(
            select(func.max(Breach.detected_at)).where(Breach.case_id.startswith(BACKLOG)))
        first_paid, last_paid = conn.execute(
            select(func.min(LedgerEntry.issued_at), func.max(LedgerEntry.issued_at)).where(
                LedgerEntry.case_id.startswith(BACKLOG))).one()
        lags = [
            (detected - judge_at).total_seconds()
            for judge_at, detected in conn.execute(
                select(Breach.judge_at, Breach.detected_at).where(
                    Breach.case_id.startswith(LIVE)))
        ]
    if (breaches, entries, keys) != (due, due, due) or len(lags) != live:
        raise RuntimeError(f"catch-up went wrong: {breaches} breaches, {entries} ledger entries "
                           f"({keys} keys) for {due} deadlines; {len(lags)} of {live} live "
                           "deadlines breached")
    assert last_breach is not None and first_paid is not None and last_paid is not None
    return CatchUp(due, (last_breach - restart).total_seconds(),
                   (last_paid - restart).total_seconds(),
                   (first_paid - restart).total_seconds(), lags, load)


def figures(c: CatchUp, args: argparse.Namespace) -> BenchResult:
    result = BenchResult("Catch-up after an outage (PostgreSQL)", "")
    loads = (c.load,)
    result.add(Figure(f"restart → every breach of {c.due:,} overdue deadlines recorded", "s",
                      (c.breached_s,), loads))
    result.add(Figure(f"restart → every one of their {c.due:,} compensations paid (ledger)",
                      "s", (c.paid_s,), loads, goal=Goal("value", "<=", PAID_GOAL_S),
                      note=f"first paid after {c.first_paid_s:.1f} s"))
    result.add(Figure(f"fire lag p99 of {len(c.lags):,} live deadlines during the catch-up",
                      "s", (c.lag(99),), loads, goal=Goal("value", "<=", LAG_GOAL_S),
                      note=f"p50 {c.lag(50):.2f} s, max {max(c.lags):.2f} s"))
    result.notes.append(
        f"{args.pending:,} other deadlines pending; worker concurrency {args.workers}, "
        "scheduler interval 1 s, sweep batch 1,000, compensations dispatched in chunks of "
        "100; the outage is the roles being stopped while the deadlines' judge_at passed "
        f"(spread over {args.outage:g} s)")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_catchup",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=100_000, help="deadlines due at the restart")
    parser.add_argument("--pending", type=int, default=1_000_000, help="other pending deadlines")
    parser.add_argument("--outage", type=float, default=600.0,
                        help="seconds over which the backlog came due")
    parser.add_argument("--live", type=float, default=20.0,
                        help="live deadlines coming due per second after the restart")
    parser.add_argument("--live-window", type=float, default=60.0,
                        help="seconds over which they come due")
    parser.add_argument("--start", type=float, default=5.0,
                        help="seconds after the restart at which the first live one is due")
    service_options(parser, DEFAULT_REDIS)
    args = checked(parser, parser.parse_args(argv), "due")
    if args.pending < 0:
        parser.error("--pending must be at least 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    with services(args, "bench-catchup") as (broker_url, db_url, workdir):
        catchup = run(db_url, broker_url, args, workdir)
    publish(figures(catchup, args), "bench_catchup", argv, began, args.json)


if __name__ == "__main__":
    main()
