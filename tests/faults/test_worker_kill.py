"""A real ``slamon worker`` SIGKILLed (with its pool) while 20,000 events are in flight;
restarted, every event is applied exactly once: inbox = sent, one case per opening, no dead
letter. The messages the killed worker had fetched come back through the broker's visibility
timeout (SLAMON_BROKER_VISIBILITY_TIMEOUT_SECONDS, 40 s by default)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import Engine

from slamon.sdk import Producer
from tests.faults.counts import ingested
from tests.faults.events import openings
from tests.faults.servers import AofRedis
from tests.support.processes import role_env, role_process, wait_for

EVENTS, PER_MESSAGE = 20_000, 100


def test_worker_killed_with_20000_events_in_flight_applies_each_once(
    fault_db: tuple[str, Engine], broker: AofRedis, tmp_path: Path
) -> None:
    url, engine = fault_db
    with Producer(broker.url) as producer:
        for body in openings("K", EVENTS, PER_MESSAGE):
            producer.publish_raw(body)
    env = role_env(url, broker.url, tmp_path / "home", SLAMON_LOG_LEVEL="WARNING")
    args = ("-Q", "sla.events", "-c", "2")
    with role_process("worker", env, tmp_path / "first.log", *args, "-n", "k1@faults") as first:
        wait_for(lambda: ingested(engine).inbox >= EVENTS // 10, timeout=180,
                 what="the first worker applying events")
        # The main process and its pool children, mid-task.
        children = subprocess.run(["pgrep", "-P", str(first.pid)], capture_output=True,
                                  text=True).stdout.split()
        first.send_signal(signal.SIGKILL)
        for child in children:
            os.kill(int(child), signal.SIGKILL)
        first.wait(10)
    at_kill = ingested(engine).inbox
    in_flight = broker.client().hlen("unacked")
    killed = time.monotonic()
    with role_process("worker", env, tmp_path / "second.log", *args, "-n", "k2@faults"):
        wait_for(lambda: ingested(engine).inbox >= EVENTS, timeout=270, interval=1.0,
                 what=f"{EVENTS} events applied after the restart")
        recovered = time.monotonic() - killed
    counts = ingested(engine)
    print(f"\nworker SIGKILL: sent {EVENTS} events; {at_kill} applied at the kill, "
          f"{in_flight} messages fetched and unacknowledged; after the restart: applied "
          f"{counts.inbox}, cases {counts.cases}, redelivered {counts.redelivered}, dead "
          f"letters {counts.dead_letters}; all applied {recovered:.1f} s after the kill")
    assert counts.inbox == counts.cases == EVENTS
    assert counts.dead_letters == 0
