"""Business calendar throughput on the default calendar (Asia/Shanghai, 09:00-18:00 every day).

Run: `python -m benchmarks.bench_calendar [--calls N] [--repeat R] [--json FILE]` (one
process, one core).

Each figure is the median of R timed passes over the same N start instants spread over a year
(seeded, so runs are comparable), after one untimed pass that materializes the calendar's
chunks; that first (cold) pass, on a fresh calendar, is reported too. Plain aware
`datetime + timedelta` on the same instants, timed in the same run, is the floor. Targets
(issue 3): add(1 h) >= 200,000/s and add(48 business hours) >= 50,000/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.report import BenchResult, Figure, Goal, write_figures
from slamon.models.calendar.engine import BusinessCalendar
from slamon.models.calendar.spec import WEEKDAYS, CalendarSpec

DEFAULT_SPEC = CalendarSpec(
    tz="Asia/Shanghai",
    weekly={day: [("09:00", "18:00")] for day in WEEKDAYS},
)
TARGETS = {"add(1 h)": 200_000, "add(48 business h)": 50_000}


def start_instants(count: int, seed: int = 20261126) -> list[datetime]:
    """`count` aware instants in 2026, local to the calendar, to the microsecond."""
    rng = random.Random(seed)
    zone = ZoneInfo(DEFAULT_SPEC.tz)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    year_us = 365 * 86_400 * 10**6
    return [
        (first + timedelta(microseconds=rng.randrange(year_us))).astimezone(zone)
        for _ in range(count)
    ]


def per_second(run: Callable[[], object], calls: int, repeat: int) -> tuple[float, list[float]]:
    """(cold, warm passes) calls per second of `run`, which makes `calls` calls."""
    cold = timeit.timeit(run, number=1)
    warm = timeit.repeat(run, number=1, repeat=repeat)
    return calls / cold, [calls / w for w in warm]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_calendar",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per timed pass")
    parser.add_argument("--repeat", type=int, default=7, help="timed passes (median reported)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    began = time.perf_counter()

    starts = start_instants(args.calls)
    ends = [start + timedelta(days=7) for start in starts]
    one_hour, two_days = timedelta(hours=1), timedelta(hours=48)
    # A fresh calendar per case, so that "cold" includes building its chunks.
    add_1h = BusinessCalendar.from_spec(DEFAULT_SPEC).add
    add_48h = BusinessCalendar.from_spec(DEFAULT_SPEC).add
    elapsed = BusinessCalendar.from_spec(DEFAULT_SPEC).elapsed

    cases: dict[str, Callable[[], object]] = {
        "floor: aware datetime + timedelta": lambda: [s + one_hour for s in starts],
        "add(1 h)": lambda: [add_1h(s, one_hour) for s in starts],
        "add(48 business h)": lambda: [add_48h(s, two_days) for s in starts],
        "elapsed(s, s + 7 days)": lambda: [
            elapsed(s, e) for s, e in zip(starts, ends, strict=True)
        ],
    }

    print(
        f"Python {platform.python_version()} on {platform.machine()}; calendar {DEFAULT_SPEC.tz}"
        f" 09:00-18:00 every day; {args.calls:,} calls x {args.repeat} passes (median)"
    )
    print(f"{'operation':<36}{'cold /s':>12}{'warm /s':>12}{'µs/call':>10}  vs target")
    passes: dict[str, list[float]] = {}
    for name, run in cases.items():
        cold, runs = per_second(run, args.calls, args.repeat)
        passes[name] = runs
        warm = statistics.median(runs)
        target = TARGETS.get(name)
        verdict = f"{warm / target:.2f}x of {target:,}/s" if target else ""
        print(f"{name:<36}{cold:>12,.0f}{warm:>12,.0f}{1e6 / warm:>10.2f}  {verdict}")
    if args.json:
        floor = next(iter(passes))
        result = BenchResult("Business calendar (Asia/Shanghai, 09:00-18:00)", " ".join(
            ["python -m benchmarks.bench_calendar", *(sys.argv[1:] if argv is None else argv)]))
        loads = (os.getloadavg()[0],)
        for name, runs in list(passes.items())[1:]:
            target = TARGETS.get(name)
            result.add(Figure(name, "calls/s", tuple(runs), loads,
                              "plain aware datetime + timedelta", tuple(passes[floor]),
                              Goal("value", ">=", target) if target else None))
        result.notes.append(f"{args.calls:,} calls per pass, {args.repeat} warm passes per "
                            "figure, after one cold pass; one process")
        result.seconds = time.perf_counter() - began
        write_figures(args.json, result)


if __name__ == "__main__":
    main()
