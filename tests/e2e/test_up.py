"""The newcomer's path: `slamon up` on embedded defaults, send an event, read the case back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import RunningStack, clean_env

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
