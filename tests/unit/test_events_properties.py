"""Properties of the wire format: every event survives its own wire form, and no input,
however malformed or hostile, escapes as anything but an EventError."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from slamon.models.catalog import CATEGORY_LABELS, SERVICE_LABELS
from slamon.models.event_fields import ID_PATTERN, MAX_ITEM_PRICE
from slamon.models.events import (
    EventError,
    HelpAssigned,
    HelpCancelled,
    HelpOpened,
    HelpReopened,
    HelpResolved,
    HelpResponded,
    event_to_json,
    parse_event,
    parse_events,
)

ZONES = st.sampled_from([ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York"), ZoneInfo("UTC")])
instants = st.datetimes(
    min_value=datetime(2001, 1, 1),
    max_value=datetime(2098, 12, 31),
    timezones=ZONES,
    allow_imaginary=False,
)
ids = st.from_regex(ID_PATTERN, fullmatch=True)
# Letters, digits, punctuation and symbols: no separators or control characters, so the value
# is already in the form validation keeps.
names = st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=64)
categories = st.sampled_from([*CATEGORY_LABELS, *CATEGORY_LABELS.values()]) | names
services = st.lists(
    st.sampled_from([*SERVICE_LABELS, *SERVICE_LABELS.values()]) | names, min_size=1, max_size=16
)
prices = (
    st.none()
    | st.decimals(min_value=0, max_value=MAX_ITEM_PRICE, places=2)
    | st.integers(min_value=0, max_value=int(MAX_ITEM_PRICE))
)
reasons = st.none() | st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), max_size=500)


def common() -> dict[str, Any]:
    return {"event_id": ids, "case_id": ids, "occurred_at": instants}


events = st.one_of(
    st.builds(
        HelpOpened,
        **common(),
        order_id=ids,
        buyer_account=names,
        merchant_id=ids,
        provider_id=st.none() | ids,
        city=st.none() | names,
        category=categories,
        services=services,
        item_price=prices,
    ),
    st.builds(HelpAssigned, **common(), provider_id=ids, merchant_id=st.none() | ids),
    st.builds(HelpResponded, **common()),
    st.builds(HelpResolved, **common()),
    st.builds(HelpCancelled, **common(), reason=reasons),
    st.builds(HelpReopened, **common(), reason=reasons),
)


NEW_YORK_FOLD = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York"))


@given(events)
@example(HelpResponded(event_id="e", case_id="c", occurred_at=NEW_YORK_FOLD))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_the_wire_form_parses_back_to_the_same_event(event: Any) -> None:
    wire = event_to_json(event)
    text = json.dumps(wire, ensure_ascii=False)

    again = parse_event(text)

    assert again == event
    assert type(again) is type(event)
    assert again.occurred_at.utcoffset() == event.occurred_at.utcoffset()
    assert event_to_json(again) == wire


@given(st.lists(events, min_size=1, max_size=5))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_a_batch_parses_back_in_order(batch: list[Any]) -> None:
    text = json.dumps([event_to_json(e) for e in batch], ensure_ascii=False)
    assert parse_events(text) == batch


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.decimals(allow_nan=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
VALID = {
    "event_id": "e1",
    "type": "help.opened",
    "case_id": "c1",
    "occurred_at": "2026-11-26T10:00:00+08:00",
    "order_id": "O1",
    "buyer_account": "b",
    "merchant_id": "M1",
    "category": "家电",
    "services": ["预约安装"],
    "item_price": "9.90",
}
# A valid event with one field replaced, removed or added: the near misses producers send.
mutated = st.one_of(
    st.builds(lambda k, v: VALID | {k: v}, st.sampled_from(sorted(VALID)) | st.text(), json_values),
    st.builds(lambda k: {f: v for f, v in VALID.items() if f != k}, st.sampled_from(sorted(VALID))),
)


def refused_cleanly(error: EventError) -> None:
    assert error.errors, "a refusal names at least one problem"
    for item in error.errors:
        assert isinstance(item["loc"], str) and isinstance(item["msg"], str) and item["msg"]
    assert "\n" not in str(error)


@given(json_values | mutated)
@example(10**5000)
@example({"item_price": 10**5000})
@example(VALID | {"occurred_at": "9999-12-31T23:59:59-23:59"})
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_json_value_is_an_event_or_an_event_error(value: Any) -> None:
    inputs = [value]  # as a Python value (a mapping, or something parse_event must refuse)
    # An integer too long for str() has no JSON text; its Python form still goes through.
    with contextlib.suppress(ValueError):
        inputs.append(json.dumps(value, ensure_ascii=False, default=str))
    for data in inputs:
        for parse in (parse_event, parse_events):
            try:
                parse(data)
            except EventError as error:
                refused_cleanly(error)


@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "replace")))
def test_arbitrary_bytes_are_an_event_or_an_event_error(raw: bytes) -> None:
    try:
        parse_events(raw)
    except EventError as error:
        refused_cleanly(error)


def test_deeply_nested_json_is_refused_not_crashing() -> None:
    for raw in ("[" * 100_000, '{"a":' * 100_000, json.dumps(VALID | {"city": [[[[]]]]})):
        try:
            parse_events(raw)
        except EventError as error:
            refused_cleanly(error)
        else:
            raise AssertionError(f"accepted {raw[:20]!r}")


def test_a_huge_field_is_refused_without_echoing_it() -> None:
    try:
        parse_event(json.dumps(VALID | {"buyer_account": "x" * 1_000_000}))
    except EventError as error:
        assert len(str(error)) < 200
    else:
        raise AssertionError("a 1 MB account name was accepted")


def test_the_largest_price_is_accepted() -> None:
    assert parse_event(VALID | {"item_price": str(MAX_ITEM_PRICE)}).item_price == Decimal(
        "99999999.99"
    )
