"""A worker that dies holding messages it fetched: a real process fetches a message from
``sla.events`` (so it sits in Redis's ``unacked`` hash) and is SIGKILLed; a real ``slamon
worker`` must apply it within a minute of the death (the short visibility timeout of
:mod:`slamon.worker.redelivery`), once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Case, InboxEvent
from slamon.sdk import Producer
from tests.e2e.test_worker_messages import opened
from tests.support.processes import role_env, role_process, wait_for

# Fetches one message the way a worker does (acks emulated: it goes to ``unacked``), says so,
# then waits to be killed.
FETCH_AND_HANG = """
import sys, time
from kombu import Connection
from slamon.worker.redelivery import transport_options
with Connection(sys.argv[1], transport_options=transport_options()) as conn:
    channel = conn.default_channel
    while channel.basic_get("sla.events", no_ack=False) is None:
        time.sleep(0.05)
    print("fetched", flush=True)
    time.sleep(3600)
"""


def applied(engine: Engine, case_id: str) -> int | None:
    """The inbox's duplicate count of the case's opening, None until it is applied."""
    with transaction(engine) as s:
        if s.get(Case, case_id) is None:
            return None
        return s.scalar(select(InboxEvent.duplicates).where(InboxEvent.case_id == case_id))


@pytest.mark.redis
def test_a_killed_consumers_fetched_message_is_applied_within_a_minute(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    broker = redis.Redis.from_url(redis_url)
    with Producer(redis_url) as producer:
        producer.publish(opened("H-RD1", "H-RD1-opened"))
    holder = subprocess.Popen(
        [sys.executable, "-c", FETCH_AND_HANG, redis_url], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"fetched"
        assert broker.hlen("unacked") == 1 and broker.llen("sla.events") == 0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    died = time.monotonic()

    env = role_env(db_url, redis_url, tmp_path / "home")
    with role_process("worker", env, tmp_path / "worker.log", "--pool", "solo"):
        wait_for(lambda: applied(engine, "H-RD1") is not None, timeout=60,
                 what="the dead consumer's message to be applied")
        took = time.monotonic() - died
    assert took < 60, took
    assert applied(engine, "H-RD1") == 0  # applied once
    assert broker.hlen("unacked") == 0
