"""Redis (AOF on) killed and restarted while events are queued and a producer keeps sending:
every event the broker accepted is applied exactly once; the worker reconnects by itself."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Engine

from slamon.sdk import Producer
from tests.faults.counts import applied_with, ingested
from tests.faults.events import openings
from tests.faults.servers import AofRedis
from tests.support.processes import role_env, role_process, wait_for

QUEUED, DURING = 1500, 500  # events queued before the worker starts; sent across the crash
PER_MESSAGE = 5


def test_redis_killed_with_events_queued_loses_no_accepted_event(
    fault_db: tuple[str, Engine], broker: AofRedis, tmp_path: Path
) -> None:
    url, engine = fault_db
    queued = openings("Q", QUEUED, PER_MESSAGE)
    with Producer(broker.url) as producer:
        for body in queued:
            producer.publish_raw(body)
    # The crash comes before any worker ran: everything rests in the AOF.
    broker.kill()
    recovery = broker.start()
    assert broker.client().llen("sla.events") == len(queued)

    # A second crash with the worker consuming and a producer sending: a send that raised was
    # not accepted, and the producer sends it again (as any client of a broker must).
    during = openings("D", DURING, PER_MESSAGE)
    refused = 0
    sent = threading.Event()

    def produce() -> None:
        nonlocal refused
        with Producer(broker.url) as producer:
            for body in during:
                while True:
                    try:
                        producer.publish_raw(body)
                        break
                    except Exception:  # the broker is down: not accepted
                        refused += 1
                        time.sleep(0.2)
        sent.set()

    env = role_env(url, broker.url, tmp_path / "home", SLAMON_LOG_LEVEL="WARNING")
    with role_process("worker", env, tmp_path / "worker.log", "-Q", "sla.events", "-c", "2",
                      "-n", "w1@faults") as worker:
        wait_for(lambda: ingested(engine).inbox >= QUEUED // 4, timeout=120,
                 what="the worker applying queued events")
        producer = threading.Thread(target=produce)
        producer.start()
        broker.kill()
        killed = time.monotonic()
        at_kill = ingested(engine).inbox
        time.sleep(2)  # the broker stays down for a while; nothing to wait for
        broker.start()
        wait_for(lambda: ingested(engine).inbox > at_kill + 10, timeout=120,
                 what="the worker consuming again after the broker restart")
        resumed = time.monotonic() - killed
        producer.join(120)
        assert sent.is_set()
        total = QUEUED + DURING
        try:
            wait_for(lambda: ingested(engine).inbox >= total, timeout=120, interval=0.5,
                     what=f"{total} events applied")
        finally:
            counts = ingested(engine)
            client = broker.client()
            print(f"\nqueued {client.llen('sla.events')}, unacked {client.hlen('unacked')}, "
                  f"D applied {applied_with(engine, 'D')}, Q applied {applied_with(engine, 'Q')}")
            print(f"\nredis restart: sent {total} events ({QUEUED} queued before the first "
                  f"crash, {DURING} across the second; {refused} sends refused and repeated); "
                  f"applied {counts.inbox}, cases {counts.cases}, redelivered "
                  f"{counts.redelivered}, dead letters {counts.dead_letters}; AOF reload "
                  f"{recovery:.1f} s, worker consuming again {resumed:.1f} s after the crash")
        assert worker.poll() is None, "the worker exited instead of reconnecting"
    assert counts.inbox == counts.cases == total
    assert counts.dead_letters == 0
