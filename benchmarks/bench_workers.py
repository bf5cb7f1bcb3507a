"""Real worker processes for the ingest benchmark: started, awaited until ready, stopped.

Both workers (the no-op floor and ``slamon worker``) are separate processes, exactly as in
production, so the benchmark measures the broker, the pool and the database, not a shortcut.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from celery import Celery

from slamon.worker.app import EVENTS_QUEUE

ROOT = Path(__file__).resolve().parents[1]


class RoleWorker:
    """A worker process, reachable through Celery's control channel under ``node``."""

    def __init__(
        self, argv: list[str], env: dict[str, str], log: Path, node: str, control: Celery
    ) -> None:
        self.argv, self.env, self.log, self.node, self.control = argv, env, log, node, control
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RoleWorker:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        self._wait_ready()
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # warm shutdown: finish the current tasks
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            if self.control.control.ping(destination=[self.node], timeout=0.5):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"worker {self.node} not ready after {timeout:g} s\n{self.tail()}"
                )

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(
                f"worker {self.node} exited ({self.process.returncode})\n{self.tail()}"
            )

    def tasks_done(self, task: str) -> int:
        """How many ``task`` messages the worker has accepted since it started."""
        inspect = self.control.control.inspect(destination=[self.node], timeout=5, limit=1)
        stats = inspect.stats() or {}
        return int(stats.get(self.node, {}).get("total", {}).get(task, 0))

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _node(role: str) -> str:
    return f"bench-{role}-{os.getpid()}@{socket.gethostname()}"


def noop_worker(
    broker_url: str, workers: int, pool: str, loglevel: str, workdir: Path, control: Celery,
    plain: bool = False,
) -> RoleWorker:
    """A :mod:`benchmarks.noop` worker: the production configuration, or Celery's defaults."""
    node = _node("plain" if plain else "noop")
    argv = [sys.executable, "-m", "benchmarks.noop", "--broker", broker_url]
    argv += ["-c", str(workers), "--pool", pool, "--loglevel", loglevel, "-n", node]
    argv += ["--plain"] if plain else []
    env = {**_clean_env(), "PYTHONUNBUFFERED": "1"}
    log = workdir / f"{'plain' if plain else 'noop'}-worker.log"
    return RoleWorker(argv, env, log, node, control)


def naive_worker(
    database_url: str, broker_url: str, workers: int, pool: str, loglevel: str, workdir: Path,
    control: Celery,
) -> RoleWorker:
    """A worker of the naive peer (:mod:`benchmarks.naive`)."""
    node = _node("naive")
    argv = [sys.executable, "-m", "benchmarks.naive", "--broker", broker_url]
    argv += ["--database", database_url, "-c", str(workers), "--pool", pool]
    argv += ["--loglevel", loglevel, "-n", node]
    env = {**_clean_env(), "PYTHONUNBUFFERED": "1"}
    return RoleWorker(argv, env, workdir / "naive-worker.log", node, control)


def slamon_worker(
    database_url: str,
    broker_url: str,
    workers: int,
    pool: str,
    loglevel: str,
    workdir: Path,
    control: Celery,
) -> RoleWorker:
    node = _node("ingest")
    argv = [sys.executable, "-m", "slamon", "worker", "-c", str(workers), "--pool", pool]
    argv += ["-Q", EVENTS_QUEUE, "-n", node]
    env = {
        **_clean_env(),
        "SLAMON_HOME": str(workdir / "home"),
        "SLAMON_DATABASE_URL": database_url,
        "SLAMON_REDIS_URL": broker_url,
        "SLAMON_LOG_LEVEL": loglevel,
        "PYTHONUNBUFFERED": "1",
    }
    return RoleWorker(argv, env, workdir / "ingest-worker.log", node, control)


def _clean_env() -> dict[str, str]:
    # The benchmark decides the worker's configuration; a stray SLAMON_* must not.
    return {k: v for k, v in os.environ.items() if not k.startswith("SLAMON_")}
