"""kombu's Redis transport, except that an unreadable queue item is kept instead of fatal.

kombu pops an item off the queue (BRPOP) and then parses it as a JSON envelope; an item that
is not one (not JSON, not UTF-8, no ``properties``, a body that is not base64, ...) raises in
the worker's event loop, which exits, and the item, already popped, is lost. Here such an item
is wrapped in an envelope of our own, holding its bytes as the body and the reason in the
``slamon_unreadable`` property; it is delivered like any message (so it is held in the unacked
set until acknowledged), and the gate (:mod:`slamon.worker.message_gate`) dead-letters it.

The worker selects this transport for a ``redis://`` or ``rediss://`` broker
(:func:`transport_for`); producers keep kombu's own.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from queue import Empty
from typing import Any

from kombu.transport import redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from slamon.worker.message_gate import UNREADABLE

TRANSPORT = "slamon.worker.transport:Transport"
CONTENT_TYPE = "application/x-slamon-unreadable"


def transport_for(broker_url: str | None) -> str | None:
    """The transport the worker uses for ``broker_url`` (None: the URL's own)."""
    scheme = (broker_url or "").split("://", 1)[0]
    return TRANSPORT if scheme in ("redis", "rediss") else None


def envelope_problem(payload: Any) -> str | None:
    """Why ``payload`` is not an envelope kombu can deliver and acknowledge, or None."""
    if not isinstance(payload, dict):
        return f"the queue item is a JSON {type(payload).__name__}, not an envelope"
    properties = payload.get("properties")
    if not isinstance(properties, dict):
        return "the envelope has no properties"
    tag = properties.get("delivery_tag")
    if not isinstance(tag, str) or not 0 < len(tag) <= 255:
        return "the envelope's delivery_tag is not a string"
    info = properties.get("delivery_info")
    if not (isinstance(info, dict) and isinstance(info.get("exchange"), str)
            and isinstance(info.get("routing_key"), str)):
        return "the envelope's delivery_info is not {exchange, routing_key}"
    priority = properties.get("priority", 0)
    if not (isinstance(priority, int) and not isinstance(priority, bool) and 0 <= priority <= 255):
        return "the envelope's priority is not an integer 0..255"
    for key in ("headers",):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return f"the envelope's {key} are not an object"
    for key in ("content-type", "content-encoding"):
        if payload.get(key) is not None and not isinstance(payload[key], str):
            return f"the envelope's {key} is not a string"
    body, encoding = payload.get("body"), properties.get("body_encoding")
    if body is not None and not isinstance(body, str):
        return "the envelope's body is not a string"
    if encoding not in (None, "base64"):
        return f"body_encoding {str(encoding)[:50]!r} is not base64"
    if encoding == "base64" and body:
        try:
            base64.b64decode(body.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            return f"the body is not valid base64: {exc}"
    return None


def read_item(item: bytes | str, queue: str) -> dict[str, Any]:
    """The envelope of a queue item: its own if it is readable, else one wrapping its bytes."""
    data = item if isinstance(item, bytes) else item.encode("utf-8", "surrogatepass")
    try:
        payload = loads(data.decode("utf-8"))  # as kombu reads it
        problem = envelope_problem(payload)
    except UnicodeDecodeError as exc:
        problem = f"the queue item is not UTF-8: {exc}"
    except (ValueError, RecursionError) as exc:
        problem = f"the queue item is not JSON: {exc}"
    if problem is None:
        return dict(payload)
    return {
        "body": base64.b64encode(data).decode("ascii"),
        "content-type": CONTENT_TYPE,
        "content-encoding": "binary",
        "headers": {},
        "properties": {
            "delivery_tag": str(uuid.uuid4()),
            "body_encoding": "base64",
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            UNREADABLE: problem,
        },
    }


class Channel(redis.Channel):  # type: ignore[misc]
    def _brpop_read(self, **options: Any) -> bool:
        # kombu's own (kombu/transport/redis.py), but for read_item in place of loads(); the
        # worker consumes through BRPOP only (basic_get's _get is left as it is).
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP",
                                                        **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if dest__item:
                dest, item = dest__item
                dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
                self._queue_cycle.rotate(dest)
                self.connection._deliver(read_item(item, dest), dest)
                return True
            raise Empty()
        finally:
            self._in_poll = None  # type: ignore[assignment]
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()


class Transport(redis.Transport):  # type: ignore[misc]
    Channel = Channel
