"""Delivery order does not matter (SQLite and Postgres): a case history delivered shuffled,
repeated, in batches or one by one, ends in the state of the same history delivered once in
event-time order, and that state is what the history means (tests/support/histories.py)."""

from __future__ import annotations

import itertools
import json
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from slamon.worker.ingest import ingest_raw
from slamon.worker.runtime import Runtime
from tests.support.histories import History, assert_means_its_history, history, stored
from tests.support.runtime import runtime_for

SH = ZoneInfo("Asia/Shanghai")
BASE = datetime(2026, 11, 16, 7, 0, tzinfo=SH)  # a Monday morning, before opening hours
NOW = BASE + timedelta(days=40)  # every event is in the past: all of them are late
_case_numbers = itertools.count()


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return runtime_for(engine.url.render_as_string(hide_password=False), lambda: NOW)


def twin_histories(rng: random.Random, steps: int, exact: bool = False) -> tuple[History, ...]:
    """The same history under two case ids: one to deliver in order, one to scramble."""
    n = next(_case_numbers)
    opened_at = BASE + timedelta(minutes=rng.randint(0, 7 * 24 * 60))
    seed = rng.random()
    return tuple(
        history(random.Random(seed), f"{prefix}{n}", opened_at, steps, exact=exact)
        for prefix in ("IN", "SH")
    )


def deliver(runtime: Runtime, messages: list[list[str]]) -> None:
    for message in messages:
        body = message[0] if len(message) == 1 else "[" + ",".join(message) + "]"
        for outcome in ingest_raw(runtime, body):
            assert outcome.outcome != "dead_lettered", outcome


def scrambled(rng: random.Random, hist: History, max_copies: int) -> list[list[str]]:
    """Each event 1..max_copies times, shuffled, cut into messages of 1..4 events."""
    copies = [raw for raw in hist.raw() for _ in range(rng.randint(1, max_copies))]
    rng.shuffle(copies)
    messages = []
    while copies:
        size = rng.randint(1, 4)
        messages.append(copies[:size])
        copies = copies[size:]
    return messages


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rng=st.randoms(use_true_random=False), steps=st.integers(0, 8))
def test_any_delivery_order_with_repeats_ends_as_the_in_order_history(
    runtime: Runtime, engine: Engine, rng: random.Random, steps: int
) -> None:
    in_order, shuffled = twin_histories(rng, steps)

    deliver(runtime, [[raw] for raw in in_order.raw()])
    deliver(runtime, scrambled(rng, shuffled, max_copies=3))

    expected = assert_means_its_history(engine, in_order)
    got = assert_means_its_history(engine, shuffled)
    assert {k: got[k] for k in ("case", "deadlines", "outcomes")} == {
        k: expected[k] for k in ("case", "deadlines", "outcomes")
    }
    assert set(expected["copies"].values()) == {1}


@pytest.mark.parametrize("seed", range(3))
def test_every_event_sent_three_times_is_applied_once(
    runtime: Runtime, engine: Engine, seed: int
) -> None:
    rng = random.Random(seed)
    in_order, thrice = twin_histories(rng, steps=6, exact=True)

    deliver(runtime, [[raw] for raw in in_order.raw()])
    # In order, each event three times in a row; then the whole history twice more, as batches.
    deliver(runtime, [[raw] for raw in thrice.raw() for _ in range(3)])
    deliver(runtime, [thrice.raw(), list(reversed(thrice.raw()))])

    got = assert_means_its_history(engine, thrice)
    assert got["copies"] == {k: 5 for k in got["copies"]}
    want = stored(engine, in_order.case_id)
    assert (got["case"], got["deadlines"]) == (want["case"], want["deadlines"])


def test_a_batch_holding_a_whole_history_backwards_is_applied_in_event_time_order(
    runtime: Runtime, engine: Engine
) -> None:
    _, backwards = twin_histories(random.Random(7), steps=6, exact=True)
    body = json.dumps(list(reversed(backwards.events)), ensure_ascii=False)

    outcomes = ingest_raw(runtime, body)

    # Outcomes come back in the order the batch listed the events.
    assert [o.event_id for o in outcomes] == [e["event_id"] for e in reversed(backwards.events)]
    assert {o.outcome for o in outcomes} == {"applied"}
    assert_means_its_history(engine, backwards)
