"""``/metrics`` on a real database (SQLite and Postgres) and a real Redis: rows in known states,
a case driven through the real ingest, sweeper and payment code, and the exposition parsed
back with prometheus_client's own parser and checked by ``promtool check metrics``.

"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from slamon.api.app import create_app
from slamon.api.broker_gauges import BrokerProbe
from slamon.api.metrics import render_metrics
from slamon.models.db.engine import transaction
from slamon.models.db.tables import Compensation
from slamon.scheduler.sweeper import sweep
from slamon.settings import Settings
from slamon.worker.app import QUEUES
from slamon.worker.compensation import compensate_many
from slamon.worker.compensation_actions import retry_compensation
from slamon.worker.heartbeat import WORKERS_KEY
from slamon.worker.ingest import ingest_raw
from slamon.worker.points.memory import InMemoryPointsIssuer
from slamon.worker.points.port import RejectedIssueError
from tests.support.histories import opened_event
from tests.support.ops_rows import OpsRows
from tests.support.prometheus import Samples, parse, promtool_check_metrics, value
from tests.support.runtime import DEFAULTS, LIMITS, Clock, runtime_for

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 15, 0, tzinfo=SH)
M = timedelta(minutes=1)
S = timedelta(seconds=1)

def scrape(
    engine: Engine, now: datetime = NOW, broker: BrokerProbe | None = None
) -> tuple[Samples, dict[str, str]]:
    payload, _ = render_metrics(engine, clock=lambda: now, broker=broker)
    return parse(payload.decode())


@pytest.fixture
def rows(engine: Engine) -> OpsRows:
    return OpsRows(engine, NOW)


def test_timeliness_gauges(engine: Engine, rows: OpsRows) -> None:
    rows.case("late")
    rows.deadline("late", "response", -10 * M)  # judged 9 min ago: overdue
    rows.case("edge")
    rows.deadline("edge", "response", -85 * S)  # judge 25 s ago: not yet
    rows.case("soon")
    rows.deadline("soon", "resolution", 30 * M)
    rows.case("done")
    rows.deadline("done", "response", -60 * M, state="met")
    rows.outbox("m-1", 42 * S, published=False)
    rows.outbox("m-2", 5 * S, published=False)
    rows.outbox("m-0", timedelta(hours=3), published=True)
    breach = rows.breach("done", "resolution", 5 * M, 2 * S)
    rows.compensation(breach, "done", "resolution", 30000, "pending")

    samples, _ = scrape(engine)

    assert value(samples, "slamon_deadlines_overdue") == 1
    assert value(samples, "slamon_oldest_unpublished_outbox_age_seconds") == 42
    assert value(samples, "slamon_outbox_backlog") == 2
    assert value(samples, "slamon_deadlines", state="pending") == 3
    assert value(samples, "slamon_deadlines", state="met") == 1
    assert value(samples, "slamon_deadlines", state="breached") == 1
    assert value(samples, "slamon_oldest_pending_compensation_age_seconds") == 0  # created now

    # Two minutes later the deadline in grace is overdue too; outbox and payment have aged.
    later, _ = scrape(engine, NOW + 2 * M)
    assert value(later, "slamon_deadlines_overdue") == 2
    assert value(later, "slamon_oldest_unpublished_outbox_age_seconds") == 162
    assert value(later, "slamon_oldest_pending_compensation_age_seconds") == 120


def test_fire_lag_is_the_schedulers_own(engine: Engine, rows: OpsRows) -> None:
    """The histogram observes ``judged_at - judge_at`` of breaches the scheduler knew before
    their judge instant; a case that arrived already overdue is the producer's lateness."""
    rows.case("c")
    for kind, lag in (("k1", 0.2), ("k2", 0.4), ("k3", 0.9), ("k4", 4.0), ("k5", 45.0)):
        rows.breach("c", kind, 10 * M, timedelta(seconds=lag))
    # Opened a day late: judged 5,000 s after its judge instant, but only 1 s after it arrived.
    detected = NOW - 10 * M
    rows.breach("c", "late-case", 10 * M, 5000 * S, pending_since=detected - S)

    samples, types = scrape(engine)

    assert types["slamon_deadline_fire_lag_seconds"] == "histogram"
    bucket = {
        le: value(samples, "slamon_deadline_fire_lag_seconds_bucket", le=le)
        for le in ("0.25", "0.5", "1", "2", "5", "30", "60", "3600", "+Inf")
    }
    assert bucket == {"0.25": 1, "0.5": 2, "1": 3, "2": 3, "5": 4, "30": 4, "60": 5,
                      "3600": 5, "+Inf": 5}
    assert value(samples, "slamon_deadline_fire_lag_seconds_count") == 5
    assert value(samples, "slamon_deadline_fire_lag_seconds_sum") == pytest.approx(50.5, abs=0.01)


def test_evidence_lateness_by_type(engine: Engine) -> None:
    runtime = runtime_for(engine.url.render_as_string(hide_password=False), Clock(NOW))
    ingest_raw(runtime, json.dumps(opened_event("L1", "o1", NOW - 2 * S), ensure_ascii=False))
    ingest_raw(runtime, json.dumps(opened_event("L2", "o2", NOW - 2 * 3600 * S),
                                   ensure_ascii=False))
    # Within the allowed clock skew, the producer's clock runs ahead: observed as 0.
    ahead = {"event_id": "r1", "type": "help.responded", "case_id": "L1",
             "occurred_at": (NOW + 30 * S).isoformat()}
    ingest_raw(runtime, json.dumps(ahead))

    samples, _ = scrape(engine)

    def bucket(event_type: str, le: str) -> float:
        return value(samples, "slamon_evidence_lateness_seconds_bucket", type=event_type, le=le)

    assert [bucket("help.opened", le) for le in ("1", "5", "3600", "14400", "+Inf")] == [
        0, 1, 1, 2, 2]
    assert value(samples, "slamon_evidence_lateness_seconds_sum", type="help.opened") == (
        pytest.approx(7202, abs=0.01))
    assert bucket("help.responded", "1") == 1
    assert value(samples, "slamon_evidence_lateness_seconds_sum", type="help.responded") == 0
    assert value(samples, "slamon_evidence_lateness_seconds_count", type="help.reopened") == 0


def test_point_gauges_by_status(engine: Engine, rows: OpsRows) -> None:
    for case_id, status, points in (
        ("a", "issued", 5000),
        ("b", "issued", 30000),
        ("c", "pending", 10000),
        ("d", "failed", 19485),
    ):
        rows.case(case_id)
        breach = rows.breach(case_id, "resolution", 5 * M, S, points=points)
        rows.compensation(breach, case_id, "resolution", points, status)
    rows.case("r", status="responded")
    rows.dead_letter("x")
    rows.dead_letter("y", replayed=True, cause="invalid_event")

    samples, types = scrape(engine)

    assert types["slamon_compensation_points"] == "gauge"
    assert value(samples, "slamon_compensation_points", status="issued") == 35000
    assert value(samples, "slamon_compensation_points", status="pending") == 10000
    assert value(samples, "slamon_compensation_points", status="failed") == 19485
    assert value(samples, "slamon_compensation_points", status="cancelled") == 0
    assert value(samples, "slamon_compensations", status="issued") == 2
    assert value(samples, "slamon_cases", status="open") == 4
    assert value(samples, "slamon_cases", status="responded") == 1
    assert value(samples, "slamon_breaches", status="open") == 4
    assert value(samples, "slamon_breaches_recorded_total", kind="resolution") == 4
    assert value(samples, "slamon_breaches_recorded_total", kind="response") == 0
    assert value(samples, "slamon_dead_letters_unreplayed") == 1
    assert value(samples, "slamon_dead_letters_total", cause="not_json") == 1
    assert value(samples, "slamon_dead_letters_total", cause="invalid_event") == 1
    assert value(samples, "slamon_dead_letters_total", cause="unknown_task") == 0


def test_empty_database_exports_zeros(engine: Engine) -> None:
    samples, types = scrape(engine)
    assert value(samples, "slamon_deadlines_overdue") == 0
    assert value(samples, "slamon_oldest_unpublished_outbox_age_seconds") == 0
    assert value(samples, "slamon_deadline_fire_lag_seconds_count") == 0
    assert value(samples, "slamon_points_issued_total") == 0
    assert value(samples, "slamon_events_total", type="help.opened", outcome="applied") == 0
    assert types["slamon_events"] == "counter"
    assert "slamon_broker_up" not in types  # no broker probe given


class Pipeline:
    """One runtime and clock; each step is real service code, then a scrape that must not see
    any counter, bucket, count or sum go down."""

    OPENED = datetime(2026, 11, 16, 10, 0, tzinfo=SH)  # Monday, inside opening hours
    JUDGE = OPENED + timedelta(hours=1, minutes=1)  # response due 11:00, grace 60 s

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.clock = Clock(self.OPENED)
        self.runtime = runtime_for(engine.url.render_as_string(hide_password=False), self.clock)
        self.issuer = InMemoryPointsIssuer()
        self.last: Samples = {}

    @property
    def now(self) -> datetime:
        return self.clock.now

    @now.setter
    def now(self, value: datetime) -> None:
        self.clock.now = value

    def send(self, *bodies: dict[str, Any] | str) -> list[str]:
        outcomes = []
        for body in bodies:
            text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
            outcomes += [o.outcome for o in ingest_raw(self.runtime, text)]
        return outcomes

    def responded(self, event_id: str, case_id: str, at: datetime) -> dict[str, Any]:
        return {"event_id": event_id, "type": "help.responded", "case_id": case_id,
                "occurred_at": at.isoformat()}

    def sweep(self) -> list[int]:
        return sweep(self.engine, self.now, "s1", 100, DEFAULTS.claim_lease,
                     DEFAULTS.redispatch_after).compensation_ids

    def pay(self, ids: list[int]) -> list[str]:
        outcomes = compensate_many(self.engine, self.issuer, ids, self.runtime.now,
                                   DEFAULTS.redispatch_after, LIMITS)
        return [o.status for o in outcomes]

    def scrape(self) -> Samples:
        samples, types = scrape(self.engine, self.now)
        monotonic = {n for n, t in types.items() if t in ("counter", "histogram")}
        for key, before in self.last.items():
            family = key[0].removesuffix("_total").removesuffix("_bucket")
            family = family.removesuffix("_count").removesuffix("_sum")
            if family in monotonic:
                assert samples[key] >= before, f"{key} went down: {before} -> {samples[key]}"
        self.last = samples
        return samples


def test_counters_follow_cases_and_never_go_down(engine: Engine) -> None:
    p = Pipeline(engine)
    at = p.OPENED

    # 1. An opening 5 s late, a duplicate of it, a response for a case not opened yet,
    #    garbage and an event from the future.
    p.now = at + 5 * S
    future = p.responded("f1", "H1", at + timedelta(days=1))
    assert p.send(opened_event("H1", "o1", at), opened_event("H1", "o1", at),
                  p.responded("r2", "H2", at + 2 * S), "not json", future) == [
        "applied", "duplicate", "parked", "dead_lettered", "dead_lettered"]
    s = p.scrape()
    assert value(s, "slamon_events_total", type="help.opened", outcome="applied") == 1
    assert value(s, "slamon_events_total", type="help.opened", outcome="duplicate") == 1
    assert value(s, "slamon_events_parked", type="help.responded") == 1
    assert value(s, "slamon_dead_letters_total", cause="not_json") == 1
    assert value(s, "slamon_dead_letters_total", cause="future_event") == 1

    # 2. The scheduler fires H1's response deadline 0.4 s after its judge instant.
    p.now = p.JUDGE + timedelta(milliseconds=400)
    [h1_comp] = p.sweep()
    # 3. H3 is opened at 10:00 but arrives at 11:30: its breach is 29 minutes "late", which is
    #    the producer's lateness, not the scheduler's.
    p.now = at + 90 * M
    assert p.send(opened_event("H3", "o3", at)) == ["applied"]
    p.now += S
    [h3_comp] = p.sweep()
    s = p.scrape()
    assert value(s, "slamon_breaches_recorded_total", kind="response") == 2
    assert value(s, "slamon_deadline_fire_lag_seconds_count") == 1
    assert value(s, "slamon_deadline_fire_lag_seconds_bucket", le="0.5") == 1
    lateness = [value(s, "slamon_evidence_lateness_seconds_bucket", type="help.opened", le=le)
                for le in ("5", "3600", "14400")]
    assert lateness == [1, 1, 2]  # 5 s, then 5,400 s

    # 4. H1's payment is refused, retried by an operator, then paid.
    p.issuer.fail_next(RejectedIssueError("account frozen"))
    assert p.pay([h1_comp]) == ["failed"]
    s = p.scrape()
    assert value(s, "slamon_compensation_outcomes_total", state="failed") == 1
    with transaction(engine) as session:
        retry_compensation(session, h1_comp, p.now)
    assert p.pay([h1_comp]) == ["issued"]
    s = p.scrape()
    assert value(s, "slamon_compensation_outcomes_total", state="issued") == 1
    assert value(s, "slamon_compensation_outcomes_total", state="failed") == 1
    assert value(s, "slamon_points_issued_total") == 5000

    # 5. Late evidence: H1 had answered at 10:30 (paid → review), H3 at 10:20 (unpaid →
    #    cancelled). The issued counter and the points paid stay; the gauges move.
    p.now += M
    assert p.send(p.responded("r1", "H1", at + 30 * M), p.responded("r3", "H3", at + 20 * M)) == [
        "applied", "applied"]
    s = p.scrape()
    assert value(s, "slamon_compensation_outcomes_total", state="review") == 1
    assert value(s, "slamon_compensation_outcomes_total", state="cancelled") == 1
    assert value(s, "slamon_compensation_outcomes_total", state="issued") == 1
    assert value(s, "slamon_points_issued_total") == 5000
    assert value(s, "slamon_compensations", status="issued") == 0
    assert value(s, "slamon_compensations", status="review") == 1
    with transaction(engine) as session:
        assert session.scalars(select(Compensation.status).where(
            Compensation.id == h3_comp)).one() == "cancelled"

    # 6. H2 is opened at last: its parked response is applied (parked gauge down, applied up).
    assert p.send(opened_event("H2", "o2", at)) == ["applied"]
    s = p.scrape()
    assert value(s, "slamon_events_parked", type="help.responded") == 0
    assert value(s, "slamon_events_total", type="help.responded", outcome="applied") == 3
    assert value(s, "slamon_events_total", type="help.opened", outcome="applied") == 3


def test_a_late_reopen_is_not_counted_as_scheduler_lag(engine: Engine) -> None:
    """A resolution rejected by the consumer after the 48 h are over breaches at once; the
    deadline became pending again only then, so the scheduler was not late."""
    p = Pipeline(engine)
    at = p.OPENED
    p.now = at + S
    resolved = {"event_id": "s1", "type": "help.resolved", "case_id": "H1",
                "occurred_at": (at + 30 * M).isoformat()}
    assert p.send(opened_event("H1", "o1", at)) == ["applied"]
    p.now = at + 31 * M
    assert p.send(resolved) == ["applied"]
    p.now = at + timedelta(hours=49)
    reopened = {"event_id": "x1", "type": "help.reopened", "case_id": "H1",
                "occurred_at": p.now.isoformat()}
    assert p.send(reopened) == ["applied"]
    p.now += S
    assert len(p.sweep()) == 1  # the resolution deadline, due 48 h after the opening
    s = p.scrape()
    assert value(s, "slamon_breaches_recorded_total", kind="resolution") == 1
    assert value(s, "slamon_deadline_fire_lag_seconds_count") == 0


def test_broker_gauges_read_real_redis(engine: Engine, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.rpush("sla.events", "m1", "m2", "m3")
    client.rpush("sla.compensation", "c1")
    now = NOW.timestamp()
    client.zadd(WORKERS_KEY, {"w-live@h": now - 5, "w-gone@h": now - 600})

    samples, _ = scrape(engine, broker=BrokerProbe(lambda: redis_url))

    assert value(samples, "slamon_broker_up") == 1
    assert value(samples, "slamon_queue_depth", queue="sla.events") == 3
    assert value(samples, "slamon_queue_depth", queue="sla.compensation") == 1
    assert {k[1][0][1] for k in samples if k[0] == "slamon_queue_depth"} == set(QUEUES)
    assert value(samples, "slamon_workers") == 1


def test_a_broker_that_is_down_is_said_and_does_not_stall_the_scrape(engine: Engine) -> None:
    import socket
    import time

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    samples, types = scrape(engine, broker=BrokerProbe(lambda: f"redis://127.0.0.1:{port}/0"))
    assert time.monotonic() - started < 3
    assert value(samples, "slamon_broker_up") == 0
    assert "slamon_queue_depth" in types
    assert not [k for k in samples if k[0] in ("slamon_queue_depth", "slamon_workers")]


def test_the_endpoint_passes_promtool(
    db_url: str, engine: Engine, rows: OpsRows, redis_url: str, tmp_path: Path
) -> None:
    rows.case("a")
    breach = rows.breach("a", "response", 5 * M, S)
    rows.compensation(breach, "a", "response", 5000, "issued")
    rows.dead_letter("x")
    settings = Settings(home=tmp_path / "home", database_url=db_url, redis_url=redis_url,
                        api_token="t" * 32)
    response = TestClient(create_app(settings)).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    checked = promtool_check_metrics(response.text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    samples, _ = parse(response.text)
    assert value(samples, "slamon_broker_up") == 1
    assert value(samples, "slamon_breaches_recorded_total", kind="response") == 1


def test_promtool_refuses_a_gauge_named_like_a_counter() -> None:
    """The check above can fail: the old ``slamon_compensation_points_total`` gauge did."""
    old = "# HELP slamon_compensation_points_total p\n# TYPE slamon_compensation_points_total " \
          "gauge\nslamon_compensation_points_total{status=\"issued\"} 1\n"
    checked = promtool_check_metrics(old)
    assert checked.returncode != 0
    assert "_total" in checked.stdout + checked.stderr


def test_a_conflicting_copy_is_counted_as_a_conflict_not_a_duplicate(engine: Engine) -> None:
    p = Pipeline(engine)
    p.now = p.OPENED + 5 * S
    first = opened_event("H1", "o1", p.OPENED)
    assert p.send(first, first, dict(first, merchant_id="M-other")) == [
        "applied", "duplicate", "conflict"]
    s = p.scrape()
    assert value(s, "slamon_events_total", type="help.opened", outcome="duplicate") == 1
    assert value(s, "slamon_events_total", type="help.opened", outcome="conflict") == 1
    assert value(s, "slamon_events_total", type="help.responded", outcome="conflict") == 0
    assert value(s, "slamon_dead_letters_total", cause="conflict") == 1
