"""The producer SDK: validate help events, then put them on the ``sla.events`` queue.

    from slamon.sdk import Producer
    producer = Producer("redis://:password@localhost:6379/0")
    producer = Producer.from_settings()    # the broker slamon is configured for (below)
    producer.publish({"event_id": "e-1", "type": "help.opened", ...})
    producer.publish_many(events)          # one message for the whole batch

Events are validated here, before they travel, so a producer hears about a bad event at once
(``EventError`` names the field), an event from the future included (more than
``max_clock_skew`` ahead of this producer's clock; 5 minutes unless told, as the service's
SLAMON_MAX_CLOCK_SKEW_SECONDS); the worker validates again, because not every producer uses
this SDK.

Each message is recorded as accepted on the broker before it is queued (its acceptance
instant, :mod:`slamon.worker.ingest_watermark`), so that no deadline is judged while evidence
accepted before its ``judge_at`` is still on its way.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from slamon.models.events import (
    MAX_CLOCK_SKEW,
    HelpEvent,
    check_not_future,
    event_to_json,
    parse_event,
)
from slamon.worker import ingest_watermark
from slamon.worker.app import EVENTS_QUEUE, create_app

if TYPE_CHECKING:
    from slamon.settings import Settings

INGEST_TASK = "sla.ingest"
Event = HelpEvent | Mapping[str, Any]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Producer:
    def __init__(
        self,
        broker_url: str | None = None,
        app: Celery | None = None,
        *,
        max_clock_skew: timedelta = MAX_CLOCK_SKEW,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if app is None:
            if broker_url is None:
                raise ValueError("Producer needs a broker URL or a Celery app")
            app = create_app(broker_url)
        self.app = app
        self.max_clock_skew = max_clock_skew
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Producer:
        """A producer on the broker the ``slamon`` commands use: SLAMON_REDIS_URL, else the
        Redis that a running ``slamon up`` started in SLAMON_HOME (its URL, password included,
        is in ``$SLAMON_HOME/run.json``, readable by its owner only); and the service's
        SLAMON_MAX_CLOCK_SKEW_SECONDS. Raises NoBrokerError when there is neither."""
        from slamon.settings import get_settings

        settings = settings or get_settings()
        return cls(settings.broker, max_clock_skew=settings.max_clock_skew)

    def validate(self, event: Event, now: datetime | None = None) -> HelpEvent:
        """The event, parsed and checked as of ``now`` (this producer's clock unless given);
        raises EventError naming the field when it is refused."""
        return validate(event, now or self.clock(), self.max_clock_skew)

    def publish(self, event: Event) -> str:
        """Validate and queue one event; returns its event_id. Raises EventError if invalid."""
        checked = self.validate(event)
        self._send(json.dumps(event_to_json(checked), ensure_ascii=False), _shown([checked]))
        return checked.event_id

    def publish_many(self, events: Iterable[Event]) -> list[str]:
        """Validate every event first (all or nothing), then queue them as one message."""
        now = self.clock()
        checked = [self.validate(e, now) for e in events]
        if checked:
            body = json.dumps([event_to_json(e) for e in checked], ensure_ascii=False)
            self._send(body, _shown(checked))
        return [e.event_id for e in checked]

    def publish_raw(self, body: str) -> None:
        """Queue a body as it is (the worker validates and dead-letters what is wrong)."""
        self._send(body, f"unchecked body of {len(body)} characters")

    def _send(self, body: str, shown: str) -> None:
        # argsrepr is what Flower and the worker's logs show instead of the JSON body.
        message_id = str(uuid.uuid4())
        broker_url = self.app.conf.broker_url
        tracked = ingest_watermark.tracks(broker_url)
        if tracked:  # before the message exists, so the watermark can never pass it
            try:
                ingest_watermark.accept(ingest_watermark.client_for(broker_url), message_id)
            except redis.RedisError as exc:  # the broker is down: as kombu would say it
                raise OperationalError(f"broker unavailable: {exc}") from exc
        try:
            self.app.send_task(INGEST_TASK, args=[body], queue=EVENTS_QUEUE,
                               argsrepr=shown, task_id=message_id)
        except BaseException:
            if tracked:  # not queued: nothing to wait for (a failure here only ages out)
                with contextlib.suppress(Exception):
                    ingest_watermark.forget(broker_url, message_id)
            raise

    def close(self) -> None:
        self.app.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def validate(event: Event, now: datetime, max_clock_skew: timedelta) -> HelpEvent:
    """``event`` parsed (unless it is one already) and refused if it is from the future."""
    parsed = event if not isinstance(event, Mapping) else parse_event(event)
    return check_not_future(parsed, now, max_clock_skew)


# How many events a message's label names before it says "and N more".
_SHOWN_EVENTS = 5


def _shown(events: list[HelpEvent]) -> str:
    """What Flower shows for a message: each event's case and type, e.g. ``H1 help.opened``."""
    named = ", ".join(f"{e.case_id} {e.type}" for e in events[:_SHOWN_EVENTS])
    more = len(events) - _SHOWN_EVENTS
    return f"{named}, and {more} more" if more > 0 else named
