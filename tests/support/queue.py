"""Read what producers put on the ``sla.events`` queue, without a worker.

Celery on Redis keeps a queue as a list of kombu envelopes (pushed left, popped right); the
task body is the JSON ``[args, kwargs, embed]`` of protocol 2, base64-encoded.
"""

from __future__ import annotations

import base64
import json

import redis

from slamon.worker.app import EVENTS_QUEUE


def drain_ingest_bodies(redis_url: str, queue: str = EVENTS_QUEUE) -> list[str]:
    """Pop every ``sla.ingest`` message of ``queue``, oldest first; their message bodies."""
    client = redis.Redis.from_url(redis_url)
    bodies = []
    while (raw := client.rpop(queue)) is not None:
        envelope = json.loads(raw)
        assert envelope["headers"]["task"] == "sla.ingest", envelope["headers"]
        body = envelope["body"]
        if envelope["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        bodies.append(args[0])
    return bodies
