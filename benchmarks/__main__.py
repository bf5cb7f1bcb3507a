"""Every benchmark, one report: ``python -m benchmarks [--quick] [--output BENCHMARKS.md]``.

Runs each benchmark of this package as its own process (the same command a reader can rerun,
given in the report above its table), each on a database and a redis-server of its own, one
after the other so that they do not compete for the machine, and writes BENCHMARKS.md from
the figures they report (:mod:`benchmarks.report`): the machine and its load, every figure
beside its peer with their ratio, and the goals.

* the default profile uses the issues' sizes (a million pending deadlines, 100,000 events per
  ingest run, three runs each; about an hour on two cores);
* ``--quick``: the same benchmarks at sizes that take a few minutes in all;
* ``--tiny``: sizes that only prove every benchmark still runs (the smoke test's).

A benchmark that fails is reported as failed (with the end of its output) and the command
exits 1 after writing the report of the others. ``wrk`` (Debian's ``wrk`` package) is needed
for the single-event HTTP figures; without it they are left out, and the report says so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.report import BenchResult, read_figures, render

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bench:
    module: str
    sizes: dict[str, list[str]]  # profile -> arguments


OWN = ["--own-redis"]
BENCHES = (
    Bench("bench_calendar", {
        "full": ["--calls", "20000", "--repeat", "7"],
        "quick": ["--calls", "5000", "--repeat", "5"],
        "tiny": ["--calls", "200", "--repeat", "2"],
    }),
    Bench("bench_ingest", {
        "full": [*OWN, "--events", "100000", "--mixed-cases", "30000", "--naive-events", "5000",
                 "--noop-tasks", "20000", "--repeat", "3"],
        "quick": [*OWN, "--events", "10000", "--mixed-cases", "3000", "--naive-events", "500",
                  "--noop-tasks", "2000", "--repeat", "3"],
        "tiny": [*OWN, "--events", "100", "--mixed-cases", "30", "--naive-events", "10",
                 "--noop-tasks", "20", "--batch", "20", "--repeat", "1", "--workers", "1"],
    }),
    Bench("bench_ingest", {
        "full": ["--embedded", "--events", "20000", "--mixed-cases", "6000", "--naive-events",
                 "2000", "--noop-tasks", "5000", "--repeat", "3"],
        "quick": ["--embedded", "--events", "5000", "--mixed-cases", "1500", "--naive-events",
                  "300", "--noop-tasks", "1000", "--repeat", "1"],
        "tiny": ["--embedded", "--events", "60", "--mixed-cases", "20", "--naive-events", "6",
                 "--noop-tasks", "10", "--batch", "20", "--repeat", "1", "--workers", "1"],
    }),
    Bench("bench_timers", {
        "full": [*OWN],
        "quick": [*OWN, "--pending", "100000", "--repeat", "5", "--compensations", "2000",
                  "--rate", "200", "--duration", "15", "--timers", "10000", "--dup-timers",
                  "200", "--dup-countdown", "15", "--dup-visibility", "5"],
        "tiny": [*OWN, "--pending", "200", "--due", "10", "--repeat", "2", "--compensations",
                 "10", "--rate", "20", "--duration", "1", "--batch", "4", "--lag-deadlines",
                 "4", "--timers", "20", "--dup-timers", "5", "--dup-countdown", "2.5",
                 "--dup-visibility", "1", "--workers", "1"],
    }),
    Bench("bench_catchup", {
        "full": [*OWN],
        "quick": [*OWN, "--due", "10000", "--pending", "100000", "--live-window", "20"],
        "tiny": [*OWN, "--due", "20", "--pending", "50", "--live", "4", "--live-window", "1",
                 "--workers", "1"],
    }),
    Bench("bench_http", {
        "full": [*OWN],
        "quick": [*OWN, "--events", "10000", "--seconds", "10"],
        "tiny": [*OWN, "--events", "40", "--batch", "20", "--repeat", "1", "--clients", "1",
                 "--workers", "1", "--no-wrk"],
    }),
    Bench("bench_memory", {
        "full": [*OWN],
        "quick": [*OWN, "--pending", "100000", "--settle", "5"],
        "tiny": [*OWN, "--pending", "50", "--events", "10", "--settle", "0.5", "--requests", "1",
                 "--workers", "1"],
    }),
)


def command(bench: Bench, profile: str, services: list[str]) -> list[str]:
    args = list(bench.sizes[profile])
    if bench.module != "bench_calendar":
        args += services
        if bench.module == "bench_http" and "--no-wrk" not in args and not shutil.which("wrk"):
            args.append("--no-wrk")
    return ["-m", f"benchmarks.{bench.module}", *args]


def run_one(argv: list[str], json_path: Path) -> BenchResult:
    """One benchmark as its own process, its output shown as it goes; its figures."""
    shown = "python " + " ".join(argv)
    print(f"\n== {shown}", flush=True)
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, *argv, "--json", str(json_path)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    tail: list[str] = []
    for line in process.stdout:
        print(line, end="", flush=True)
        tail = [*tail[-29:], line.rstrip()]
    code = process.wait()
    if code != 0 or not json_path.exists():
        failed = BenchResult(f"{argv[1]} FAILED (exit {code})", shown,
                             seconds=time.perf_counter() - began)
        failed.notes.append("the end of its output: `" + " / ".join(tail[-8:]) + "`")
        return failed
    result = read_figures(json_path)
    result.command = shown
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="profile", const="quick",
                      help="small sizes: a few minutes in all")
    size.add_argument("--tiny", action="store_const", dest="profile", const="tiny",
                      help="the smallest sizes (for the smoke test; figures mean nothing)")
    parser.set_defaults(profile="full")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md",
                        help="the report to write")
    parser.add_argument("--only", default="",
                        help="comma-separated benchmark modules to run (e.g. bench_ingest)")
    parser.add_argument("--postgres", default=None,
                        help="the Postgres where each benchmark creates its database")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began, load_before = datetime.now(UTC), os.getloadavg()
    services = ["--postgres", args.postgres] if args.postgres else []
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - {b.module for b in BENCHES}
    if unknown:
        raise SystemExit(f"--only: no benchmark named {', '.join(sorted(unknown))}")
    results: list[BenchResult] = []
    with tempfile.TemporaryDirectory(prefix="slamon-benchmarks-") as tmp:
        for i, bench in enumerate(BENCHES):
            if only and bench.module not in only:
                continue
            argv = command(bench, args.profile, services)
            result = run_one(argv, Path(tmp) / f"{i}-{bench.module}.json")
            if "--no-wrk" in argv:
                result.notes.append("wrk was not used (not installed: `apt-get install wrk`, "
                                    "or --tiny): no single-event HTTP figures")
            results.append(result)
    shown = "python -m benchmarks" + {"full": "", "quick": " --quick", "tiny": " --tiny"}[
        args.profile]
    args.output.write_text(render(results, args.profile, began, load_before, shown),
                           encoding="utf-8")
    print(f"\nwrote {args.output}", flush=True)
    return 1 if any("FAILED" in r.benchmark for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
