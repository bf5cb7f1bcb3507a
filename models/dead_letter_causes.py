"""Why a message became a dead letter: a short, fixed vocabulary for counting and alerting.

The dead letter's ``error`` says in words what was wrong with *this* message; its ``cause``
names the kind of problem, so that ``/metrics`` can count dead letters by cause with a bounded
set of label values, and an operator can tell a producer sending garbage (``not_json``) from
one sending events the schema refuses (``invalid_event``) or a defect of ours
(``internal_error``).
"""

from __future__ import annotations

from enum import StrEnum


class Cause(StrEnum):
    # The body could not be read as events.
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    EMPTY_BATCH = "empty_batch"
    # An event that the schema refuses (a field missing, unknown or malformed).
    INVALID_EVENT = "invalid_event"
    # ``occurred_at`` further in the future than the allowed clock skew.
    FUTURE_EVENT = "future_event"
    # The database refused to store an otherwise valid event (a value it cannot hold).
    NOT_STORABLE = "not_storable"
    # A defect while applying the event: kept to be replayed once it is fixed.
    INTERNAL_ERROR = "internal_error"
    # An event id already in the inbox with other content: the first one stands.
    CONFLICT = "conflict"
    # Messages Celery itself cannot run (see slamon.worker.consumer).
    UNDECODABLE = "undecodable"
    NOT_A_TASK = "not_a_task"
    UNKNOWN_TASK = "unknown_task"
    INVALID_TASK = "invalid_task"
    # Broker messages the worker's gate refuses before Celery sees them
    # (slamon.worker.message_gate; the table of what becomes of each in docs/DESIGN.md).
    # The queue item is not a readable kombu envelope (not JSON, not UTF-8, no properties...).
    BAD_ENVELOPE = "bad_envelope"
    # Not ``application/json`` in UTF-8 (pickle, yaml, msgpack, raw bytes, none at all).
    BAD_CONTENT_TYPE = "bad_content_type"
    # Larger than SLAMON_MAX_BODY_BYTES.
    TOO_LARGE = "too_large"
    # A Celery protocol-2 header of the wrong type, or a protocol-1 message.
    BAD_HEADERS = "bad_headers"
    # A task that is not slamon's own (Celery's built-ins included): never run.
    FOREIGN_TASK = "foreign_task"
    # The body is not ``[args, kwargs, embed]``, or the arguments do not fit the task.
    BAD_ARGUMENTS = "bad_arguments"
    # Links other tasks (callbacks, errbacks, chain, chord), which slamon never sends.
    LINKED_TASKS = "linked_tasks"
    # ``expires`` has passed: kept rather than discarded as Celery would.
    EXPIRED = "expired"
    # ``eta`` (a countdown) further ahead than SLAMON_MAX_TASK_DELAY_SECONDS.
    ETA_TOO_FAR = "eta_too_far"

