"""Processes for the timer benchmark: the real roles, the countdown worker, their memory.

Workers are :class:`benchmarks.bench_workers.RoleWorker` (ready when they answer a ping); the
scheduler answers no ping, so :class:`RoleProcess` just starts it and watches it stay alive.
Memory is read from ``/proc`` (``VmRSS`` of a process and all its descendants: the prefork
pool's children hold the work). Summed RSS counts the pages a forked child still shares with
its parent twice, for both sides alike; ``Pss`` (proportional) is read alongside it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from celery import Celery

from benchmarks.bench_workers import ROOT, RoleWorker
from slamon.worker.app import QUEUES

WORKER_QUEUES = ",".join(QUEUES)


@dataclass(frozen=True)
class Memory:
    """Resident memory of some process trees, in MiB, and how many processes were counted."""

    rss: float
    pss: float
    processes: int

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.rss + other.rss, self.pss + other.pss, self.processes + other.processes)


def tree_memory(pid: int) -> Memory:
    """``VmRSS`` and ``Pss`` of ``pid`` and its descendants (a process that ends meanwhile is
    skipped)."""
    rss = pss = 0.0
    pids = [pid, *descendants(pid)]
    counted = 0
    for p in pids:
        kib = _status_kib(p, "VmRSS:")
        if kib is None:
            continue
        counted += 1
        rss += kib / 1024
        pss += (_smaps_kib(p, "Pss:") or 0) / 1024
    return Memory(rss, pss, counted)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, from ``/proc/*/stat`` parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; the fields after its ")" do not.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _status_kib(pid: int, field: str) -> int | None:
    return _field_kib(Path(f"/proc/{pid}/status"), field)


def _smaps_kib(pid: int, field: str) -> int | None:
    return _field_kib(Path(f"/proc/{pid}/smaps_rollup"), field)


def _field_kib(path: Path, field: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants: a worker holding 100,000 timers would spend
    minutes handing them back to the broker on a warm shutdown, and the broker is emptied
    right after anyway."""
    for p in [*descendants(pid), pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


class RoleProcess:
    """A ``slamon`` role that answers no ping (the scheduler): started, watched, stopped."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, name: str) -> None:
        self.argv, self.env, self.log, self.node = argv, env, log, name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> RoleProcess:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # the loop finishes its step, then exits
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.node} exited ({self.process.returncode})\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def worker_pid(worker: RoleWorker) -> int:
    assert worker.process is not None
    return worker.process.pid


@dataclass(frozen=True)
class Roles:
    """Where and how the benchmark's processes run."""

    database_url: str
    broker_url: str
    workdir: Path
    workers: int
    loglevel: str
    control: Celery

    def _env(self, **extra: str) -> dict[str, str]:
        # The benchmark decides the roles' configuration; a stray SLAMON_* must not.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLAMON_")}
        env.update(
            SLAMON_HOME=str(self.workdir / "home"),
            SLAMON_DATABASE_URL=self.database_url,
            SLAMON_REDIS_URL=self.broker_url,
            SLAMON_LOG_LEVEL=self.loglevel,
            # Far more than a real hour allows: the guard decides, and never holds.
            SLAMON_PAYOUT_MAX_POINTS_PER_HOUR=str(10**15),
            SLAMON_PAYOUT_MAX_PENALTIES_PER_ACCOUNT_PER_DAY=str(10**9),
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env

    def slamon_worker(self, tag: str) -> RoleWorker:
        """``slamon worker`` on every production queue, as deployed."""
        node = _node(f"worker-{tag}")
        argv = [sys.executable, "-m", "slamon", "worker", "-c", str(self.workers)]
        argv += ["--pool", "prefork", "-Q", WORKER_QUEUES, "-n", node]
        return RoleWorker(argv, self._env(), self.workdir / f"worker-{tag}.log", node, self.control)

    def slamon_api(self, tag: str, port: int, token: str) -> RoleProcess:
        """``slamon api`` on ``port``, with ``token`` holding every role."""
        argv = [sys.executable, "-m", "slamon", "api", "--port", str(port)]
        name = f"api-{tag}"
        env = self._env(SLAMON_API_TOKEN=token)
        return RoleProcess(argv, env, self.workdir / f"{name}.log", name)

    def slamon_scheduler(self, tag: str) -> RoleProcess:
        argv = [sys.executable, "-m", "slamon", "scheduler"]
        name = f"scheduler-{tag}"
        return RoleProcess(argv, self._env(), self.workdir / f"{name}.log", name)

    def countdown_worker(
        self, tag: str, visibility_timeout: float, restore_interval: int | None
    ) -> RoleWorker:
        """A worker of :mod:`benchmarks.countdown`, the same pool and concurrency as ours."""
        node = _node(f"countdown-{tag}")
        argv = [sys.executable, "-m", "benchmarks.countdown", "--broker", self.broker_url]
        argv += ["--visibility-timeout", str(visibility_timeout), "-c", str(self.workers)]
        argv += ["--pool", "prefork", "--loglevel", self.loglevel, "-n", node]
        if restore_interval is not None:
            argv += ["--restore-interval", str(restore_interval)]
        log = self.workdir / f"countdown-{tag}.log"
        return RoleWorker(argv, self._env(), log, node, self.control)


def _node(role: str) -> str:
    return f"bench-{role}-{os.getpid()}@{os.uname().nodename}"


class Alive:
    """Processes that must stay up while the benchmark waits on them."""

    def __init__(self, *processes: RoleWorker | RoleProcess) -> None:
        self.processes = processes

    def check(self) -> None:
        for process in self.processes:
            process.check_alive()


def wait_until(
    done: Callable[[], bool],
    progress: Callable[[], int],
    alive: Alive,
    stall: float,
    what: str,
    interval: float = 0.1,
) -> None:
    """Poll ``done``; fail if a process dies or ``progress`` stands still for ``stall`` s."""
    last, since = progress(), time.monotonic()
    while not done():
        time.sleep(interval)
        alive.check()
        moved = progress()
        if moved != last:
            last, since = moved, time.monotonic()
        elif time.monotonic() - since > stall:
            raise RuntimeError(f"no progress for {stall:g} s waiting for {what}")


@contextlib.contextmanager
def started(*processes: RoleWorker | RoleProcess) -> Iterator[Alive]:
    """Enter every process (a worker waits until it answers a ping); leave them all."""
    with contextlib.ExitStack() as stack:
        for process in processes:
            stack.enter_context(process)
        yield Alive(*processes)
