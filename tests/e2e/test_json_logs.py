"""SLAMON_LOG_FORMAT=json under ``slamon up``: the real worker and scheduler write one JSON line
per decision, each naming its case, event, deadline kind and ids."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import RunningStack, clean_env
from tests.e2e.test_up import opened


@pytest.fixture
def json_stack(tmp_path: Path) -> Iterator[RunningStack]:
    home = tmp_path / "home"
    running = RunningStack(home, clean_env(home, SLAMON_LOG_FORMAT="json"))
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()


def decisions(stack: RunningStack) -> list[dict[str, Any]]:
    """Every decision line of the worker's and the scheduler's logs; any other line of theirs
    must be JSON too."""
    found = []
    for role in ("worker", "scheduler"):
        path = stack.home / "logs" / f"{role}.log"
        for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
            if not line.startswith("{"):
                continue  # Celery's banner is printed, not logged
            record = json.loads(line)
            assert {"at", "level", "logger", "message"} <= record.keys(), line
            if "decision" in record:
                found.append(record)
    return found


def wait_decisions(stack: RunningStack, wanted: set[str], timeout: float = 60) -> list[Any]:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        found = decisions(stack)
        if wanted <= {d["decision"] for d in found}:
            return found
        time.sleep(0.5)
    raise AssertionError(f"decisions {wanted} not all logged:\n{stack.output()}")


@pytest.mark.e2e
def test_each_decision_is_one_json_line_with_its_ids(json_stack: RunningStack) -> None:
    # Opened three days ago and never answered: both deadlines are past their grace at once.
    event = opened("H-JSON-1", "e-json-1", datetime.now(UTC) - timedelta(days=3))
    sent = json_stack.run("send", "-", stdin=json.dumps(event, ensure_ascii=False))
    assert sent.returncode == 0, sent.stderr

    found = wait_decisions(
        json_stack, {"event.applied", "deadline.judged", "breach.recorded", "compensation.paid"}
    )
    mine = [d for d in found if d["case_id"] == "H-JSON-1"]
    [applied] = [d for d in mine if d["decision"] == "event.applied"]
    assert applied["event_id"] == "e-json-1"
    judged = {d["kind"]: d for d in mine if d["decision"] == "deadline.judged"}
    assert set(judged) == {"response", "resolution"}
    assert all(d["outcome"] == "breached" and d["deadline_id"] for d in judged.values())
    for breach in (d for d in mine if d["decision"] == "breach.recorded"):
        assert breach["deadline_id"] == judged[breach["kind"]]["deadline_id"]
        assert breach["breach_id"] and breach["compensation_id"]
    paid = [d for d in mine if d["decision"] == "compensation.paid"]
    recorded = {d["compensation_id"] for d in mine if d["decision"] == "breach.recorded"}
    assert paid and {d["compensation_id"] for d in paid} <= recorded
    assert all(d["breach_id"] and d["points"] > 0 for d in paid)
