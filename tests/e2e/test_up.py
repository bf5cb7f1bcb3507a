"""The newcomer's path: `slamon up` on embedded defaults, send an event, read the case back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.stack import RunningStack, clean_env
from tests.support.processes import wait_for
from tests.support.prometheus import parse, promtool_check_metrics, value

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RunningStack]:
    home = tmp_path / "home"
    running = RunningStack(home, clean_env(home))
    yield running
    running.stop()


def opened(case_id: str, event_id: str, at: datetime) -> dict[str, object]:
    return {
        "event_id": event_id,
        "type": "help.opened",
        "case_id": case_id,
        "occurred_at": at.isoformat(),
        "order_id": "O1",
        "buyer_account": "tb_buyer_1",
        "merchant_id": "M1",
        "provider_id": "P1",
        "city": "杭州",
        "category": "家装家具",
        "services": ["送货入户并安装"],
        "item_price": "1299.00",
    }


def test_up_send_case_and_stop(stack: RunningStack) -> None:
    assert stack.wait_healthy(timeout=30) < 30
    # Ready once the real worker has beaten and the real scheduler has completed a sweep.
    ready = wait_for(lambda: _ready(stack), timeout=60, what="/readyz 200 from slamon up")
    assert ready == {"database": "ok", "broker": "ok", "worker": "ok", "scheduler": "ok",
                     "roles": "ok", "judgement": "ok"}

    at = datetime.now(UTC) - timedelta(minutes=1)
    lines = json.dumps(opened("H-E2E-1", "e-e2e-1", at), ensure_ascii=False) + "\n"
    lines += '{"event_id": "bad-1", "type": "help.opened"}\n'
    sent = stack.run("send", "-", stdin=lines)
    assert sent.returncode == 1, sent.stderr  # one line was rejected
    statuses = [json.loads(line) for line in sent.stdout.splitlines()]
    assert statuses[0] == {"event_id": "e-e2e-1", "status": "queued"}
    assert statuses[1]["status"] == "rejected" and statuses[1]["event_id"] == "bad-1"

    case = stack.wait_case("H-E2E-1")
    assert case["status"] == "open"
    assert case["monitored"] is True
    assert case["policy"] == "tmall-2022"
    assert {d["kind"] for d in case["deadlines"]} == {"response", "resolution"}
    assert all(d["state"] in ("pending", "breached") for d in case["deadlines"])
    assert case["opened_at"].endswith("+08:00")

    unknown = stack.run("case", "NO-SUCH-CASE")
    assert unknown.returncode == 1
    assert "no case 'NO-SUCH-CASE'" in unknown.stderr

    second = stack.run("up", "--home", str(stack.home), "--port", str(stack.port + 1))
    assert second.returncode == 1
    assert "already running" in second.stderr

    assert stack.stop() == 0
    assert not (stack.home / "run.json").exists()


def test_http_intake_needs_the_token(stack: RunningStack) -> None:
    stack.wait_healthy()
    event = opened("H-E2E-2", "e-e2e-2", datetime.now(UTC))
    refused = httpx.post(f"{stack.api_url}/v1/events", json=event)
    assert refused.status_code == 401
    headers = {"Authorization": f"Bearer {stack.token()}"}
    accepted = httpx.post(f"{stack.api_url}/v1/events", json=event, headers=headers)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["events"] == [{"event_id": "e-e2e-2", "status": "queued"}]
    case = stack.wait_case("H-E2E-2")
    assert case["events"][0]["outcome"] == "applied"
    fetched = httpx.get(f"{stack.api_url}/v1/cases/H-E2E-2", headers=headers)
    assert fetched.status_code == 200 and fetched.json()["case_id"] == "H-E2E-2"


def test_unanswered_case_is_breached_and_paid_within_seconds(stack: RunningStack) -> None:
    """Opened yesterday at 10:00 Shanghai (inside business hours, whatever the time now), never
    answered: its response deadline (11:00 yesterday) is long past, so the scheduler records the
    breach and the ledger pays 5,000 points, once."""
    import redis

    stack.wait_healthy()
    shanghai = ZoneInfo("Asia/Shanghai")
    yesterday = datetime.now(shanghai).date() - timedelta(days=1)
    opened_at = datetime.combine(yesterday, time(10, 0), tzinfo=shanghai)
    line = json.dumps(opened("H-E2E-3", "e-e2e-3", opened_at), ensure_ascii=False)
    assert stack.run("send", "-", stdin=line + "\n").returncode == 0

    def paid(case: dict[str, object]) -> bool:
        compensations = case["compensations"]
        assert isinstance(compensations, list)
        return any(c["kind"] == "response" and c["status"] == "issued" for c in compensations)

    case = stack.wait_case("H-E2E-3", paid, timeout=30)
    [breach] = [b for b in case["breaches"] if b["kind"] == "response"]
    assert breach["points"] == 5000
    assert breach["status"] == "settled"
    assert breach["due_at"] == datetime.combine(yesterday, time(11, 0), tzinfo=shanghai).isoformat()
    [payment] = [c for c in case["compensations"] if c["kind"] == "response"]
    assert (payment["account"], payment["points"]) == ("tb_buyer_1", 5000)
    resolution = next(d for d in case["deadlines"] if d["kind"] == "resolution")
    assert resolution["state"] == "pending"  # 48 h have not passed

    # The same breach, announced on the outbound stream exactly as the ops tools see it.
    run = json.loads((stack.home / "run.json").read_text())
    client = redis.Redis.from_url(run["redis_url"])

    def announced() -> list[bytes]:
        entries = client.xrange("slamon:outbound")
        return [f[b"topic"] for _id, f in entries if f.get(b"case_id") == b"H-E2E-3"]

    topics = wait_for(
        lambda: b"compensation.issued" in announced() and announced(),
        timeout=15,
        what="the breach and the payment on the outbound stream",
    )
    assert topics.count(b"sla.breached") == 1 and topics.count(b"compensation.issued") == 1

    # The same story in a real scrape of /metrics, which promtool accepts as it is.
    scrape = httpx.get(f"{stack.api_url}/metrics", timeout=10)
    assert scrape.status_code == 200
    checked = promtool_check_metrics(scrape.text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    samples, _ = parse(scrape.text)
    assert value(samples, "slamon_breaches_recorded_total", kind="response") == 1
    assert value(samples, "slamon_points_issued_total") == 5000
    assert value(samples, "slamon_compensation_outcomes_total", state="issued") == 1
    assert value(samples, "slamon_events_total", type="help.opened", outcome="applied") == 1
    assert value(samples, "slamon_broker_up") == 1
    assert value(samples, "slamon_workers") == 1  # the worker's own heartbeat
    # Opened yesterday, sent now: a day late. The scheduler itself was not (no observation).
    assert value(samples, "slamon_evidence_lateness_seconds_bucket", type="help.opened",
                 le="3600") == 0
    assert value(samples, "slamon_deadline_fire_lag_seconds_count") == 0


def _ready(stack: RunningStack) -> dict[str, str] | None:
    answer = httpx.get(f"{stack.api_url}/readyz", timeout=5)
    return answer.json()["checks"] if answer.status_code == 200 else None
