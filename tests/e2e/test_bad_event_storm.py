"""10,000 generated bad event bodies through the queue (a real worker) and through HTTP (a real
``slamon api``): zero 5xx, zero crashes, every one a 4xx or a dead letter.

Each body is a valid event broken in one way (a field missing, of the wrong type, malformed,
unknown, a time too far ahead, not an object, not JSON). They travel in batches of
:data:`BATCH` (a JSON list; one dead letter, or one refused index, per item) to keep the test
within a couple of minutes; the bodies that are not JSON at all go one by one."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from slamon.embedded_redis import free_port
from slamon.models.db.engine import transaction
from slamon.models.db.tables import DeadLetter, InboxEvent
from slamon.sdk import Producer
from tests.support.processes import role_env, role_process, wait_for

TOTAL = 10_000
BATCH = 100
NOT_JSON_SHARE = 200  # bodies that are not JSON at all, sent one message / request each
TOKEN = "storm-token-" + "S" * 24
NOW = datetime.now(UTC)

Mutation = Callable[[dict[str, Any], random.Random], Any]


def valid(n: int) -> dict[str, Any]:
    return {
        "event_id": f"storm-{n}", "type": "help.opened", "case_id": f"H-S{n}",
        "occurred_at": (NOW - timedelta(minutes=1)).isoformat(), "order_id": "O1",
        "buyer_account": "tb_1", "merchant_id": "M1", "category": "lighting",
        "services": ["预约安装"],
    }


def _without(e: dict[str, Any], r: random.Random) -> Any:
    e.pop(r.choice(["event_id", "type", "case_id", "occurred_at"]))
    return e


WRONG_VALUES = [None, 5, -1.5, True, [], {}, "", "\x00", "\ud800", "x" * 5000, [1, [2]],
                {"a": {"b": 1}}, 2**70]


def _wrong_type(e: dict[str, Any], r: random.Random) -> Any:
    e[r.choice(["event_id", "type", "case_id", "occurred_at"])] = r.choice(WRONG_VALUES)
    return e


def _bad_time(e: dict[str, Any], r: random.Random) -> Any:
    e["occurred_at"] = r.choice([
        "2026-11-26T10:00:00", "yesterday", "2026-13-01T00:00:00+00:00",
        "9999-12-31T23:59:59+14:00", (NOW + timedelta(days=r.randint(1, 3000))).isoformat(),
        "2026-11-26T25:00:00Z",
    ])
    return e


def _bad_type(e: dict[str, Any], r: random.Random) -> Any:
    e["type"] = r.choice(["help.closed", "HELP.OPENED", "help", "help.opened ", "家装"])
    return e


def _unknown_field(e: dict[str, Any], r: random.Random) -> Any:
    e[r.choice(["extra", "__proto__", "Event_ID", "$where"])] = r.choice(WRONG_VALUES[:6])
    return e


def _bad_id(e: dict[str, Any], r: random.Random) -> Any:
    e[r.choice(["event_id", "case_id"])] = r.choice(["a b", "x" * 65, "../etc", "é\n", "id;drop"])
    return e


def _not_object(e: dict[str, Any], r: random.Random) -> Any:
    return r.choice([5, None, "text", [], [1], True, 1.5])


MUTATIONS: list[Mutation] = [_without, _wrong_type, _bad_time, _bad_type, _unknown_field,
                             _bad_id, _not_object]
NOT_JSON = ["{", "", "nul", "{'a': 1}", "[1,", "\xff", "{\"event_id\": }", "[" * 10_000]


def bodies(seed: int = 9) -> tuple[list[Any], list[str]]:
    """(TOTAL - NOT_JSON_SHARE events broken as data, NOT_JSON_SHARE texts that are not JSON)."""
    r = random.Random(seed)
    items = [r.choice(MUTATIONS)(valid(n), r) for n in range(TOTAL - NOT_JSON_SHARE)]
    texts = [r.choice(NOT_JSON) + str(n) * r.randint(0, 1) for n in range(NOT_JSON_SHARE)]
    return items, texts


def batches(items: list[Any]) -> list[str]:
    return [json.dumps(items[i:i + BATCH], ensure_ascii=False) for i in range(0, len(items), BATCH)]


# One database each, to keep the storm within a couple of minutes: the queue on Postgres (what
# production runs), HTTP on SQLite (it validates before any database is involved).
@pytest.mark.redis
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_ten_thousand_bad_bodies_through_the_queue(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    items, texts = bodies()
    env = role_env(db_url, redis_url, tmp_path / "home")
    with role_process("worker", env, tmp_path / "worker.log") as worker, \
            Producer(redis_url) as producer:
        pid = worker.pid
        for body in batches(items) + texts:
            producer.publish_raw(body)
        count = wait_for(lambda: (n := _letters(engine)) >= TOTAL and n, timeout=180,
                         interval=1, what=f"{TOTAL} dead letters")
        assert worker.poll() is None and worker.pid == pid, "no crash"
    with transaction(engine) as s:
        causes = Counter(dict(s.execute(select(DeadLetter.cause, func.count())
                                        .group_by(DeadLetter.cause)).all()))
        applied = s.scalar(select(func.count()).select_from(InboxEvent))
    print(f"\nqueue: {TOTAL} bad bodies -> {count} dead letters, by cause {dict(causes)}")
    assert count == TOTAL and applied == 0


@pytest.mark.redis
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_ten_thousand_bad_bodies_through_http(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    items, texts = bodies(seed=10)
    port = free_port()
    env = role_env(db_url, redis_url, tmp_path / "home", SLAMON_API_TOKEN=TOKEN)
    statuses: Counter[int] = Counter()
    with role_process("api", env, tmp_path / "api.log", "--port", str(port)) as api, \
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                         headers={"authorization": f"Bearer {TOKEN}"}) as client:
        wait_for(lambda: _answers(client), timeout=60, what="the API")
        for body in batches(items):
            response = client.post("/v1/events", content=body.encode("utf-8", "surrogatepass"),
                                   headers={"content-type": "application/json"})
            refused = response.json().get("events", []) if response.status_code == 422 else []
            assert len(refused) == len(json.loads(body)), response.text[:500]
            statuses[response.status_code] += len(refused)
        for text in texts:
            response = client.post("/v1/events", content=text.encode("utf-8", "surrogatepass"),
                                   headers={"content-type": "application/json"})
            statuses[response.status_code] += 1
        assert api.poll() is None, "no crash"
    print(f"\nhttp: {TOTAL} bad bodies -> statuses {dict(statuses)}")
    assert statuses.total() == TOTAL
    assert all(400 <= code < 500 for code in statuses), statuses


def _letters(engine: Engine) -> int:
    with transaction(engine) as s:
        return int(s.scalar(select(func.count()).select_from(DeadLetter)) or 0)


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False
