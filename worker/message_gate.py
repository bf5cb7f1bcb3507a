"""The gate every broker message passes before Celery sees it: run it, or say why not.

Celery and kombu trust the message: a header of the wrong type, a body that is not
``[args, kwargs, embed]`` or a content type they do not expect raises outside the callbacks a
consumer can override (the worker exits), and several valid-looking messages are acknowledged
and gone (an ``expires`` in the past, wrong arguments, a built-in task). So the worker checks
each message here first (:func:`refusal`); a refused one becomes a dead letter with the reason
(:mod:`slamon.worker.consumer`), and only a message that passes every check reaches Celery:

1. The queue item was a readable envelope (:mod:`slamon.worker.transport` marks one that is
   not, and keeps its bytes).
2. ``application/json`` in UTF-8, no larger than the limit; never pickle, yaml or msgpack.
3. Protocol 2: a ``task`` header naming one of slamon's own tasks, and every other header of
   the protocol, when present, of its type.
4. Not expired; not delayed (``eta``) further than slamon itself ever delays a task.
5. A body ``[args, kwargs, embed]`` whose arguments fit the task, and which links no other
   task (slamon never sends callbacks, chains or chords).
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slamon.models.dead_letter_causes import Cause
from slamon.models.event_fields import json_type

# Set by slamon.worker.transport on an envelope it rebuilt around an unreadable queue item.
UNREADABLE = "slamon_unreadable"
JSON_CONTENT = "application/json"
MAX_ID = 2**63 - 1  # a compensation id is a database BIGINT
MAX_ID_LIST = 100_000  # a compensate_batch chunk is at most SLAMON_SWEEP_BATCH ids
LINKS = ("callbacks", "errbacks", "chain", "chord")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int  # SLAMON_MAX_BODY_BYTES, as for HTTP
    max_delay: timedelta  # SLAMON_MAX_TASK_DELAY_SECONDS


@dataclass(frozen=True)
class Refusal:
    reason: str
    cause: Cause
    raw: str  # what the dead letter keeps: the events text of sla.ingest, else the whole item
    event_id: str | None = None


class _Refused(Exception):
    def __init__(self, reason: str, cause: Cause) -> None:
        super().__init__(reason)
        self.reason, self.cause = reason, cause


def text_of(data: bytes) -> str:
    """Bytes as a dead letter keeps them: the text if they are UTF-8, else base64 (said so)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")


def raw_item(message: Any) -> str:
    """The queue item as received: the envelope, or the bytes the transport kept."""
    body = message.body if isinstance(message.body, bytes) else str(message.body or "").encode()
    if (message.properties or {}).get(UNREADABLE):
        return text_of(body)
    try:
        return json.dumps(message._raw, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return text_of(body)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id(value: Any) -> int:
    if not _is_int(value) or not 1 <= value <= MAX_ID:
        raise _Refused(f"a compensation id must be an integer in 1..{MAX_ID}, got "
                       f"{json_type(value)}", Cause.BAD_ARGUMENTS)
    return int(value)


def _ids(value: Any) -> None:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ID_LIST:
        raise _Refused(f"compensation ids must be a list of 1..{MAX_ID_LIST} ids",
                       Cause.BAD_ARGUMENTS)
    for item in value:
        _id(item)


def _anything(value: Any) -> None:
    """sla.ingest reads any body itself: what is not an event becomes a dead letter there."""


# The arguments of each of slamon's tasks (worker/tasks.py), by parameter name.
ARGUMENT_CHECKS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "sla.ingest": {"body": _anything},
    "sla.compensate": {"compensation_id": _id},
    "sla.compensate_batch": {"compensation_ids": _ids},
}


def _optional(kind: type | tuple[type, ...]) -> Callable[[Any], bool]:
    return lambda v: v is None or (isinstance(v, kind) and not isinstance(v, bool))


def _timelimit(value: Any) -> bool:
    return value is None or (
        isinstance(value, list | tuple) and len(value) == 2
        and all(v is None or (isinstance(v, int | float) and not isinstance(v, bool) and v >= 0)
                for v in value)
    )


def _instant(value: Any) -> bool:
    return value is None or (isinstance(value, str) and _parse_instant(value) is not None)


# Celery's protocol 2 headers (docs.celeryq.dev "Message Protocol") and the type each must have.
HEADER_TYPES: dict[str, Callable[[Any], bool]] = {
    "lang": _optional(str),
    "id": lambda v: isinstance(v, str) and 0 < len(v) <= 255,
    "root_id": _optional(str),
    "parent_id": _optional(str),
    "group": _optional(str),
    "group_index": _optional(int),
    "meth": _optional(str),
    "shadow": _optional(str),
    "eta": _instant,
    "expires": _instant,
    "retries": lambda v: v is None or (_is_int(v) and v >= 0),
    "timelimit": _timelimit,
    "argsrepr": _optional(str),
    "kwargsrepr": _optional(str),
    "origin": _optional(str),
    "ignore_result": lambda v: v is None or isinstance(v, bool),
    "replaced_task_nesting": lambda v: v is None or (_is_int(v) and v >= 0),
    "stamped_headers": _optional(list),
    "stamps": _optional(dict),
}


def _parse_instant(text: str) -> datetime | None:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)  # Celery's zone is UTC


def refusal(
    message: Any,
    now: datetime,
    limits: Limits,
    signatures: Mapping[str, inspect.Signature],
) -> Refusal | None:
    """Why ``message`` (a kombu message) must not run, or None; ``signatures`` are the run
    signatures of slamon's own tasks, by name. Never raises."""
    try:
        _check(message, now, limits, signatures)
    except _Refused as refused:
        return Refusal(refused.reason, refused.cause, _kept(message), _event_id(message))
    except Exception as exc:  # a shape no check foresaw: still refused, never a crash
        return Refusal(f"unreadable message: {type(exc).__name__}: {exc}", Cause.BAD_ENVELOPE,
                       _kept(message))
    return None


def _check(
    message: Any, now: datetime, limits: Limits, signatures: Mapping[str, inspect.Signature]
) -> None:
    properties = message.properties if isinstance(message.properties, dict) else {}
    if properties.get(UNREADABLE):  # step 1
        raise _Refused(str(properties[UNREADABLE]), Cause.BAD_ENVELOPE)
    body = message.body
    if not isinstance(body, bytes):
        body = str(body or "").encode("utf-8", "surrogatepass")
    content_type, encoding = message.content_type, message.content_encoding  # step 2
    if content_type != JSON_CONTENT or str(encoding).lower() not in ("utf-8", "utf8"):
        raise _Refused(f"content type {content_type!r} in {encoding!r}: only {JSON_CONTENT} in "
                       "utf-8 is read (never pickle, yaml or msgpack)", Cause.BAD_CONTENT_TYPE)
    if len(body) > limits.max_body_bytes:
        raise _Refused(f"{len(body)} bytes: more than the {limits.max_body_bytes} allowed "
                       "(SLAMON_MAX_BODY_BYTES)", Cause.TOO_LARGE)
    headers = message.headers  # step 3
    if not isinstance(headers, dict) or "task" not in headers:
        raise _Refused("not a Celery protocol 2 message (no task header): slamon reads "
                       "protocol 2 only", Cause.BAD_HEADERS)
    task = headers["task"]
    if not isinstance(task, str):
        raise _Refused(f"header 'task' must be a string, got {json_type(task)}",
                       Cause.BAD_HEADERS)
    if task not in signatures:
        raise _Refused(f"task {task[:200]!r} is not one of slamon's "
                       f"({', '.join(sorted(signatures))}): never run", Cause.FOREIGN_TASK)
    for name, valid in HEADER_TYPES.items():
        if not valid(headers.get(name)):
            raise _Refused(f"header {name!r} has a wrong type or value: "
                           f"{_short(headers.get(name))}", Cause.BAD_HEADERS)
    expires = _parse_instant(headers["expires"]) if headers.get("expires") else None  # step 4
    if expires is not None and expires <= now:
        raise _Refused(f"expired at {headers['expires']} (received {now.isoformat()})",
                       Cause.EXPIRED)
    eta = _parse_instant(headers["eta"]) if headers.get("eta") else None
    if eta is not None and eta - now > limits.max_delay:
        raise _Refused(f"eta {headers['eta']} is more than {limits.max_delay} ahead "
                       "(SLAMON_MAX_TASK_DELAY_SECONDS)", Cause.ETA_TOO_FAR)
    _check_body(task, body, signatures[task])  # step 5


def _check_body(task: str, body: bytes, signature: inspect.Signature) -> None:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Refused(f"body is not JSON: {exc}", Cause.BAD_ARGUMENTS) from None
    if not (isinstance(data, list) and len(data) == 3 and isinstance(data[0], list)
            and isinstance(data[1], dict) and (data[2] is None or isinstance(data[2], dict))):
        raise _Refused(f"body must be [args, kwargs, embed], got {_short(data)}",
                       Cause.BAD_ARGUMENTS)
    args, kwargs, embed = data
    if any((embed or {}).get(link) for link in LINKS):
        raise _Refused(f"links other tasks ({', '.join(k for k in LINKS if (embed or {}).get(k))})"
                       ": slamon never sends any", Cause.LINKED_TASKS)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise _Refused(f"arguments do not fit {task}: {exc}", Cause.BAD_ARGUMENTS) from None
    for name, value in bound.arguments.items():
        check = ARGUMENT_CHECKS.get(task, {}).get(name)
        if check is None:
            raise _Refused(f"{task} takes no argument {name!r}", Cause.BAD_ARGUMENTS)
        check(value)


def _kept(message: Any) -> str:
    """For sla.ingest, the events text (so that a replay applies it); else the whole item."""
    with contextlib.suppress(Exception):  # not an ingest body: keep the item as it is
        if message.headers.get("task") == "sla.ingest":
            args = json.loads(message.body.decode("utf-8"))[0]
            if len(args) == 1 and isinstance(args[0], str):
                return str(args[0])
    return raw_item(message)


def _event_id(message: Any) -> str | None:
    headers = message.headers if isinstance(message.headers, dict) else {}
    task_id = headers.get("id")
    return task_id if isinstance(task_id, str) else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"

