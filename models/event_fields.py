"""The field types of help events: what a valid identifier, name, instant or price is.

Each type carries its own rule and the reason for it, so that ``slamon.models.events`` reads as the
list of events and their fields. Custom refusals raise ``PydanticCustomError`` with a message
that names the rule and echoes (a bounded rendering of) the refused value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timezone
from decimal import Decimal
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from slamon.models.catalog import normalize_category, normalize_service

SCHEMA_VERSION: Final = 1
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_TEXT = 64  # names: accounts, cities, category and service labels
MAX_REASON = 500
MAX_SERVICES = 16
MAX_ITEM_PRICE = Decimal("99999999.99")
# Instants outside this range are producer bugs, and near year 1 or 9999 converting an offset
# to UTC overflows, which would crash whoever compares the instant later.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

_CENT = Decimal("0.01")
_PRICE_TEXT = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,20})?")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_EXAMPLE_INSTANT = "2026-11-26T10:00:00+08:00"


def show(value: object, limit: int = 40) -> str:
    """A short, printable rendering of a refused value (hostile payloads can be huge)."""
    try:
        text = repr(value)
    except ValueError:  # an integer beyond the interpreter's 4,300-digit str() limit
        return "<a number too long to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes | bytearray):
        return "bytes"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence | set | frozenset):
        return "array"
    return type(value).__name__


# --- field types -----------------------------------------------------------------------------


def _instant(value: object, handler: ValidatorFunctionWrapHandler) -> datetime:
    """An ISO 8601 date-time with an offset; epoch numbers and naive times are refused."""
    if isinstance(value, str):
        if not _ISO_DATETIME.match(value):
            raise PydanticCustomError(
                "instant_format",
                "must be an ISO 8601 date-time with a UTC offset, such as {example}, got {got}",
                {"example": _EXAMPLE_INSTANT, "got": show(value)},
            )
    elif not isinstance(value, datetime):
        # pydantic would read a number as Unix seconds: a silent guess about the producer.
        raise PydanticCustomError(
            "instant_type",
            "must be an ISO 8601 date-time string with a UTC offset, such as {example}, got {got}",
            {"example": _EXAMPLE_INSTANT, "got": json_type(value)},
        )
    result: datetime = handler(value)
    offset = result.utcoffset()
    if offset is None:
        raise PydanticCustomError(
            "naive_datetime", "must carry a UTC offset, got {got}", {"got": show(value)}
        )
    if not EARLIEST <= result < LATEST:
        raise PydanticCustomError(
            "instant_range", "must be in the years 2000-2099, got {got}", {"got": show(value)}
        )
    # Keep only the offset, which is all the wire carries: a Python caller's ZoneInfo time
    # then equals its own parsed wire form, even in a DST fold, where datetimes in two
    # different zones never compare equal (PEP 495).
    return result.replace(tzinfo=timezone(offset))


def _item_price(value: object) -> Decimal | None:
    """Yuan with at most two decimal places, from a decimal string or an integer."""
    if value is None:
        return None
    if isinstance(value, float):
        raise PydanticCustomError(
            "price_float",
            "must be a decimal string such as '1299.00', not a JSON number with a fraction "
            "(binary floats cannot hold cents exactly), got {got}",
            {"got": show(value)},
        )
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise PydanticCustomError(
            "price_type",
            "must be a decimal string such as '1299.00', got {got}",
            {"got": json_type(value)},
        )
    if isinstance(value, int):
        # Compare before converting: a 5,000-digit integer is a hostile payload, not a price.
        if not 0 <= value <= int(MAX_ITEM_PRICE):
            raise _price_range(value)
        return Decimal(value).quantize(_CENT)
    if isinstance(value, str):
        if not _PRICE_TEXT.fullmatch(value):
            raise PydanticCustomError(
                "price_format",
                "must be a plain decimal string such as '1299.00' (digits, optional point and "
                "cents; no sign, exponent or spaces), got {got}",
                {"got": show(value)},
            )
        value = Decimal(value)
    if not value.is_finite() or not 0 <= value <= MAX_ITEM_PRICE:
        raise _price_range(value)
    if value != value.quantize(_CENT):
        raise PydanticCustomError(
            "price_places", "must have at most 2 decimal places, got {got}", {"got": str(value)}
        )
    return value.quantize(_CENT).copy_abs()  # copy_abs: '-0' is stored as '0.00'


def _price_range(value: int | Decimal) -> PydanticCustomError:
    got = show(value) if isinstance(value, int) else show(str(value)).strip("'")
    return PydanticCustomError(
        "price_range",
        "must be between 0 and {max} yuan, got {got}",
        {"max": str(MAX_ITEM_PRICE), "got": got},
    )


def _schema_version(value: object) -> int:
    if type(value) is int and value == SCHEMA_VERSION:
        return value
    raise PydanticCustomError(
        "schema_version",
        "unsupported schema version {got}; this service reads version {supported}",
        {"got": show(value), "supported": SCHEMA_VERSION},
    )


def _unique(services: tuple[str, ...]) -> tuple[str, ...]:
    """Drop repeats (a label and its slug name the same service), keeping the sender's order."""
    return tuple(dict.fromkeys(services))


Id = Annotated[str, Strict(), StringConstraints(pattern=ID_PATTERN)]
Text = Annotated[
    str,
    Strict(),
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_TEXT, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
Category = Annotated[Text, AfterValidator(normalize_category)]
Service = Annotated[Text, AfterValidator(normalize_service)]
Services = Annotated[
    tuple[Service, ...],
    Field(min_length=1, max_length=MAX_SERVICES),
    AfterValidator(_unique),
]
# Newlines and tabs are fine in a free-text reason; other control characters are not.
Reason = Annotated[
    str,
    Strict(),
    StringConstraints(max_length=MAX_REASON, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$"),
]
Instant = Annotated[
    datetime,
    WrapValidator(_instant),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*([Zz]|[+-]\d{2}:?\d{2})$",
            "description": f"ISO 8601 with a UTC offset, e.g. {_EXAMPLE_INSTANT}",
        }
    ),
]
ItemPrice = Annotated[
    Decimal,
    BeforeValidator(_item_price),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^[0-9]{1,8}(\.[0-9]{1,2})?$"},
                {"type": "integer", "minimum": 0, "maximum": int(MAX_ITEM_PRICE)},
            ],
            "description": 'yuan as a decimal string, e.g. "1299.00" (never a float)',
        }
    ),
]
SchemaVersion = Annotated[Literal[1], BeforeValidator(_schema_version)]
