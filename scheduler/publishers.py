"""Where outbound events go: a Redis Stream, signed webhooks, or memory (for tests).

Each publisher keeps the relay's contract (:class:`slamon.scheduler.outbox.Publisher`): deliver in
order, answer per message, never raise for a delivery problem (the relay retries it later).

Redis Stream entries have the fields ``message_id``, ``topic``, ``case_id``, ``created_at``
and ``payload`` (JSON text). Consumers read them with a consumer group (``XREADGROUP``), so
several consumers share the stream and each entry is acknowledged once it is handled; since
delivery is at least once, they dedupe on ``message_id``.

Webhooks receive ``POST`` with the JSON envelope (:meth:`OutboundMessage.as_json`), signed
as the Standard Webhooks specification says (:mod:`slamon.models.signing`): ``webhook-id`` is
the message id (stable across retries: receivers dedupe on it), ``webhook-timestamp`` and
``webhook-signature`` (one ``v1,…`` per configured secret); ``X-Slamon-Topic`` names the topic.
Any 2xx is delivery. A failure's text names the URL with its query string masked: a token
there must not reach the logs or ``outbox.last_error``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence

import httpx
import redis

from slamon.models.redaction import Redactor, mask_url
from slamon.models.signing import SigningKeys, signature_headers
from slamon.scheduler.outbox import OutboundMessage

TOPIC_HEADER = "X-Slamon-Topic"
# The stream is a feed, not the archive (the outbox table is): cap it, approximately, which
# lets Redis trim whole macro-nodes cheaply.
DEFAULT_STREAM_MAXLEN = 1_000_000


class RedisStreamPublisher:
    """``XADD`` each message to ``stream``, pipelined (one round trip per batch)."""

    name = "redis-stream"

    def __init__(
        self, client: redis.Redis[bytes], stream: str, maxlen: int | None = DEFAULT_STREAM_MAXLEN
    ) -> None:
        self.client = client
        self.stream = stream
        self.maxlen = maxlen

    def publish(self, messages: Sequence[OutboundMessage]) -> list[str | None]:
        pipe = self.client.pipeline(transaction=False)
        for message in messages:
            pipe.xadd(self.stream, stream_fields(message), maxlen=self.maxlen, approximate=True)
        try:
            results = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            return [f"Redis unavailable: {exc}"] * len(messages)
        return [str(r) if isinstance(r, Exception) else None for r in results]


def stream_fields(message: OutboundMessage) -> dict[str | bytes, str | bytes | int | float]:
    return {
        "message_id": message.message_id,
        "topic": message.topic,
        "case_id": message.case_id,
        "created_at": message.created_at.isoformat(),
        "payload": json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")),
    }


class WebhookPublisher:
    """POST each message, signed, to every URL; a message is delivered when all said 2xx."""

    name = "webhooks"

    def __init__(
        self,
        urls: Sequence[str],
        keys: SigningKeys,
        *,
        timeout: float,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.urls = list(urls)
        self._keys = keys
        # Error texts quote httpx, which may repeat a URL whole: mask what it carries.
        self._redact = Redactor(urls)
        self._clock = clock
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def publish(self, messages: Sequence[OutboundMessage]) -> list[str | None]:
        return [self._deliver(message) for message in messages]

    def _deliver(self, message: OutboundMessage) -> str | None:
        body = json.dumps(message.as_json(), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            TOPIC_HEADER: message.topic,
            **signature_headers(self._keys, message.message_id, body, self._clock()),
        }
        errors = []
        for url in self.urls:
            try:
                response = self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                errors.append(f"{mask_url(url)}: {type(exc).__name__}: {self._redact(str(exc))}")
                continue
            if not 200 <= response.status_code < 300:
                errors.append(f"{mask_url(url)}: HTTP {response.status_code}")
        return "; ".join(errors) if errors else None

    def close(self) -> None:
        self._client.close()


class MemoryPublisher:
    """Keeps what it was given; ``fail_next`` makes the next N messages fail. For tests."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.messages: list[OutboundMessage] = []
        self._failures = 0
        self._lock = threading.Lock()

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures += count

    def publish(self, messages: Sequence[OutboundMessage]) -> list[str | None]:
        outcomes: list[str | None] = []
        with self._lock:
            for message in messages:
                if self._failures:
                    self._failures -= 1
                    outcomes.append("injected failure")
                else:
                    self.messages.append(message)
                    outcomes.append(None)
        return outcomes
