"""Durable timers against naive countdowns, with a million pending deadlines (issue 5).

Run: ``python -m benchmarks.bench_timers [--pending N] [--due N] [--repeat R] ...``
(``--help`` lists every size; the defaults are the issue's). Postgres only: a database of the
run's own is created (dropped afterwards unless ``--keep``); the broker is a Redis database
index of the run's own, emptied before, between phases and after. On a shared dev server, whose
indexes the test suite flushes, pass ``--own-redis`` (a redis-server of the run's own, AOF on,
as ``slamon up`` and docker-compose run it).

In one run, on one machine and one broker:
1. Seed ``--pending`` pending deadlines (half as many cases, a response and a resolution
   deadline each, due over the next two days), server-side; ``VACUUM ANALYZE``.
2. Sweep: the median of ``--repeat`` sweeps of ``--due`` freshly seeded due rows, the claim
   alone and claim + judge + writes; ``EXPLAIN ANALYZE`` of the claim. Then the floor
   (:mod:`benchmarks.sweep_floor`): the same claim, state update and inserts as one
   hand-written statement, ``--repeat`` times over as many fresh rows.
3. Compensations in process: :func:`slamon.worker.compensation.compensate` one after the other on
   every pending compensation (the sweeps' and more, ``--compensations`` in all), then
   ``--compensations`` more with :func:`slamon.worker.compensation.compensate_many`, in the chunks
   the scheduler dispatches.
4. Naive memory: a countdown worker holding ``--timers`` ``apply_async(countdown=…)`` tasks.
5. With a real ``slamon worker`` (every queue) and ``slamon scheduler`` running:
   a. their memory, idle, with the pending deadlines in the database;
   b. ``--compensations`` deadlines due at once, until the worker has paid every breach the
      scheduler recorded (the real path, as the scheduler dispatches it);
   c. fire lag: ``--rate`` events/s through the SDK for ``--duration`` s while deadlines come
      due continuously; ``detected_at - judge_at`` of their breaches;
   d. executions: ``--dup-timers`` countdown tasks past a short visibility timeout beside as
      many deadlines through our scheduler, due at the same instants.
6. A table: target, measured, ratio. The machine is shared and small: medians, settings shown.
   ``--json FILE`` writes the figures for ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from benchmarks.bench_services import bench_broker, bench_database
from benchmarks.report import BenchResult, Figure, Goal, write_figures
from benchmarks.sweep_floor import FloorReport, time_floor
from benchmarks.timers_countdown import DuplicateOptions, Executions, NaiveMemory, naive_memory
from benchmarks.timers_countdown import executions as run_executions
from benchmarks.timers_lag import (
    LagOptions,
    LagReport,
    measure_fire_lag,
    pay_through_roles,
    wait_outbox_relayed,
)
from benchmarks.timers_procs import Memory, Roles, started, tree_memory, worker_pid
from benchmarks.timers_seed import (
    DeadlineSet,
    count_pending,
    deadlines_mib,
    seed,
    vacuum_analyze,
)
from benchmarks.timers_sweep import (
    PayReport,
    SweepReport,
    pay_in_process,
    pending_compensations_of,
    prepare_compensations,
    time_sweeps,
)
from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade
from slamon.scheduler.loop import DISPATCH_CHUNK
from slamon.sdk import Producer
from slamon.worker.app import create_app

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
SWEEP_TARGET_MS = 50.0
FLOOR_TARGET = 3.0  # issue 13: the sweep's write path within 3 x its hand-written floor
LAG_TARGET_S = 2.0
PAY_TARGET = 1000.0


@dataclass(frozen=True)
class Ours:
    """What phase 5 measured on the running ``slamon worker`` and ``slamon scheduler``."""

    idle: Memory
    pending: int
    deadlines_mib: float
    paid: PayReport
    lag: LagReport
    runs: Executions


@dataclass(frozen=True)
class Results:
    pending: int
    seed_seconds: float
    sweep: SweepReport
    floor: FloorReport
    paid_in_process: PayReport
    paid_in_chunks: PayReport
    naive: NaiveMemory
    ours: Ours


def run(database_url: str, broker_url: str, args: argparse.Namespace, workdir: Path) -> Results:
    """Every phase of the module docstring, in order."""
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    engine = create_db_engine(database_url)
    upgrade(engine)
    began = time.perf_counter()
    seed(engine, DeadlineSet("tp-", max(1, args.pending // 2),
                             datetime.now(UTC) + timedelta(hours=2), timedelta(hours=48),
                             kinds=("response", "resolution")))
    vacuum_analyze(engine)
    seed_seconds = time.perf_counter() - began
    with engine.connect() as conn:
        pending = count_pending(conn)
    say(f"1. seeded {pending:,} pending deadlines in {seed_seconds:.1f} s (with VACUUM ANALYZE)")

    sweep = time_sweeps(engine, args.due, args.repeat, "ts")
    say(f"2. sweep of {args.due:,} due rows, median of {args.repeat}: claim "
        f"{sweep.claim_ms:.1f} ms, claim + judge + write {sweep.total_ms:.1f} ms")
    say("   " + "\n   ".join(sweep.explain))
    floor = time_floor(engine, args.due, args.repeat, "tf")
    say(f"   floor, one hand-written statement, median of {args.repeat}: "
        f"{floor.median_ms:.1f} ms; ours / floor {sweep.total_ms / floor.median_ms:.2f}")

    # Every compensation the sweeps left pending, and more up to --compensations: none is
    # left for the scheduler to dispatch during the later phases.
    owed = pending_compensations_of(engine, "")
    if len(owed) < args.compensations:
        prepare_compensations(engine, "tc-", args.compensations - len(owed), args.due)
    paid_in_process = pay_in_process(engine, pending_compensations_of(engine, ""))
    chunked = prepare_compensations(engine, "tm-", args.compensations, args.due)
    paid_in_chunks = pay_in_process(engine, chunked, DISPATCH_CHUNK)
    say(f"3. in process: compensate() {paid_in_process.paid:,} in "
        f"{paid_in_process.seconds:.1f} s = {paid_in_process.rate:,.0f}/s; compensate_many() "
        f"{paid_in_chunks.paid:,} in chunks of {DISPATCH_CHUNK} in "
        f"{paid_in_chunks.seconds:.1f} s = {paid_in_chunks.rate:,.0f}/s")

    roles = Roles(database_url, broker_url, workdir, args.workers, args.loglevel.upper(),
                  create_app(broker_url))
    naive = naive_memory(roles, args.timers, args.memory_countdown, args.stall)
    broker.flushdb()
    say(f"4. countdown worker: {naive.idle.rss:.0f} MiB idle, {naive.held.rss:.0f} MiB holding "
        f"{naive.timers:,} timers, Redis {naive.broker_mib:+.1f} MiB (sent in "
        f"{naive.send_seconds:.1f} s, all reserved after {naive.hold_seconds:.1f} s)")

    ours = run_roles(engine, roles, args)
    engine.dispose()
    broker.flushdb()
    return Results(pending, seed_seconds, sweep, floor, paid_in_process, paid_in_chunks, naive,
                   ours)


def run_roles(engine: Engine, roles: Roles, args: argparse.Namespace) -> Ours:
    """Phase 5: memory, payments, fire lag and executions on the running roles."""
    worker, scheduler = roles.slamon_worker("ours"), roles.slamon_scheduler("ours")
    with started(worker, scheduler) as alive, Producer(app=roles.control) as producer:
        wait_outbox_relayed(engine, alive, args.stall)
        time.sleep(1.5)  # at least one scheduler step after the relay
        pids = (worker_pid(worker), scheduler.pid)
        idle = tree_memory(pids[0]) + tree_memory(pids[1])
        with engine.connect() as conn:
            pending, on_disk = count_pending(conn), deadlines_mib(conn)
        say(f"5a. slamon worker + scheduler: {idle.rss:.0f} MiB with {pending:,} deadlines "
            "pending")

        paid = pay_through_roles(engine, "tw-", args.compensations, alive, args.stall)
        say(f"5b. scheduler -> worker -> ledger: {paid.paid:,} deadlines due at once, paid in "
            f"{paid.seconds:.1f} s = {paid.rate:,.0f}/s (breaches detected within "
            f"{paid.detect_seconds:.1f} s)")

        wait_outbox_relayed(engine, alive, args.stall)
        lag = measure_fire_lag(engine, producer, pids, alive, LagOptions(
            args.rate, args.duration, args.batch, args.lag_deadlines, args.stall))
        say(f"5c. fire lag of {len(lag.lags):,} deadlines: p50 {lag.percentile(50):.2f} s, "
            f"p99 {lag.percentile(99):.2f} s, max {max(lag.lags):.2f} s; {lag.published:,} "
            f"events published in {lag.window:.1f} s, {lag.ingested_in_window:,} recorded by "
            f"then, all {lag.drained_after:.1f} s later; outcomes {lag.outcomes}")

        runs = run_executions(engine, roles, alive, DuplicateOptions(
            args.dup_timers, args.dup_countdown, args.dup_visibility, args.dup_restore_interval,
            args.stall))
        say(f"5d. countdown runs per timer {dict(sorted(runs.runs.items()))}; ours: "
            f"{runs.ours_breaches:,} breaches, {runs.ours_ledger:,} ledger entries")
    return Ours(idle, pending, on_disk, paid, lag, runs)


def say(line: str) -> None:
    print(line, flush=True)


# --- the table --------------------------------------------------------------------------------


def table(r: Results, args: argparse.Namespace) -> str:
    """Target, measured and ratio (measured / target; naive / ours for memory)."""
    ours = r.ours
    lag, runs = ours.lag, ours.runs
    rows = [
        ("measure", "target", "measured", "ratio", "verdict"),
        (f"sweep claim, {args.due:,} due of {r.pending:,} pending", f"<= {SWEEP_TARGET_MS:g} ms",
         f"{r.sweep.claim_ms:.1f} ms", f"{r.sweep.claim_ms / SWEEP_TARGET_MS:.2f}",
         _met(r.sweep.claim_ms <= SWEEP_TARGET_MS)),
        ("sweep claim + judge + write", f"<= {SWEEP_TARGET_MS:g} ms",
         f"{r.sweep.total_ms:.1f} ms", f"{r.sweep.total_ms / SWEEP_TARGET_MS:.2f}",
         _met(r.sweep.total_ms <= SWEEP_TARGET_MS)),
        ("sweep claim + judge + write vs one hand-written statement",
         f"<= {FLOOR_TARGET:g} x floor", f"{r.sweep.total_ms:.1f} vs {r.floor.median_ms:.1f} ms",
         f"{r.sweep.total_ms / r.floor.median_ms:.2f}",
         _met(r.sweep.total_ms <= FLOOR_TARGET * r.floor.median_ms)),
        (f"fire lag p99, {lag.published / lag.window:,.0f} events/s sent, "
         f"{lag.ingested_in_window / lag.window:,.0f}/s ingested", f"<= {LAG_TARGET_S:g} s",
         f"{lag.percentile(99):.2f} s (p50 {lag.percentile(50):.2f}, max {max(lag.lags):.2f})",
         f"{lag.percentile(99) / LAG_TARGET_S:.2f}", _met(lag.percentile(99) <= LAG_TARGET_S)),
        ("compensations/s, compensate() in process, one by one", f">= {PAY_TARGET:,.0f}/s",
         f"{r.paid_in_process.rate:,.0f}/s", f"{r.paid_in_process.rate / PAY_TARGET:.2f}",
         _met(r.paid_in_process.rate >= PAY_TARGET)),
        (f"compensations/s, compensate_many() in process, chunks of {DISPATCH_CHUNK}",
         f">= {PAY_TARGET:,.0f}/s", f"{r.paid_in_chunks.rate:,.0f}/s",
         f"{r.paid_in_chunks.rate / PAY_TARGET:.2f}", _met(r.paid_in_chunks.rate >= PAY_TARGET)),
        ("compensations/s, scheduler -> worker -> ledger", f">= {PAY_TARGET:,.0f}/s",
         f"{ours.paid.rate:,.0f}/s", f"{ours.paid.rate / PAY_TARGET:.2f}",
         _met(ours.paid.rate >= PAY_TARGET)),
        (f"RSS, {r.naive.timers:,} timers: countdown vs ours", "ours smaller",
         f"{r.naive.held.rss:,.0f} MiB vs {ours.idle.rss:,.0f} MiB",
         f"{r.naive.held.rss / ours.idle.rss:.2f}", _met(ours.idle.rss < r.naive.held.rss)),
        ("duplicate runs past the visibility timeout: countdown vs ours", "0",
         f"{runs.duplicates:,} vs {max(0, runs.ours_ledger - runs.timers)} "
         f"({runs.ours_breaches:,} breaches, {runs.ours_ledger:,} paid for "
         f"{runs.timers:,} deadlines)", "-",
         _met(runs.ours_breaches == runs.ours_ledger == runs.ours_ledger_keys == runs.timers)),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def figures(r: Results, args: argparse.Namespace, load: float) -> BenchResult:
    """The table's figures for the report (one run each, except the sweeps' repeats)."""
    ours, lag, runs = r.ours, r.ours.lag, r.ours.runs
    one = (load,)
    result = BenchResult(f"Timers ({r.pending:,} pending deadlines, PostgreSQL)", "")
    result.add(Figure(f"sweep: claim + judge + write of {args.due:,} due", "ms",
                      tuple(t.total_ms for t in r.sweep.timings), one,
                      "floor: the same claim, update and inserts in one hand-written statement",
                      tuple(r.floor.ms), Goal("ratio", "<=", FLOOR_TARGET), paired=False))
    result.add(Figure(f"sweep: claim alone, {args.due:,} due", "ms",
                      tuple(t.claim_ms for t in r.sweep.timings), one,
                      goal=Goal("value", "<=", SWEEP_TARGET_MS)))
    result.add(Figure(f"fire lag p99 while ingesting {lag.published / lag.window:,.0f} events/s",
                      "s", (lag.percentile(99),), one, goal=Goal("value", "<=", LAG_TARGET_S),
                      note=f"p50 {lag.percentile(50):.2f} s, max {max(lag.lags):.2f} s"))
    for measure, paid in (("compensations, compensate() one by one, in process",
                           r.paid_in_process),
                          (f"compensations, compensate_many() in chunks of {DISPATCH_CHUNK}, "
                           "in process", r.paid_in_chunks),
                          ("compensations, scheduler → worker → ledger", ours.paid)):
        result.add(Figure(measure, "/s", (paid.rate,), one,
                          goal=Goal("value", ">=", PAY_TARGET)))
    result.add(Figure(f"RSS of slamon worker + scheduler, {ours.pending:,} deadlines pending",
                      "MiB", (ours.idle.rss,), one,
                      f"countdown worker holding {r.naive.timers:,} timers",
                      (r.naive.held.rss,), ratio_of="peer/value"))
    result.add(Figure(f"executions past the visibility timeout, {runs.timers:,} deadlines",
                      "duplicate runs", (float(max(0, runs.ours_ledger - runs.timers)),), one,
                      "countdown tasks", (float(runs.duplicates),),
                      Goal("value", "<=", 0), ratio_of="peer/value"))
    result.notes.append(settings(r, args).replace("\n", "; "))
    return result


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def settings(r: Results, args: argparse.Namespace) -> str:
    n, ours = r.naive, r.ours
    lag, runs = ours.lag, ours.runs
    return "\n".join([
        f"seeding {r.pending:,} pending deadlines took {r.seed_seconds:.1f} s",
        "sweep repeats (claim/total ms): "
        + ", ".join(f"{t.claim_ms:.1f}/{t.total_ms:.1f}" for t in r.sweep.timings)
        + "; floor: " + ", ".join(f"{ms:.1f}" for ms in r.floor.ms),
        f"in process: {r.paid_in_process.paid:,} compensations one by one in "
        f"{r.paid_in_process.seconds:.1f} s, {r.paid_in_chunks.paid:,} in chunks in "
        f"{r.paid_in_chunks.seconds:.1f} s; through the roles: {ours.paid.paid:,} "
        f"from the first breach detected to the last ledger entry in "
        f"{ours.paid.seconds:.1f} s (worker concurrency {args.workers}, prefork)",
        f"fire lag: {len(lag.lags):,} deadlines due over {args.duration:g} s; "
        f"{lag.published:,} events in batches of {args.batch} in {lag.window:.1f} s, "
        f"{lag.ingested_in_window:,} recorded by the end of the window, the rest "
        f"{lag.drained_after:.1f} s later; peak memory of ours {lag.peak.rss:.0f} MiB",
        f"memory (RSS, PSS in MiB; processes): countdown worker idle {n.idle.rss:.0f}, "
        f"{n.idle.pss:.0f}; {n.idle.processes} -> holding {n.held.rss:.0f}, "
        f"{n.held.pss:.0f}; {n.held.processes} (countdown {args.memory_countdown:g} s, "
        f"visibility timeout 3600 s; Redis {n.broker_mib:+.1f} MiB for them); ours "
        f"{ours.idle.rss:.0f}, {ours.idle.pss:.0f}; {ours.idle.processes} with "
        f"{ours.pending:,} deadlines pending (the table and its indexes: "
        f"{ours.deadlines_mib:,.0f} MiB on disk)",
        f"executions: {runs.timers:,} countdown tasks (countdown {args.dup_countdown:g} s, "
        f"visibility timeout {args.dup_visibility:g} s, unacked restore every "
        f"{args.dup_restore_interval} s): runs per task {dict(sorted(runs.runs.items()))}, "
        f"{runs.never_ran} never ran; ours: {runs.ours_breaches:,} breaches, "
        f"{runs.ours_ledger:,} ledger entries ({runs.ours_ledger_keys:,} keys)",
    ])


# --- command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_timers", description=__doc__.splitlines()[0]
    )
    size = parser.add_argument_group("sizes (defaults: the issue's)")
    size.add_argument("--pending", type=int, default=1_000_000, help="pending deadlines seeded")
    size.add_argument("--due", type=int, default=1000, help="due rows per timed sweep")
    size.add_argument("--repeat", type=int, default=7, help="timed sweeps (median reported)")
    size.add_argument("--compensations", type=int, default=10_000, help="per payment phase")
    size.add_argument("--rate", type=float, default=500.0, help="events/s during the fire lag")
    size.add_argument("--duration", type=float, default=60.0, help="fire lag window, seconds")
    size.add_argument("--batch", type=int, default=10, help="events per SDK message")
    size.add_argument("--lag-deadlines", type=float, default=20.0,
                      help="deadlines coming due per second during the window")
    size.add_argument("--timers", type=int, default=100_000, help="countdown timers held")
    size.add_argument("--memory-countdown", type=float, default=1800.0,
                      help="their countdown, seconds (below the 3600 s visibility timeout)")
    size.add_argument("--dup-timers", type=int, default=1000, help="timers run past the timeout")
    size.add_argument("--dup-countdown", type=float, default=30.0, help="their countdown, s")
    size.add_argument("--dup-visibility", type=float, default=10.0,
                      help="the countdown worker's visibility timeout there, s")
    size.add_argument("--dup-restore-interval", type=int, default=1,
                      help="how often that worker looks for overdue messages, s")
    run_ = parser.add_argument_group("processes and services")
    run_.add_argument("--workers", type=int, default=2, help="concurrency of every worker")
    run_.add_argument("--loglevel", default="WARNING", help="the roles' log level")
    run_.add_argument("--stall", type=float, default=120.0, help="fail after this long idle")
    run_.add_argument("--redis-url", default=DEFAULT_REDIS, help="broker; its index is flushed")
    run_.add_argument("--own-redis", action="store_true",
                      help="start a redis-server for this run instead")
    run_.add_argument("--postgres", default=DEFAULT_POSTGRES, help="where to CREATE DATABASE")
    run_.add_argument("--database-url", help="use this Postgres database as is (not dropped)")
    run_.add_argument("--keep", action="store_true", help="keep the database and the logs")
    run_.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    for name in ("pending", "due", "repeat", "compensations", "batch", "timers", "dup_timers",
                 "workers", "dup_restore_interval"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.dup_countdown <= args.dup_visibility:
        parser.error("--dup-countdown must pass --dup-visibility: that is what is measured")
    url = args.database_url or args.postgres
    if not url.startswith("postgresql"):
        parser.error("this benchmark runs on Postgres (the issue's setting)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="slamon-bench-timers-"))
    try:
        with (
            bench_broker(workdir, None if args.own_redis else args.redis_url) as broker_url,
            bench_database(workdir, given=args.database_url, sqlite=False,
                           postgres_admin=args.postgres, keep=args.keep) as db_url,
        ):
            say(f"machine: {os.cpu_count()} CPUs, load average {_load()}, "
                f"{platform.platform()}, Python {platform.python_version()}\n"
                f"broker {_safe(broker_url)}; database {_safe(db_url)}\n"
                f"roles: prefork, concurrency {args.workers}, prefetch 4, log level "
                f"{args.loglevel.upper()}; scheduler interval 1 s, batch 1000")
            results = run(db_url, broker_url, args, workdir)
        say(f"load average at the end {_load()} (1, 5, 15 min)")
        say(settings(results, args))
        say(table(results, args))
        if args.json:
            result = figures(results, args, os.getloadavg()[0])
            result.command = " ".join(["python -m benchmarks.bench_timers",
                                       *(sys.argv[1:] if argv is None else argv)])
            result.seconds = time.perf_counter() - began
            write_figures(args.json, result)
    finally:
        if args.keep:
            say(f"kept the role logs in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True) if "://" in url else url


if __name__ == "__main__":
    main()
