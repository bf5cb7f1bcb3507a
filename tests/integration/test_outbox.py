"""The outbox relay: to a real Redis Stream read by a consumer group, to signed webhooks on a
real local HTTP server; at least once, in order, with backoff, and safe with two relays."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, insert, select
from standardwebhooks.webhooks import Webhook

from slamon.models.db.engine import transaction
from slamon.models.db.tables import OutboxMessage
from slamon.models.signing import ID_HEADER, SigningKeys, new_secret
from slamon.scheduler.outbox import relay_outbox
from slamon.scheduler.publishers import MemoryPublisher, RedisStreamPublisher, WebhookPublisher
from tests.support.runtime import DEFAULTS

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
STREAM = "slamon:test-outbound"
BATCH, LEASE = DEFAULTS.sweep_batch, DEFAULTS.outbox_lease  # as the scheduler relays


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def write_outbox(engine: Engine, count: int, start: int = 0) -> list[str]:
    ids = [f"sla.breached:H{i}:response" for i in range(start, start + count)]
    with transaction(engine) as session:
        session.execute(
            insert(OutboxMessage),
            [
                {"message_id": m, "topic": "sla.breached", "case_id": m.split(":")[1],
                 "payload": {"message_id": m, "points": 5000}, "created_at": T0, "attempts": 0}
                for m in ids
            ],
        )
    return ids


def unpublished(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.published_at.is_(None)))
        )


@pytest.mark.redis
def test_relay_to_a_redis_stream_read_by_a_consumer_group(engine: Engine, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.xgroup_create(STREAM, "merchant-portal", id="0", mkstream=True)
    ids = write_outbox(engine, 25)
    publisher = RedisStreamPublisher(redis.Redis.from_url(redis_url), STREAM)
    first = relay_outbox(engine, [publisher], Clock(), 10, LEASE)
    rest = [relay_outbox(engine, [publisher], Clock(), 10, LEASE) for _ in range(3)]
    assert (first.published, [r.published for r in rest]) == (10, [10, 5, 0])
    assert unpublished(engine) == []

    entries = client.xreadgroup("merchant-portal", "c1", {STREAM: ">"}, count=100)
    [(_, messages)] = entries
    assert [fields["message_id"] for _, fields in messages] == ids  # in outbox order
    _, fields = messages[0]
    assert fields["topic"] == "sla.breached" and fields["case_id"] == "H0"
    assert json.loads(fields["payload"]) == {"message_id": ids[0], "points": 5000}
    assert client.xack(STREAM, "merchant-portal", *[entry_id for entry_id, _ in messages]) == 25


def test_a_failed_delivery_backs_off_and_does_not_hold_up_the_others(engine: Engine) -> None:
    write_outbox(engine, 3)
    sink = MemoryPublisher()
    sink.fail_next(1)  # the first message fails once
    clock = Clock()
    result = relay_outbox(engine, [sink], clock, BATCH, LEASE)
    assert (result.published, result.failed) == (2, 1)
    [waiting] = unpublished(engine)
    assert waiting.message_id == "sla.breached:H0:response"
    assert waiting.last_error == "memory: injected failure" and waiting.attempts == 1
    assert waiting.next_attempt_at == T0 + timedelta(seconds=2)
    assert relay_outbox(engine, [sink], clock, BATCH, LEASE).claimed == 0  # backing off
    clock.now = T0 + timedelta(seconds=2)
    assert relay_outbox(engine, [sink], clock, BATCH, LEASE).published == 1
    assert [m.message_id for m in sink.messages][-1] == "sla.breached:H0:response"


def test_a_message_is_published_only_when_every_publisher_took_it(engine: Engine) -> None:
    write_outbox(engine, 2)
    stream, hooks = MemoryPublisher("stream"), MemoryPublisher("hooks")
    hooks.fail_next(2)
    clock = Clock()
    assert relay_outbox(engine, [stream, hooks], clock, BATCH, LEASE).published == 0
    clock.now += timedelta(seconds=2)
    assert relay_outbox(engine, [stream, hooks], clock, BATCH, LEASE).published == 2
    # At least once: the stream saw both messages twice, and consumers dedupe by message id.
    assert len(stream.messages) == 4 and len({m.message_id for m in stream.messages}) == 2
    assert len(hooks.messages) == 2


def test_two_relays_never_publish_the_same_rows_at_once(engine: Engine) -> None:
    write_outbox(engine, 300)
    a, b = MemoryPublisher("a"), MemoryPublisher("b")
    barrier = threading.Barrier(2)

    def run(sink: MemoryPublisher) -> None:
        barrier.wait()
        while relay_outbox(engine, [sink], Clock(), 20, LEASE).claimed:
            pass

    threads = [threading.Thread(target=run, args=(s,)) for s in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    seen = [m.message_id for m in a.messages + b.messages]
    assert len(seen) == 300 == len(set(seen))
    assert unpublished(engine) == []


def test_a_crashed_relay_leaves_its_rows_to_the_next_after_the_lease(engine: Engine) -> None:
    write_outbox(engine, 2)

    class Crash(MemoryPublisher):
        def publish(self, messages: Any) -> list[str | None]:
            raise KeyboardInterrupt  # the process dies mid-publish

    with pytest.raises(KeyboardInterrupt):
        relay_outbox(engine, [Crash()], Clock(), BATCH, timedelta(seconds=30))
    sink = MemoryPublisher()
    before, after = Clock(T0 + timedelta(seconds=29)), Clock(T0 + timedelta(seconds=30))
    assert relay_outbox(engine, [sink], before, BATCH, LEASE).claimed == 0
    assert relay_outbox(engine, [sink], after, BATCH, LEASE).published == 2


HOOK_SECRET = new_secret()
HOOK_TOKEN = "receiver-query-token-1234"


class Receiver:
    """A webhook receiver that verifies each delivery with the reference Standard Webhooks
    library (as any receiver would); fails the first ``failures`` calls."""

    def __init__(self, secret: str, failures: int = 0) -> None:
        self.secret = secret
        self.failures = failures
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver(HOOK_SECRET, failures=1)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            # Raises on a bad signature: the call then fails and the test sees no delivery.
            Webhook(state.secret).verify(body, dict(self.headers.items()))
            with state.lock:
                failing = state.failures > 0
                state.failures -= 1
                if not failing:
                    state.received.append(
                        {"id": self.headers[ID_HEADER], "body": json.loads(body),
                         "path": self.path}
                    )
            self.send_response(503 if failing else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hooks/slamon?token={HOOK_TOKEN}"
    server.shutdown()
    server.server_close()


def test_webhooks_are_signed_and_retried(engine: Engine, receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    write_outbox(engine, 2)
    hooks = WebhookPublisher([url], SigningKeys.parse(HOOK_SECRET), timeout=2.0)
    clock = Clock()
    first = relay_outbox(engine, [hooks], clock, BATCH, LEASE)
    assert (first.published, first.failed) == (1, 1)
    [waiting] = unpublished(engine)
    assert waiting.last_error is not None and "HTTP 503" in waiting.last_error
    # The stored error names the receiver, never the token in its query string.
    assert HOOK_TOKEN not in waiting.last_error and "token=***" in waiting.last_error
    clock.now += timedelta(seconds=2)
    assert relay_outbox(engine, [hooks], clock, BATCH, LEASE).published == 1
    hooks.close()
    assert sorted(r["id"] for r in state.received) == [
        "sla.breached:H0:response", "sla.breached:H1:response"
    ]
    assert state.received[0]["path"].endswith(f"token={HOOK_TOKEN}")  # the URL is used whole
    envelope = state.received[0]["body"]
    assert set(envelope) == {"message_id", "topic", "case_id", "created_at", "payload"}
    assert envelope["message_id"] == state.received[0]["id"]
