"""Help-request events on the wire: one JSON schema, validated once, at the edge.

Producers are other teams' systems, so everything they send is checked here before it can
touch a case: unknown fields are refused (a typo must not silently drop a fact), identifiers
are bounded and use a safe alphabet (they become database keys and log lines), free text is
bounded and free of control characters (Postgres cannot store NUL), ``occurred_at`` must
carry an offset (deadlines are judged by event time; a naive time would be off by the
producer's zone), and money is a decimal string (a JSON float cannot hold cents exactly).
Categories and services arrive as Chinese labels or slugs and are stored as slugs.

Every refusal raises :class:`EventError`, whose ``errors`` name the field and the reason, so
the HTTP intake can return them as a 422 body and the worker can dead-letter them verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from slamon.models.event_fields import (
    ID_PATTERN,
    SCHEMA_VERSION,
    Category,
    Id,
    Instant,
    ItemPrice,
    Reason,
    SchemaVersion,
    Services,
    Text,
    json_type,
    show,
)

EVENT_TYPES = (
    "help.opened",
    "help.assigned",
    "help.responded",
    "help.resolved",
    "help.cancelled",
    "help.reopened",
)

# How far ahead of the receiver's clock an event's ``occurred_at`` may be: producers' clocks
# drift a little, but an event from further ahead would be judged by a time not come yet.
# The default of SLAMON_MAX_CLOCK_SKEW_SECONDS and of the producer SDK.
MAX_CLOCK_SKEW = timedelta(minutes=5)

# --- the events ------------------------------------------------------------------------------


def _type_is_required(schema: dict[str, Any]) -> None:
    # ``type`` has a default so Python callers need not repeat it, but on the wire it is the
    # discriminator and must be sent: say so in the schema producers read.
    required = schema.setdefault("required", [])
    if "type" not in required:
        required.insert(0, "type")


class _Event(BaseModel):
    """What every event carries."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_type_is_required)

    event_id: Id = Field(description="unique per event; a repeat is a duplicate")
    case_id: Id = Field(description="the help request (求助单) this event belongs to")
    occurred_at: Instant = Field(description="when it happened (event time), with its offset")
    schema_version: SchemaVersion = SCHEMA_VERSION


class HelpOpened(_Event):
    """求助发起: a consumer pressed 一键求助; the case facts decide eligibility and deadlines."""

    type: Literal["help.opened"] = "help.opened"
    order_id: Id
    buyer_account: Text = Field(description="the Taobao account that receives the points")
    merchant_id: Id
    provider_id: Id | None = None
    city: Text | None = None
    category: Category = Field(description="slug or Chinese label, e.g. 家装家具")
    services: Services = Field(description='slugs or Chinese labels, e.g. ["送货入户并安装"]')
    item_price: ItemPrice | None = None


class HelpAssigned(_Event):
    """指派: the case was (re-)assigned; the clocks keep running."""

    type: Literal["help.assigned"] = "help.assigned"
    provider_id: Id
    merchant_id: Id | None = None


class HelpResponded(_Event):
    """方案给出: a solution was given (evidence for the response deadline)."""

    type: Literal["help.responded"] = "help.responded"


class HelpResolved(_Event):
    """核销 / 完结: the problem was solved (evidence for the resolution deadline)."""

    type: Literal["help.resolved"] = "help.resolved"


class HelpCancelled(_Event):
    """The consumer withdrew the help request."""

    type: Literal["help.cancelled"] = "help.cancelled"
    reason: Reason | None = None


class HelpReopened(_Event):
    """The consumer rejected the resolution."""

    type: Literal["help.reopened"] = "help.reopened"
    reason: Reason | None = None


HelpEvent = Annotated[
    HelpOpened | HelpAssigned | HelpResponded | HelpResolved | HelpCancelled | HelpReopened,
    Field(discriminator="type"),
]

_ONE: TypeAdapter[HelpEvent] = TypeAdapter(HelpEvent)
_BATCH: TypeAdapter[list[HelpEvent]] = TypeAdapter(Annotated[list[HelpEvent], Field(min_length=1)])


# --- the public API --------------------------------------------------------------------------


class FieldError(TypedDict):
    loc: str  # "occurred_at", "services[1]"; "" for the message as a whole
    msg: str
    index: NotRequired[int]  # position in a batch


class EventError(ValueError):
    """An event (or batch) was refused; ``errors`` says which field and why."""

    MAX_SHOWN = 5  # str() stays one readable line, however many fields are wrong

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        parts = [_describe(error) for error in errors[: self.MAX_SHOWN]]
        if len(errors) > self.MAX_SHOWN:
            parts.append(f"and {len(errors) - self.MAX_SHOWN} more")
        super().__init__("; ".join(parts))


def parse_event(data: bytes | str | Mapping[str, Any]) -> HelpEvent:
    """One event from JSON text or a mapping; raises :class:`EventError` when refused."""
    try:
        if isinstance(data, bytes | str):
            if _looks_like_array(data):
                raise _whole(
                    "expected one event (a JSON object), got an array; use parse_events for a batch"
                )
            return _ONE.validate_json(data)
        if isinstance(data, Mapping):
            return _ONE.validate_python(data)
    except ValidationError as exc:
        raise EventError(_field_errors(exc, batch=False)) from None
    raise _whole(f"expected JSON text or a mapping, got {type(data).__name__}")


def parse_events(data: bytes | str | Mapping[str, Any] | Sequence[Any]) -> list[HelpEvent]:
    """One event or a batch (a JSON array, all or nothing); raises :class:`EventError`.

    A batch is refused as a whole when any of its events is invalid; each error carries the
    event's ``index``. A caller that wants to keep the valid ones parses the items one by one.
    """
    if isinstance(data, Mapping) or (isinstance(data, bytes | str) and not _looks_like_array(data)):
        return [parse_event(data)]
    try:
        if isinstance(data, bytes | str):
            return _BATCH.validate_json(data)
        if isinstance(data, Sequence):
            return _BATCH.validate_python(list(data))
    except ValidationError as exc:
        raise EventError(_field_errors(exc, batch=True)) from None
    raise _whole(f"expected JSON text, a mapping or a list, got {type(data).__name__}")


def check_not_future(event: HelpEvent, now: datetime, max_clock_skew: timedelta) -> HelpEvent:
    """``event``, or :class:`EventError` on ``occurred_at`` if it occurred more than
    ``max_clock_skew`` after ``now``. The intake (HTTP, SDK, CLI) refuses such an event and
    ingest dead-letters it, all with this message."""
    if event.occurred_at <= now + max_clock_skew:
        return event
    raise EventError(
        [
            {
                "loc": "occurred_at",
                "msg": f"{event.occurred_at.isoformat()} is in the future: more than "
                f"{max_clock_skew.total_seconds():g} s after {now.isoformat()}",
            }
        ]
    )


def event_to_json(event: HelpEvent) -> dict[str, Any]:
    """The wire form: ISO instants with their offset, the price as a string, no nulls."""
    return event.model_dump(mode="json", exclude_none=True)


def event_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one event, for producers in other languages."""
    schema = _ONE.json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "slamon help event",
        "description": (
            f"One help-request event (schema_version {SCHEMA_VERSION}). A batch is a JSON "
            "array of these. Unknown fields are refused."
        ),
        **schema,
    }


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


# --- error reporting -------------------------------------------------------------------------


def _looks_like_array(text: bytes | str) -> bool:
    if isinstance(text, bytes):
        return text.lstrip()[:1] == b"["
    return text.lstrip()[:1] == "["


def _whole(msg: str) -> EventError:
    return EventError([{"loc": "", "msg": msg}])


def _describe(error: FieldError) -> str:
    where = f"event {error['index']}: " if "index" in error else ""
    return f"{where}{error['loc']}: {error['msg']}" if error["loc"] else f"{where}{error['msg']}"


def _field_errors(exc: ValidationError, batch: bool) -> list[FieldError]:
    result: list[FieldError] = []
    raws = exc.errors(include_url=False)
    for raw in raws:
        if raw["type"] == "too_short" and _has_item_errors(raw["loc"], raws):
            continue  # "services: too short" only repeats that its items were refused
        loc = list(raw["loc"])
        index = loc.pop(0) if batch and loc and isinstance(loc[0], int) else None
        if loc and loc[0] in EVENT_TYPES:  # the union's tag, not a field
            loc.pop(0)
        where, msg = _explain(raw["type"], _format_loc(loc), raw)
        error: FieldError = {"loc": where, "msg": msg}
        if index is not None:
            error["index"] = int(index)
        result.append(error)
    return result


def _has_item_errors(loc: tuple[int | str, ...], raws: Sequence[Mapping[str, Any]]) -> bool:
    return any(len(r["loc"]) > len(loc) and r["loc"][: len(loc)] == loc for r in raws)


def _format_loc(loc: list[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        # An unknown field's name is the producer's text: quote anything unusual, so a
        # newline or a megabyte of key cannot break the one-line message.
        name = part if _PLAIN_NAME.fullmatch(part) else show(part)
        text += f".{name}" if text else name
    return text


def _explain(kind: str, loc: str, raw: Mapping[str, Any]) -> tuple[str, str]:
    """Say what a producer must change, in the field's terms rather than pydantic's."""
    value, ctx = raw.get("input"), raw.get("ctx") or {}
    expected = ", ".join(EVENT_TYPES)
    if kind == "union_tag_not_found":
        return "type", f"required: one of {expected}"
    if kind == "union_tag_invalid":
        return "type", f"unknown event type {show(ctx.get('tag'))}; expected one of {expected}"
    if kind in ("model_attributes_type", "model_type", "dict_type") and not loc:
        return loc, f"an event must be a JSON object, got {json_type(value)}"
    if kind == "json_invalid":
        return loc, f"not valid JSON: {ctx.get('error', raw['msg'])}"
    if kind == "missing":
        return loc, "required"
    if kind == "extra_forbidden":
        return loc, "unknown field"
    if kind == "string_type":
        return loc, f"must be a string, got {json_type(value)}"
    if kind == "string_too_short":
        return loc, "must not be empty"
    if kind == "string_too_long":
        return loc, f"must be at most {ctx.get('max_length')} characters, got {len(str(value))}"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == ID_PATTERN:
            return loc, f"must be 1-64 characters of A-Z a-z 0-9 . _ : - , got {show(value)}"
        return loc, f"must not contain control characters, got {show(value)}"
    if kind in ("tuple_type", "list_type"):
        return loc, f"must be a JSON array, got {json_type(value)}"
    if kind == "too_short":
        if not loc:
            return loc, "a batch must hold at least one event"
        return loc, f"must not be empty (at least {ctx.get('min_length')} item)"
    if kind == "too_long":
        return loc, f"must hold at most {ctx.get('max_length')} items"
    message = str(raw["msg"]).replace("Input should be", "must be").replace("Value error, ", "")
    return loc, message
