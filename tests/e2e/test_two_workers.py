"""Two real ``slamon worker`` processes (two pool processes each) on one Redis, applying the
interleaved events of the same cases: every event sent twice, shuffled, one message each. The
per-case lock must make the outcome that of in-order delivery, with no lost or doubled event,
no deadlock, no retry and no dead letter (SQLite and Postgres)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import DeadLetter, InboxEvent
from slamon.sdk import Producer
from slamon.worker.ingest import ingest_raw
from tests.support.histories import assert_means_its_history, history, stored
from tests.support.processes import role_env, role_process, wait_for
from tests.support.runtime import runtime_for

CASES, STEPS, COPIES = 50, 5, 2  # 50 cases x 6 events, each sent twice: 600 messages


def delivered(engine: Engine, prefix: str) -> tuple[int, int]:
    """(inbox rows, deliveries counted) of the cases whose id starts with ``prefix``."""
    with transaction(engine) as s:
        rows, duplicates = s.execute(
            select(func.count(), func.coalesce(func.sum(InboxEvent.duplicates), 0)).where(
                InboxEvent.case_id.like(f"{prefix}%")
            )
        ).one()
        return int(rows), int(rows) + int(duplicates)


@pytest.mark.redis
def test_two_workers_interleaving_the_same_cases_end_as_in_order_delivery(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    rng = random.Random(20261126)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=12)
    seeds = [
        (rng.random(), base + timedelta(minutes=rng.randint(0, 3 * 24 * 60))) for _ in range(CASES)
    ]
    oracle = [
        history(random.Random(s), f"O{n}", at, STEPS, exact=True) for n, (s, at) in enumerate(seeds)
    ]
    raced = [
        history(random.Random(s), f"W{n}", at, STEPS, exact=True) for n, (s, at) in enumerate(seeds)
    ]

    # The oracle: the same histories delivered in order, each as one batch, in this process.
    runtime = runtime_for(engine.url.render_as_string(hide_password=False))
    for hist in oracle:
        ingest_raw(runtime, "[" + ",".join(hist.raw()) + "]")

    messages = [raw for hist in raced for raw in hist.raw() for _ in range(COPIES)]
    rng.shuffle(messages)
    with Producer(redis_url) as producer:
        for raw in messages:
            producer.publish_raw(raw)

    env = role_env(db_url, redis_url, tmp_path / "home")
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    args = ("--pool", "prefork", "-c", "2", "-Q", "sla.events")
    with (
        role_process("worker", env, logs[0], *args, "-n", "w1@%h") as first,
        role_process("worker", env, logs[1], *args, "-n", "w2@%h") as second,
    ):
        wait_for(
            lambda: delivered(engine, "W") == (CASES * (STEPS + 1), len(messages)),
            timeout=90,
            what=f"{len(messages)} deliveries to be recorded",
        )
        assert first.poll() is None and second.poll() is None

    for raced_case, oracle_case in zip(raced, oracle, strict=True):
        got = assert_means_its_history(engine, raced_case)
        want = stored(engine, oracle_case.case_id)
        assert (got["case"], got["deadlines"]) == (want["case"], want["deadlines"])
        assert set(got["copies"].values()) == {COPIES}
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 0
    text = "\n".join(log.read_text(errors="replace") for log in logs)
    for trouble in ("Traceback", "deadlock", "retry", "ERROR"):
        assert trouble not in text, f"{trouble!r} in the worker logs"
    # Both workers took part: the per-case lock was really contended across processes.
    assert all("sla.ingest" in log.read_text(errors="replace") for log in logs)
