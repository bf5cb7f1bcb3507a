"""What every benchmark command shares: the service options, the run's services and workdir,
and how the figures are printed and written for ``python -m benchmarks``."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.bench_services import bench_broker, bench_database
from benchmarks.report import BenchResult, write_figures

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def service_options(parser: argparse.ArgumentParser, default_redis: str) -> None:
    """The options of the processes and services a benchmark runs on."""
    group = parser.add_argument_group("processes and services")
    group.add_argument("--workers", type=int, default=2, help="worker concurrency")
    group.add_argument("--loglevel", default="WARNING", help="the roles' log level")
    group.add_argument("--stall", type=float, default=120.0, help="fail after this long idle")
    group.add_argument("--redis-url", default=default_redis,
                       help="broker; its index is flushed")
    group.add_argument("--own-redis", action="store_true",
                       help="start a redis-server for this run instead")
    group.add_argument("--postgres", default=DEFAULT_POSTGRES, help="where to CREATE DATABASE")
    group.add_argument("--database-url", help="use this database as is (migrated, not dropped)")
    group.add_argument("--keep", action="store_true", help="keep the database and the logs")
    group.add_argument("--json", type=Path, help="write the figures to this file")


def checked(parser: argparse.ArgumentParser, args: argparse.Namespace, *at_least_one: str,
            postgres: bool = True) -> argparse.Namespace:
    """``args`` once the counts named are at least 1 (and the database is Postgres)."""
    for name in ("workers", *at_least_one):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if postgres and not (args.database_url or args.postgres).startswith("postgresql"):
        parser.error("this benchmark runs on Postgres")
    args.loglevel = args.loglevel.upper()
    return args


@contextmanager
def services(args: argparse.Namespace, name: str, sqlite: bool = False
             ) -> Iterator[tuple[str, str, Path]]:
    """(broker URL, database URL, workdir) for the run, all removed afterwards unless
    ``--keep``."""
    workdir = Path(tempfile.mkdtemp(prefix=f"slamon-{name}-"))
    try:
        with (
            bench_broker(workdir, None if args.own_redis else args.redis_url) as broker_url,
            bench_database(workdir, given=args.database_url, sqlite=sqlite,
                           postgres_admin=args.postgres, keep=args.keep) as db_url,
        ):
            yield broker_url, db_url, workdir
    finally:
        if args.keep:
            print(f"kept the role logs in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def publish(result: BenchResult, module: str, argv: list[str] | None, began: float,
            json_path: Path | None) -> None:
    """Name the command that reran it, print every figure, write them if asked."""
    result.command = " ".join([f"python -m benchmarks.{module}",
                               *(sys.argv[1:] if argv is None else argv)])
    result.seconds = time.perf_counter() - began
    for f in result.figures:
        peer = (f" vs {f.peer} {f.peer_value:,.2f}, ratio {f.ratio or 0:.2f}"
                if f.peer_value is not None else "")
        goal = f"; goal {f.goal.text(f.unit)}: {'met' if f.met else 'NOT met'}" if f.goal else ""
        note = f" ({f.note})" if f.note else ""
        print(f"{f.measure}: {f.value:,.2f} {f.unit}{peer}{goal}{note}", flush=True)
    if json_path is not None:
        write_figures(json_path, result)
