"""Figures as every benchmark reports them, and BENCHMARKS.md made from them.

A benchmark run with ``--json FILE`` writes its figures there (:func:`write_figures`);
``python -m benchmarks`` collects the files of every benchmark it ran and renders one report
(:func:`render`). A figure is the median of its runs, measured in the same run as its peer
(the floor or the alternative it is compared with), with the load average of the machine at
each run: on a small shared machine only such side-by-side ratios mean something.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Goal:
    """A bound on the figure's ``ratio`` (value / peer) or on its ``value``."""

    of: Literal["ratio", "value"]
    op: Literal[">=", "<="]
    bound: float

    def met(self, figure: Figure) -> bool | None:
        x = figure.ratio if self.of == "ratio" else figure.value
        if x is None:
            return None
        return x >= self.bound if self.op == ">=" else x <= self.bound

    def text(self, unit: str) -> str:
        bound = f"{self.bound:g}" if self.of == "ratio" else number(self.bound, unit)
        return f"{self.of} {'≥' if self.op == '>=' else '≤'} {bound}"


@dataclass(frozen=True)
class Figure:
    """One measured figure: the median of ``runs``, beside its peer's median."""

    measure: str
    unit: str
    runs: tuple[float, ...]
    loads: tuple[float, ...]  # 1-minute load average at the end of each run
    peer: str | None = None
    peer_runs: tuple[float, ...] = ()
    goal: Goal | None = None
    peer_unit: str | None = None  # when the peer counts something else (tasks, not events)
    note: str | None = None
    # The ratio is value / peer unless the figure says the peer's side is the numerator
    # (memory, latency: "the peer uses this many times more").
    ratio_of: Literal["value/peer", "peer/value"] = "value/peer"
    # Paired: run i of the figure and run i of its peer were measured back to back.
    paired: bool = True

    @property
    def value(self) -> float:
        return statistics.median(self.runs)

    @property
    def peer_value(self) -> float | None:
        return statistics.median(self.peer_runs) if self.peer_runs else None

    @property
    def ratio(self) -> float | None:
        """The median of the per-run ratios when both sides have as many runs (each pair
        measured back to back), else the ratio of the medians."""
        if not self.peer_runs:
            return None
        pairs = list(zip(self.runs, self.peer_runs, strict=False))
        if self.paired and len(self.runs) == len(self.peer_runs):
            ratios = [self._ratio(v, p) for v, p in pairs]
            return statistics.median(r for r in ratios if r is not None) if any(
                r is not None for r in ratios) else None
        peer = self.peer_value
        return None if peer is None else self._ratio(self.value, peer)

    def _ratio(self, value: float, peer: float) -> float | None:
        num, den = (value, peer) if self.ratio_of == "value/peer" else (peer, value)
        return num / den if den else None

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self)


@dataclass
class BenchResult:
    """What one benchmark command produced."""

    benchmark: str  # a section title
    command: str  # how to rerun it, as the runner ran it
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure


def load1() -> float:
    return os.getloadavg()[0]


def write_figures(path: Path, result: BenchResult) -> None:
    data = asdict(result)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1))


def read_figures(path: Path) -> BenchResult:
    data = json.loads(path.read_text())
    figures = []
    for f in data.pop("figures"):
        goal = Goal(**f.pop("goal")) if f.get("goal") else None
        f.pop("goal", None)
        figures.append(Figure(**{**f, "runs": tuple(f["runs"]), "loads": tuple(f["loads"]),
                                 "peer_runs": tuple(f["peer_runs"])}, goal=goal))
    return BenchResult(figures=figures, **data)


# --- rendering -------------------------------------------------------------------------------


def number(x: float | None, unit: str = "") -> str:
    if x is None:
        return "–"
    if abs(x) >= 100 or (x == int(x) and abs(x) >= 1):
        text = f"{x:,.0f}"
    elif abs(x) >= 10:
        text = f"{x:.1f}"
    else:
        text = f"{x:.2f}"
    return f"{text} {unit}".strip()


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "–"}[met]


def machine() -> list[str]:
    """The machine, as the report's header states it."""
    lines = [
        f"{os.cpu_count()} CPUs ({_cpu_model()}), {_memory_gib():.0f} GiB RAM, "
        f"{platform.platform()}",
        f"Python {platform.python_version()}, {_version(['psql', '--version'])}, "
        f"{_version(['redis-server', '--version'])}",
    ]
    return lines


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return f"{argv[0]} not found"
    return " ".join(out.split()[:3]) if out else f"{argv[0]} (no version)"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def figure_rows(figures: Sequence[Figure]) -> list[str]:
    lines = [
        _row(["measure", "median", "runs", "peer", "peer median", "ratio", "goal", "verdict",
              "load"]),
        _row(["---"] * 9),
    ]
    for f in figures:
        runs = ", ".join(number(r) for r in f.runs)
        loads = "–".join(f"{x:.1f}" for x in (min(f.loads), max(f.loads))) if f.loads else "–"
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "–"
        if f.ratio is not None:
            ratio += " (peer / ours)" if f.ratio_of == "peer/value" else ""
        lines.append(_row([
            f.measure + (f" ({f.note})" if f.note else ""),
            number(f.value, f.unit),
            runs,
            f.peer or "–",
            number(f.peer_value, f.peer_unit or f.unit),
            ratio,
            f.goal.text(f.unit) if f.goal else "–",
            verdict(f.met),
            loads,
        ]))
    return lines


def render(results: Sequence[BenchResult], profile: str, began: datetime,
           load_before: tuple[float, ...], command: str) -> str:
    """BENCHMARKS.md: the machine and its load, the goals, then every benchmark's table."""
    load_after = os.getloadavg()
    out = [
        "# Benchmarks",
        "",
        f"Written by `{command}` (profile *{profile}*), {began:%Y-%m-%d %H:%M} UTC, in "
        f"{(datetime.now(UTC) - began).total_seconds() / 60:.0f} min. Rerun it, or any one "
        "benchmark with the command above its table.",
        "",
        "**Machine**: " + "; ".join(machine()) + ". Load average (1, 5, 15 min) "
        f"{_loads(load_before)} at the start, {_loads(load_after)} at the end; the machine "
        "is shared, so absolute figures move with the load (the last column gives the "
        "1-minute load average over the runs of each figure). What is comparable is a figure "
        "and its peer, measured back to back in the same run: each *ratio* is the median of "
        "the per-run ratios (value / peer, unless marked *peer / ours*).",
        "",
        "## Goals",
        "",
        _row(["goal", "figure", "median", "peer median", "ratio", "verdict"]),
        _row(["---"] * 6),
    ]
    for result in results:
        for f in result.figures:
            if f.goal is None:
                continue
            out.append(_row([
                f.goal.text(f.unit), f"{result.benchmark}: {f.measure}", number(f.value, f.unit),
                number(f.peer_value, f.peer_unit or f.unit) + (f" ({f.peer})" if f.peer else ""),
                f"{f.ratio:.2f}" if f.ratio is not None else "–", verdict(f.met),
            ]))
    for result in results:
        out += ["", f"## {result.benchmark}", "", f"`{result.command}` "
                f"({result.seconds / 60:.1f} min)", ""]
        out += figure_rows(result.figures)
        if result.notes:
            out.append("")
            out += [f"- {note}" for note in result.notes]
    return "\n".join(out) + "\n"


def _loads(loads: Sequence[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in loads)
