"""The unapplied-messages ledger behind the ingest watermark (:mod:`slamon.models.watermark`).

A Redis sorted set on the broker, ``message id → acceptance instant``:

- a producer :func:`accept` s a message *before* it queues it: one script reads the broker's
  clock and adds the entry, so the instant is the moment the entry became visible, on one
  clock for every producer (no producer's clock skew can let judgement overtake it);
- the worker calls :func:`applied` once the message's transaction has committed (or the
  message was dead-lettered); a retry keeps the entry (same task id), and so does a message
  held by a worker that died, until it is delivered again and applied;
- the scheduler :func:`read` s the oldest entry and the broker's clock in one script.

Being the oldest entry *not yet removed*, the watermark covers the queue, prefetched and
running messages, countdown retries and a dead worker's unacked ones alike, with any number
of workers and schedulers, at the cost of two cheap commands per message (not per event).
An entry older than ``presumed_lost_after`` (its message deleted by hand, a broker that lost
its data) stops holding judgement back and is counted instead, so a lost message cannot stop
judgement for ever; until then a stall is loud (``/metrics``, ``/readyz``, the dashboard).
"""

from __future__ import annotations

import os
from typing import Any

import redis

from slamon.models.watermark import IngestWatermark, from_epoch

UNAPPLIED_KEY = "slamon:ingest:unapplied"

# TIME then ZADD, atomically: the score is the broker's clock when the entry appears.
_ACCEPT = """
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
"""
# The oldest entry younger than the presumed-lost limit, the broker's clock, the counts.
# Numbers go back as strings: Redis would truncate a Lua number to an integer.
_READ = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local floor = now - tonumber(ARGV[1])
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. floor, '+inf', 'WITHSCORES',
                          'LIMIT', 0, 1)
return {string.format('%.6f', now), oldest[2] or '', redis.call('ZCARD', KEYS[1]),
        redis.call('ZCOUNT', KEYS[1], '-inf', floor)}
"""


def accept(client: redis.Redis, message_id: str) -> float:
    """Record ``message_id`` as accepted and unapplied; its acceptance instant (Unix s)."""
    return float(client.eval(_ACCEPT, 1, UNAPPLIED_KEY, message_id))


def applied(client: redis.Redis, message_id: str) -> None:
    """Forget ``message_id``: applied, dead-lettered, or never queued after all."""
    client.zrem(UNAPPLIED_KEY, message_id)


def read(client: redis.Redis, presumed_lost_after: float) -> IngestWatermark:
    now, oldest, unapplied, lost = client.eval(_READ, 1, UNAPPLIED_KEY, presumed_lost_after)
    oldest_text = oldest.decode() if isinstance(oldest, bytes) else str(oldest)
    return IngestWatermark(
        now=from_epoch(float(now)),
        oldest_accepted=from_epoch(float(oldest_text)) if oldest_text else None,
        unapplied=int(unapplied),
        presumed_lost=int(lost),
    )


def tracks(broker_url: str | None) -> bool:
    """Whether messages on this broker are tracked (Redis; not the tests' in-memory one)."""
    return bool(broker_url) and str(broker_url).startswith(("redis://", "rediss://", "unix://"))


_clients: dict[tuple[int, str], redis.Redis] = {}


def client_for(broker_url: str) -> redis.Redis:
    """This process's client for the ledger (per pid: prefork children fork after import)."""
    key = (os.getpid(), broker_url)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(
            broker_url, socket_timeout=5, socket_connect_timeout=5
        )
    return client


def forget(broker_url: Any, message_id: str | None) -> None:
    """:func:`applied` for code that holds only the app's broker URL (the worker's tasks and
    consumer): a no-op off Redis or without an id."""
    if message_id and tracks(broker_url):
        applied(client_for(str(broker_url)), message_id)
