"""``slamon up`` with a worker that keeps dying: the stack stays up, restarts it with capped
backoff, logs every exit with its code and the last lines of the worker's log, ``/readyz``
reports the worker down meanwhile, and the API keeps taking events."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import RunningStack, clean_env
from tests.e2e.test_up import opened
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e
KILLS = 7  # more than the five restarts after which the old supervisor stopped the stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RunningStack]:
    home = tmp_path / "home"
    running = RunningStack(home, clean_env(home, SLAMON_SUPERVISOR_MAX_BACKOFF_SECONDS="3"))
    yield running
    running.stop()


def worker_pid(supervisor: int) -> int | None:
    """The pid of the supervisor's `slamon worker` child, if one is running."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == supervisor and cmdline[1:4] == [b"-m", b"slamon", b"worker"]:
            return int(entry.name)
    return None


def test_a_crash_looping_worker_does_not_stop_the_stack(stack: RunningStack) -> None:
    stack.wait_healthy(60)
    headers = {"authorization": f"Bearer {stack.token()}"}
    up = stack.process.pid
    pid = wait_for(lambda: worker_pid(up), timeout=30, what="the worker")
    for kill in range(KILLS):
        os.kill(pid, signal.SIGKILL)
        if kill == KILLS - 1:  # the backoff is at its 3 s cap by now: look while it is down
            ready = wait_for(lambda: (r := httpx.get(f"{stack.api_url}/readyz")).status_code
                             == 503 and "worker down" in r.text and r, timeout=3,
                             interval=0.1, what="/readyz to report the worker down")
            at = datetime.now(UTC) - timedelta(minutes=1)
            accepted = httpx.post(f"{stack.api_url}/v1/events", headers=headers,
                                  json=opened("H-LOOP", "loop-1", at))
            assert accepted.status_code == 202, accepted.text
        pid = wait_for(lambda old=pid: (p := worker_pid(up)) not in (None, old) and p,
                       timeout=30, what=f"restart #{kill + 1}")
        assert stack.process.poll() is None, stack.output()
    assert "worker down" in ready.json()["checks"]["roles"]
    stack.wait_case("H-LOOP", timeout=60)  # queued while the worker was down, applied after
    output = stack.output()
    assert output.count("worker exited with code -9") == KILLS, output
    assert "the last lines of" in output and "restart #7" in output
    wait_for(lambda: httpx.get(f"{stack.api_url}/readyz").json()["checks"]["roles"] == "ok",
             timeout=30, what="/readyz to see the worker back")
