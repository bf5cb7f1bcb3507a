"""The producer SDK refuses what the service would refuse, before anything travels: a bad field
or an event from the future (the service's rule and message, with the producer's clock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from celery import Celery

from slamon.models.events import MAX_CLOCK_SKEW, EventError
from slamon.sdk import Producer
from tests.support.histories import opened_event

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


class CapturingApp:
    """Stands in for the Celery app: keeps what would have been queued."""

    # No broker: the SDK records no acceptance (slamon.worker.ingest_watermark).
    conf = SimpleNamespace(broker_url=None)

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any], str]] = []
        self.shown: list[str] = []  # what Flower shows for each message (argsrepr)

    def send_task(
        self, name: str, args: list[Any], queue: str, argsrepr: str, task_id: str
    ) -> None:
        self.sent.append((name, args, queue))
        self.shown.append(argsrepr)

    def close(self) -> None:
        pass


def producer(**options: Any) -> tuple[Producer, CapturingApp]:
    app = CapturingApp()
    return Producer(app=cast(Celery, app), clock=lambda: NOW, **options), app


def test_an_event_inside_the_default_skew_is_queued() -> None:
    sdk, app = producer()
    assert sdk.max_clock_skew == MAX_CLOCK_SKEW
    assert sdk.publish(opened_event("H1", "e1", NOW + MAX_CLOCK_SKEW)) == "e1"
    [(task, [body], queue)] = app.sent
    assert (task, queue, json.loads(body)["event_id"]) == ("sla.ingest", "sla.events", "e1")
    assert app.shown == ["H1 help.opened"]


def test_flower_shows_each_events_case_and_type_not_the_json_body() -> None:
    sdk, app = producer()
    sdk.publish_many([opened_event(f"H{i}", f"e{i}", NOW) for i in range(7)])
    assert app.shown == [
        "H0 help.opened, H1 help.opened, H2 help.opened, H3 help.opened, H4 help.opened, "
        "and 2 more"
    ]
    sdk.publish_raw("{not json")
    assert app.shown[-1] == "unchecked body of 9 characters"


def test_an_event_from_the_future_is_refused_with_the_services_message() -> None:
    sdk, app = producer(max_clock_skew=timedelta(seconds=60))
    with pytest.raises(EventError) as refused:
        sdk.publish(opened_event("H1", "e1", NOW + timedelta(seconds=61)))
    assert refused.value.errors[0]["loc"] == "occurred_at"
    assert "is in the future: more than 60 s after 2026-11-26T02:00:00+00:00" in str(refused.value)
    assert app.sent == []


def test_a_batch_with_one_future_event_is_refused_whole() -> None:
    sdk, app = producer(max_clock_skew=timedelta(seconds=60))
    batch = [opened_event("H1", "e1", NOW), opened_event("H2", "e2", NOW + timedelta(hours=1))]
    with pytest.raises(EventError, match="in the future"):
        sdk.publish_many(batch)
    assert app.sent == []
