"""HTTP intake: ``POST /v1/events`` beside the SDK, and single events under ``wrk`` (issue 13).

Run: ``python -m benchmarks.bench_http [--events N] [--batch B] [--repeat R] [--own-redis]
[--json FILE]`` (``--help`` for every option; ``wrk`` must be installed, see
:mod:`benchmarks.http_wrk`, or pass ``--no-wrk``).

With a real ``slamon worker`` on ``sla.events`` and a real ``slamon api`` (uvicorn, one
process) on one broker and one Postgres database, ``--repeat`` rounds of:
1. SDK: ``--events`` ``help.opened`` in batches of ``--batch`` through the SDK, timed until
   every message is processed and every event applied (as :mod:`benchmarks.bench_ingest`).
2. HTTP: as many events, new ones, as ``POST /v1/events`` batches of ``--batch`` from
   ``--clients`` client threads (each answer must be 202), timed the same way. The goal:
   at least ``HTTP_GOAL`` of the SDK's rate.
Then, once: ``wrk`` with ``--connections`` connections for ``--seconds`` s of single-event
``POST /v1/events`` (a new event each; all must be answered 202 and then applied), beside
``GET /healthz`` under the same load (the HTTP stack alone): requests/s, p50 and p99.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis
from sqlalchemy import Engine, func, select

from benchmarks.bench_cli import checked, publish, service_options, services
from benchmarks.bench_workers import RoleWorker
from benchmarks.http_wrk import EVENT_SCRIPT, PLAIN_SCRIPT, WrkRun, run_wrk, wrk_available
from benchmarks.ingest_phases import Phase, check_ingested, time_ingest, wait_drained
from benchmarks.ingest_workload import SH, batches, opened_events
from benchmarks.report import BenchResult, Figure, Goal
from benchmarks.timers_procs import RoleProcess, Roles, started
from slamon.embedded_redis import free_port
from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade
from slamon.models.db.tables import InboxEvent
from slamon.models.states import InboxOutcome
from slamon.sdk import Producer
from slamon.worker.app import create_app

DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
HTTP_GOAL = 0.8
TOKEN = "bench-http-token-0123456789"


@dataclass(frozen=True)
class Results:
    sdk: list[Phase]
    http: list[Phase]
    loads: list[float]
    single: WrkRun | None
    healthz: WrkRun | None
    load: float


def wait_http(api: RoleProcess, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        api.check_alive()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not answer /healthz within {timeout:g} s\n{api.tail()}")


def post_batches(url: str, bodies: list[bytes], clients: int) -> None:
    """POST every body from ``clients`` threads (each takes the next one); all must be 202."""
    lock, errors = threading.Lock(), []
    todo = iter(bodies)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            while True:
                with lock:
                    body = next(todo, None)
                if body is None:
                    return
                answer = http.post("/v1/events", content=body)
                if answer.status_code != 202:
                    errors.append(f"{answer.status_code} {answer.text[:300]}")
                    return

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"POST /v1/events refused a batch: {errors[0]}")


def time_http(engine: Engine, broker: redis.Redis[bytes], url: str, worker: RoleWorker,
              prefix: str, events: int, batch: int, clients: int, stall: float) -> Phase:
    now = datetime.now(UTC)
    bodies = [json.dumps(b, ensure_ascii=False).encode()
              for b in batches(opened_events(prefix, events, now), batch)]
    started_at = time.perf_counter()
    post_batches(url, bodies, clients)
    posted = time.perf_counter() - started_at
    wait_drained(broker, worker, stall, lambda: _applied(engine, prefix, events))
    elapsed = time.perf_counter() - started_at
    check_ingested(engine, prefix, events)
    return Phase(events, elapsed, posted)


def _applied(engine: Engine, prefix: str, events: int) -> bool:
    try:
        check_ingested(engine, prefix, events)
    except RuntimeError:
        return False
    return True


def run(database_url: str, broker_url: str, args: argparse.Namespace, workdir: Path) -> Results:
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    engine = create_db_engine(database_url)
    upgrade(engine)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    roles = Roles(database_url, broker_url, workdir, args.workers, args.loglevel,
                  create_app(broker_url))
    worker = roles.slamon_worker("http")
    worker.argv[worker.argv.index("-Q") + 1] = "sla.events"
    api = roles.slamon_api("http", port, TOKEN)
    sdk, http, loads = [], [], []
    single = healthz = None
    with started(worker, api), Producer(app=roles.control) as producer:
        wait_http(api, url)
        time_ingest(engine, broker, producer, worker, "hw", 20, 10, args.stall)
        time_http(engine, broker, url, worker, "hh", 20, 10, 1, args.stall)
        for r in range(args.repeat):
            sdk.append(time_ingest(engine, broker, producer, worker, f"hs{r}", args.events,
                                   args.batch, args.stall))
            http.append(time_http(engine, broker, url, worker, f"hp{r}", args.events,
                                  args.batch, args.clients, args.stall))
            loads.append(os.getloadavg()[0])
            print(f"round {r + 1}: SDK {sdk[-1].rate:,.0f} events/s, HTTP batches of "
                  f"{args.batch} {http[-1].rate:,.0f} events/s (posted in "
                  f"{http[-1].publish_seconds:.1f} s), ratio {http[-1].rate / sdk[-1].rate:.2f}; "
                  f"load {loads[-1]:.1f}", flush=True)
        if args.wrk:
            single, healthz = wrk_phase(engine, broker, url, worker, args, workdir)
    engine.dispose()
    broker.flushdb()
    return Results(sdk, http, loads, single, healthz, os.getloadavg()[0])


def wrk_phase(engine: Engine, broker: redis.Redis[bytes], url: str, worker: RoleWorker,
              args: argparse.Namespace, workdir: Path) -> tuple[WrkRun, WrkRun]:
    """Single-event POSTs under wrk, then GET /healthz the same way; every event applied."""
    opened = (datetime.now(UTC) - timedelta(minutes=5)).astimezone(SH).isoformat()
    prefix = f"hw{os.getpid()}"
    single = run_wrk(url, EVENT_SCRIPT, [prefix, opened, TOKEN], args.wrk_threads,
                     args.connections, args.seconds, workdir)
    if single.failed:
        raise RuntimeError(f"wrk: {single.failed} single-event requests failed")
    print(f"wrk single events: {single.requests:,} in {single.seconds:.1f} s = "
          f"{single.rate:,.0f}/s, p50 {single.p50_ms:.1f} ms, p99 {single.p99_ms:.1f} ms",
          flush=True)
    healthz = run_wrk(f"{url}/healthz", PLAIN_SCRIPT, [], args.wrk_threads, args.connections,
                      args.seconds, workdir)

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).where(
                InboxEvent.event_id.startswith(f"{prefix}-"),
                InboxEvent.outcome == InboxOutcome.APPLIED)) or 0)

    # wrk counts the answers it read; a request in flight when it stopped may be applied too.
    wait_drained(broker, worker, args.stall, lambda: count() >= single.requests)
    return single, healthz


def figures(r: Results, args: argparse.Namespace) -> BenchResult:
    result = BenchResult("HTTP intake (PostgreSQL)", "")
    loads = tuple(r.loads)
    result.add(Figure(f"POST /v1/events, batches of {args.batch}, {args.clients} client "
                      "thread(s) → worker → PostgreSQL", "events/s",
                      tuple(p.rate for p in r.http), loads,
                      f"SDK, batches of {args.batch}, same worker",
                      tuple(p.rate for p in r.sdk), Goal("ratio", ">=", HTTP_GOAL)))
    if r.single and r.healthz:
        one = (r.load,)
        wrk = f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.seconds:g}s"
        result.add(Figure(f"single-event POST /v1/events under {wrk}", "requests/s",
                          (r.single.rate,), one, "GET /healthz, same load", (r.healthz.rate,)))
        result.add(Figure("single-event POST /v1/events, p50 latency", "ms",
                          (r.single.p50_ms,), one, "GET /healthz p50", (r.healthz.p50_ms,)))
        result.add(Figure("single-event POST /v1/events, p99 latency", "ms",
                          (r.single.p99_ms,), one, "GET /healthz p99", (r.healthz.p99_ms,)))
    result.notes.append(
        f"{args.events:,} events per run; worker concurrency {args.workers}; one uvicorn "
        "process; the client threads and wrk run on the same cores. wrk is Debian's `wrk` "
        "package (`apt-get install wrk`), not installed by .ci/run: benchmarks are not CI.")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_http",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="events per phase and run")
    parser.add_argument("--batch", type=int, default=500, help="events per message / request")
    parser.add_argument("--clients", type=int, default=4, help="HTTP client threads")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians reported)")
    parser.add_argument("--no-wrk", dest="wrk", action="store_false", help="skip the wrk phase")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--seconds", type=float, default=20.0, help="wrk duration per phase")
    service_options(parser, DEFAULT_REDIS)
    args = checked(parser, parser.parse_args(argv), "events", "batch", "clients", "repeat",
                   "connections", "wrk_threads")
    if args.wrk:
        wrk_available()
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    with services(args, "bench-http") as (broker_url, db_url, workdir):
        results = run(db_url, broker_url, args, workdir)
    publish(figures(results, args), "bench_http", argv, began, args.json)


if __name__ == "__main__":
    main()
