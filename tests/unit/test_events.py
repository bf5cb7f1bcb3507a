"""Wire events: what is accepted, what is refused, and what a refusal says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from slamon.models.events import (
    EVENT_TYPES,
    MAX_CLOCK_SKEW,
    EventError,
    HelpAssigned,
    HelpCancelled,
    HelpOpened,
    check_not_future,
    event_json_schema,
    event_to_json,
    parse_event,
    parse_events,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def opened(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": "e-7f3a",
        "type": "help.opened",
        "case_id": "H20261126001",
        "occurred_at": "2026-11-26T10:00:00+08:00",
        "order_id": "O1",
        "buyer_account": "tb_buyer_1",
        "merchant_id": "M1",
        "provider_id": "P1",
        "city": "杭州",
        "category": "家装家具",
        "services": ["送货入户并安装"],
        "item_price": "1299.00",
    }
    payload.update(changes)
    return payload


def minimal(event_type: str, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": "e-2",
        "type": event_type,
        "case_id": "H1",
        "occurred_at": "2026-11-26T10:30:00+08:00",
    }
    payload.update(changes)
    return payload


def refusal(payload: Any) -> EventError:
    with pytest.raises(EventError) as caught:
        parse_event(payload)
    return caught.value


def only_error(payload: Any) -> tuple[str, str]:
    errors = refusal(payload).errors
    assert len(errors) == 1, errors
    return errors[0]["loc"], errors[0]["msg"]


# --- accepted --------------------------------------------------------------------------------


def test_the_design_example_parses_to_slugs_and_decimal() -> None:
    event = parse_event(json.dumps(opened(), ensure_ascii=False))

    assert isinstance(event, HelpOpened)
    assert event.category == "furniture"
    assert event.services == ("delivery_and_installation",)
    assert event.item_price == Decimal("1299.00")
    assert event.occurred_at == datetime(2026, 11, 26, 10, tzinfo=SHANGHAI)
    assert event.occurred_at.utcoffset() == timedelta(hours=8)


def test_bytes_text_and_mapping_give_the_same_event() -> None:
    text = json.dumps(opened(), ensure_ascii=False)
    assert parse_event(text) == parse_event(text.encode()) == parse_event(opened())


@pytest.mark.parametrize(
    ("label", "slug"),
    [
        ("预约安装", "scheduled_installation"),
        ("送货入户", "delivery_to_home"),
        ("三年质保", "three_year_warranty"),
        ("scheduled_installation", "scheduled_installation"),
        (" Delivery_To_Home ", "delivery_to_home"),
    ],
)
def test_service_labels_and_slugs_normalise_to_the_slug(label: str, slug: str) -> None:
    event = parse_event(opened(category="基础建材", services=[label]))
    assert isinstance(event, HelpOpened)
    assert event.category == "basic_building_materials"
    assert event.services == (slug,)


def test_services_are_deduplicated_in_the_senders_order() -> None:
    services = ["三年质保", "送货入户", "three_year_warranty", "delivery_to_home", "预约安装"]
    event = parse_event(opened(services=services))
    assert isinstance(event, HelpOpened)
    assert event.services == ("three_year_warranty", "delivery_to_home", "scheduled_installation")


def test_an_unknown_category_is_kept_so_the_policy_can_say_why_it_is_not_monitored() -> None:
    event = parse_event(opened(category="服装", services=["包邮"]))
    assert isinstance(event, HelpOpened)
    assert (event.category, event.services) == ("服装", ("包邮",))


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("1299", "1299.00"),
        ("1299.5", "1299.50"),
        ("0", "0.00"),
        (1299, "1299.00"),
        ("99999999.99", "99999999.99"),
        (0, "0.00"),
    ],
)
def test_item_price_accepts_decimal_strings_and_integers(sent: object, stored: str) -> None:
    event = parse_event(json.dumps(opened(item_price=sent)))
    assert isinstance(event, HelpOpened)
    assert event.item_price == Decimal(stored)
    assert event_to_json(event)["item_price"] == stored


def test_item_price_is_optional_and_absent_from_the_wire_form_when_missing() -> None:
    payload = opened()
    del payload["item_price"]
    event = parse_event(payload)
    assert isinstance(event, HelpOpened)
    assert event.item_price is None
    assert "item_price" not in event_to_json(event)


def test_a_python_caller_may_pass_a_decimal_and_an_aware_datetime() -> None:
    event = HelpOpened(
        event_id="e1",
        case_id="c1",
        occurred_at=datetime(2026, 11, 26, 10, tzinfo=SHANGHAI),
        order_id="O1",
        buyer_account="买家小王",
        merchant_id="M1",
        category="灯具灯饰",
        services=["预约安装"],
        item_price=Decimal("88.8"),
    )
    assert event.type == "help.opened"
    assert event.item_price == Decimal("88.80")
    assert event.category == "lighting"


@pytest.mark.parametrize("event_type", EVENT_TYPES[1:])
def test_every_follow_up_type_parses_from_its_minimal_form(event_type: str) -> None:
    extra = {"provider_id": "P2"} if event_type == "help.assigned" else {}
    event = parse_event(minimal(event_type, **extra))
    assert event.type == event_type
    assert event.case_id == "H1"


def test_optional_reasons_may_span_lines() -> None:
    event = parse_event(minimal("help.cancelled", reason="买家撤销\n已电话确认"))
    assert isinstance(event, HelpCancelled)
    assert event.reason == "买家撤销\n已电话确认"


def test_utc_z_and_other_offsets_are_instants() -> None:
    event = parse_event(minimal("help.responded", occurred_at="2026-11-26T02:30:00Z"))
    assert event.occurred_at == datetime(2026, 11, 26, 10, 30, tzinfo=SHANGHAI)


def test_events_are_frozen_and_hashable() -> None:
    event = parse_event(opened())
    with pytest.raises(ValidationError):
        event.case_id = "other"  # type: ignore[misc]
    assert len({event, parse_event(opened())}) == 1


def test_wire_form_keeps_the_offset_and_prices_as_strings() -> None:
    wire = event_to_json(parse_event(opened()))
    assert wire["occurred_at"] == "2026-11-26T10:00:00+08:00"
    assert wire["item_price"] == "1299.00"
    assert wire["schema_version"] == 1
    assert wire["services"] == ["delivery_and_installation"]
    assert json.loads(json.dumps(wire)) == wire  # plain JSON types only


# --- refused, with the field and the reason ---------------------------------------------------


def test_a_naive_occurred_at_is_refused_with_the_value() -> None:
    assert only_error(opened(occurred_at="2026-11-26T10:00:00")) == (
        "occurred_at",
        "must carry a UTC offset, got '2026-11-26T10:00:00'",
    )


def test_a_naive_python_datetime_is_refused_too() -> None:
    loc, msg = only_error(opened(occurred_at=datetime(2026, 11, 26, 10)))
    assert loc == "occurred_at"
    assert msg.startswith("must carry a UTC offset")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (1764122400, "ISO 8601 date-time string"),
        ("1764122400", "ISO 8601 date-time"),
        ("2026-11-26", "ISO 8601 date-time"),
        ("yesterday", "ISO 8601 date-time"),
        ("2026-13-01T00:00:00+08:00", "month"),
        ("1999-12-31T23:00:00+08:00", "2000-2099"),
        ("2100-01-01T08:00:00+08:00", "2000-2099"),
        (None, "ISO 8601 date-time string"),
    ],
)
def test_occurred_at_must_be_an_iso_instant_in_range(value: object, fragment: str) -> None:
    loc, msg = only_error(opened(occurred_at=value))
    assert loc == "occurred_at"
    assert fragment in msg


def test_an_unknown_field_is_refused_by_name() -> None:
    assert only_error(opened(colour="red")) == ("colour", "unknown field")


@pytest.mark.parametrize(
    "field",
    [
        "order_id",
        "buyer_account",
        "merchant_id",
        "category",
        "services",
        "event_id",
        "case_id",
        "occurred_at",
    ],
)
def test_a_missing_required_field_is_named(field: str) -> None:
    payload = opened()
    del payload[field]
    assert only_error(payload) == (field, "required")


def test_assigned_needs_a_provider() -> None:
    assert only_error(minimal("help.assigned")) == ("provider_id", "required")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("event_id", "e" * 65, "1-64 characters"),
        ("case_id", "", "1-64 characters"),
        ("case_id", "H 1", "1-64 characters"),
        ("order_id", "订单1", "1-64 characters"),
        ("merchant_id", "M1;drop", "1-64 characters"),
        ("provider_id", "P/1", "1-64 characters"),
        ("buyer_account", "b" * 65, "at most 64 characters, got 65"),
        ("city", "城" * 65, "at most 64 characters"),
        ("category", "c" * 65, "at most 64"),
        ("buyer_account", "  ", "must not be empty"),
        ("city", "杭\x00州", "control characters"),
        ("buyer_account", "a\nb", "control characters"),
    ],
)
def test_identifiers_and_names_are_bounded(field: str, value: str, fragment: str) -> None:
    loc, msg = only_error(opened(**{field: value}))
    assert loc == field
    assert fragment in msg


def test_a_too_long_reason_is_refused() -> None:
    loc, msg = only_error(minimal("help.reopened", reason="不满意" * 200))
    assert (loc, msg) == ("reason", "must be at most 500 characters, got 600")


@pytest.mark.parametrize(
    ("value", "loc", "fragment"),
    [
        ([], "services", "must not be empty"),
        ("预约安装", "services", "must be a JSON array"),
        (["x"] * 17, "services", "at most 16"),
        (["预约安装", ""], "services[1]", "must not be empty"),
        (["预约安装", 3], "services[1]", "must be a string, got number"),
        (["s" * 65], "services[0]", "at most 64"),
    ],
)
def test_services_must_be_a_bounded_list_of_names(value: object, loc: str, fragment: str) -> None:
    got_loc, msg = only_error(opened(services=value))
    assert got_loc == loc
    assert fragment in msg


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (1299.5, "not a JSON number with a fraction"),
        (1299.0, "not a JSON number with a fraction"),
        ("NaN", "plain decimal string"),
        ("Infinity", "plain decimal string"),
        ("1e3", "plain decimal string"),
        (" 12", "plain decimal string"),
        ("-1", "plain decimal string"),
        ("１２", "plain decimal string"),
        ("12.345", "at most 2 decimal places"),
        (-1, "between 0 and 99999999.99"),
        ("100000000", "between 0 and 99999999.99"),
        (10**9, "between 0 and 99999999.99"),
        (True, "got boolean"),
        ({"yuan": 1}, "got object"),
        ("", "plain decimal string"),
    ],
)
def test_item_price_refusals_say_why(value: object, fragment: str) -> None:
    loc, msg = only_error(opened(item_price=value))
    assert loc == "item_price"
    assert fragment in msg


def test_a_hostile_integer_price_is_refused_without_converting_it() -> None:
    loc, msg = only_error(opened(item_price=10**5000))
    assert loc == "item_price"
    assert "between 0 and" in msg


def test_python_decimals_must_be_finite() -> None:
    for value in (Decimal("NaN"), Decimal("-Infinity"), Decimal("-0.01")):
        assert only_error(opened(item_price=value))[0] == "item_price"
    event = parse_event(opened(item_price=Decimal("-0")))
    assert event_to_json(event)["item_price"] == "0.00"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("buyer_account", 12345),
        ("event_id", 7),
        ("case_id", b"H1"),
        ("city", ["杭州"]),
        ("category", None),
    ],
)
def test_strings_are_not_coerced_from_other_types(field: str, value: object) -> None:
    loc, msg = only_error(opened(**{field: value}))
    assert loc == field
    assert msg.startswith("must be a string")


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
def test_only_schema_version_1_is_read(version: object) -> None:
    loc, msg = only_error(opened(schema_version=version))
    assert loc == "schema_version"
    assert "this service reads version 1" in msg


def test_a_missing_or_unknown_type_lists_the_known_ones() -> None:
    payload = opened()
    del payload["type"]
    loc, msg = only_error(payload)
    assert loc == "type"
    assert "help.opened" in msg and "help.reopened" in msg
    loc, msg = only_error(opened(type="help.closed"))
    assert (loc, msg.split(";")[0]) == ("type", "unknown event type 'help.closed'")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("", "not valid JSON"),
        ("42", "must be a JSON object, got number"),
        ('"x"', "must be a JSON object, got string"),
        ("[]", "use parse_events for a batch"),
    ],
)
def test_unreadable_text_is_refused_as_a_whole(raw: str | bytes, fragment: str) -> None:
    loc, msg = only_error(raw)
    assert loc == ""
    assert fragment in msg


def test_a_value_that_is_neither_text_nor_mapping_is_refused() -> None:
    assert "got list" in str(refusal([opened()]))


def test_every_wrong_field_is_reported_on_one_line() -> None:
    error = refusal(opened(occurred_at="2026-11-26T10:00:00", colour="red", item_price=1.5))
    assert {e["loc"] for e in error.errors} == {"occurred_at", "colour", "item_price"}
    line = str(error)
    assert "\n" not in line
    assert "occurred_at: must carry a UTC offset" in line and "colour: unknown field" in line


def test_a_long_list_of_errors_is_summarised() -> None:
    payload = {f"x{i}": i for i in range(9)} | opened()
    error = refusal(payload)
    assert len(error.errors) == 9
    assert str(error).endswith(f"and {9 - EventError.MAX_SHOWN} more")


# --- batches ---------------------------------------------------------------------------------


def test_a_batch_is_a_json_array_of_events() -> None:
    batch = [opened(), minimal("help.responded", case_id="H20261126001")]
    events = parse_events(json.dumps(batch))
    assert [e.type for e in events] == ["help.opened", "help.responded"]
    assert parse_events(batch) == events
    assert parse_events(json.dumps(batch).encode()) == events


def test_a_single_object_is_a_batch_of_one() -> None:
    assert parse_events(json.dumps(opened())) == [parse_event(opened())]
    assert parse_events(opened()) == [parse_event(opened())]


def test_a_batch_is_refused_whole_and_errors_carry_the_index() -> None:
    batch = [opened(), minimal("help.responded", occurred_at="2026-11-26T10:30:00"), 7]
    with pytest.raises(EventError) as caught:
        parse_events(json.dumps(batch))
    assert [(e.get("index"), e["loc"]) for e in caught.value.errors] == [
        (1, "occurred_at"),
        (2, ""),
    ]
    assert str(caught.value).startswith("event 1: occurred_at: must carry a UTC offset")


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(EventError, match="at least one event"):
        parse_events("[ ]")


# --- schema ----------------------------------------------------------------------------------


def test_the_json_schema_describes_each_event_type_for_producers() -> None:
    schema = event_json_schema()
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)
    for definition in schema["$defs"].values():
        assert definition["additionalProperties"] is False
        assert definition["required"][0] == "type"
        assert {"event_id", "case_id", "occurred_at"} <= set(definition["required"])
    price = schema["$defs"]["HelpOpened"]["properties"]["item_price"]
    assert "number" not in json.dumps(price)  # never advertise floats for money
    assert json.loads(json.dumps(schema)) == schema


def test_schema_required_fields_match_what_the_parser_requires() -> None:
    opened_schema = event_json_schema()["$defs"]["HelpOpened"]
    for field in opened_schema["required"]:
        payload = opened()
        del payload[field]
        assert only_error(payload)[0] == field
    optional = set(opened_schema["properties"]) - set(opened_schema["required"])
    for field in optional:
        payload = opened()
        payload.pop(field, None)
        parse_event(payload)


def test_assignment_may_name_a_new_merchant() -> None:
    event = parse_event(minimal("help.assigned", provider_id="P9", merchant_id="M9"))
    assert isinstance(event, HelpAssigned)
    assert (event.provider_id, event.merchant_id) == ("P9", "M9")


def test_offsets_other_than_shanghai_are_kept() -> None:
    berlin = timezone(timedelta(hours=1))
    event = parse_event(minimal("help.resolved", occurred_at="2026-11-26T03:30:00+01:00"))
    assert event.occurred_at.utcoffset() == berlin.utcoffset(None)
    assert event_to_json(event)["occurred_at"] == "2026-11-26T03:30:00+01:00"


# -- the future: one rule for the HTTP intake, the SDK, the CLI and ingest ---------------------


def test_an_event_up_to_the_allowed_skew_ahead_is_accepted_one_microsecond_more_refused() -> None:
    event = parse_event(opened())  # 2026-11-26T10:00:00+08:00
    now = datetime(2026, 11, 26, 1, 55, tzinfo=UTC)  # 09:55 in Shanghai
    assert check_not_future(event, now, MAX_CLOCK_SKEW) is event
    with pytest.raises(EventError) as refused:
        check_not_future(event, now - timedelta(microseconds=1), MAX_CLOCK_SKEW)
    [error] = refused.value.errors
    assert error["loc"] == "occurred_at"
    assert str(refused.value) == (
        "occurred_at: 2026-11-26T10:00:00+08:00 is in the future: more than 300 s after "
        "2026-11-26T01:54:59.999999+00:00"
    )


def test_the_allowed_skew_is_the_callers() -> None:
    event = parse_event(opened())
    now = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
    assert check_not_future(event, now, timedelta(0)) is event
    with pytest.raises(EventError, match="more than 0 s after"):
        check_not_future(event, now - timedelta(seconds=1), timedelta(0))
