"""The ingest watermark on a real Redis: producers record messages before queueing them, the
worker's task forgets them once applied, and the sweeper claims only deadlines whose
``judge_at`` is below the oldest unapplied acceptance."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import Engine

from slamon.scheduler.sweeper import claim_due
from slamon.sdk import Producer
from slamon.worker import ingest_watermark
from slamon.worker.ingest_watermark import UNAPPLIED_KEY
from tests.support.seed import seed_cases

LOST_AFTER = 600.0


@pytest.mark.redis
def test_the_watermark_is_the_oldest_unapplied_acceptance(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert ingest_watermark.read(client, LOST_AFTER).oldest_accepted is None
    first = ingest_watermark.accept(client, "m-1")
    second = ingest_watermark.accept(client, "m-2")
    assert abs(first - time.time()) < 5 and second >= first
    mark = ingest_watermark.read(client, LOST_AFTER)
    assert mark.oldest_accepted is not None and mark.oldest_accepted.timestamp() == first
    assert (mark.unapplied, mark.presumed_lost) == (2, 0) and mark.now.timestamp() >= second
    ingest_watermark.applied(client, "m-1")
    mark = ingest_watermark.read(client, LOST_AFTER)
    assert mark.oldest_accepted is not None and mark.oldest_accepted.timestamp() == second
    ingest_watermark.applied(client, "m-2")
    caught_up = ingest_watermark.read(client, LOST_AFTER)
    assert caught_up.oldest_accepted is None and caught_up.horizon == caught_up.now


@pytest.mark.redis
def test_an_entry_older_than_the_limit_is_presumed_lost_and_holds_nothing(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.zadd(UNAPPLIED_KEY, {"gone": time.time() - 2 * LOST_AFTER})
    mark = ingest_watermark.read(client, LOST_AFTER)
    assert (mark.oldest_accepted, mark.unapplied, mark.presumed_lost) == (None, 1, 1)


@pytest.mark.redis
def test_the_sdk_records_each_message_under_its_task_id_before_queueing_it(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    with Producer(redis_url) as producer:
        producer.publish_raw('{"not": "checked here"}')
    [entry] = client.zrange(UNAPPLIED_KEY, 0, -1)
    [message] = client.lrange("sla.events", 0, -1)
    assert json.loads(message)["headers"]["id"] == entry.decode()


@pytest.mark.redis
def test_the_ingest_task_forgets_its_message_once_applied(
    engine: Engine, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slamon.worker import ingest, runtime
    from slamon.worker.tasks import ingest_task

    client = redis.Redis.from_url(redis_url)
    ingest_watermark.accept(client, "t-1")
    applied: list[str] = []
    monkeypatch.setattr(runtime, "current", lambda: None)
    monkeypatch.setattr(ingest, "ingest_raw", lambda *a, **k: applied.append("yes"))
    monkeypatch.setattr(ingest_task.app.conf, "broker_url", redis_url)
    ingest_task.push_request(id="t-1")
    try:
        ingest_task.run("[]")
    finally:
        ingest_task.pop_request()
    assert applied == ["yes"] and client.zcard(UNAPPLIED_KEY) == 0


def test_the_sweeper_claims_only_below_the_horizon(engine: Engine) -> None:
    base = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
    seed_cases(engine, 3, base, prefix="WM")  # judge_at = base + 2 min (the seed's grace)
    judge_at = base + timedelta(minutes=2)
    now = base + timedelta(hours=1)
    lease = timedelta(minutes=1)
    # Evidence accepted at judge_at exactly may be the one that meets it: wait for it.
    assert claim_due(engine, now, "s1", 10, lease, horizon=judge_at) == []
    assert len(claim_due(engine, now, "s1", 10, lease, horizon=judge_at
                         + timedelta(milliseconds=1))) == 3


def test_the_loop_pauses_judgement_while_ingest_is_behind_and_resumes_by_itself(
    engine: Engine,
) -> None:
    from slamon.models.watermark import IngestWatermark
    from slamon.scheduler.loop import LoopConfig, SchedulerLoop

    base = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
    seed_cases(engine, 4, base, prefix="WL")
    now = base + timedelta(hours=1)
    behind = IngestWatermark(now, base)  # a message accepted before every judge_at waits
    marks = [behind]
    config = LoopConfig("s1", 100, timedelta(minutes=1), timedelta(minutes=2))
    loop = SchedulerLoop(engine, config, lambda: now, lambda ids: None,
                         watermark=lambda: marks[-1])
    assert loop.step().judged == 0
    marks.append(IngestWatermark(now, None))  # drained
    report = loop.step()
    assert (report.judged, report.breached) == (4, 4)
