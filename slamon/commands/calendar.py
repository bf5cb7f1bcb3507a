"""`slamon calendar`: business-time arithmetic on a stream of JSON lines (stdin -> stdout)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import click
from pydantic import ValidationError

from slamon.commands.common import parse_instant
from slamon.models.calendar.engine import BusinessCalendar, CalendarError

FIELDS = {
    "add": frozenset({"op", "calendar", "start", "seconds"}),
    "elapsed": frozenset({"op", "calendar", "start", "end"}),
}
_MICROSECOND = timedelta(microseconds=1)
# Distinct calendars kept parsed at once; a stream normally uses a handful.
_MAX_CACHED_CALENDARS = 1024


class LineError(ValueError):
    """A request line that cannot be answered; its message is the reply."""


def run_calendar_stream(lines: Iterable[str]) -> Iterator[str]:
    """Answer each request line with one JSON line, in order; a bad line gets an error line.

    Calendars are parsed once per distinct spec (keyed by its canonical JSON), so a stream of
    requests against one policy calendar costs a dict lookup per line, not a validation.
    """
    calendars: dict[str, BusinessCalendar] = {}
    for line in lines:
        try:
            yield '{"result": ' + _answer(line, calendars) + "}"
        except LineError as exc:
            yield json.dumps({"error": str(exc)}, ensure_ascii=False)
        except CalendarError as exc:
            yield json.dumps({"error": f"calendar: {exc}"}, ensure_ascii=False)


def _answer(line: str, calendars: dict[str, BusinessCalendar]) -> str:
    """The JSON text of the result of one request line."""
    request = _request(line)
    calendar = _calendar(request["calendar"], calendars)
    start = _instant(request, "start")
    if request["op"] == "add":
        return json.dumps(calendar.add(start, _duration(request["seconds"])).isoformat())
    open_time = calendar.elapsed(start, _instant(request, "end")) // _MICROSECOND
    # Written by hand: a float would not keep every microsecond of a large count.
    seconds, micro = divmod(open_time, 1_000_000)
    return str(seconds) if not micro else f"{seconds}.{micro:06d}".rstrip("0")


def _request(line: str) -> dict[str, Any]:
    if not line.strip():
        raise LineError("empty line; expected a JSON request")
    try:
        request = json.loads(line, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise LineError(f"not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise LineError('a request is a JSON object with an op, e.g. {"op": "add", ...}')
    op = request.get("op")
    if op not in FIELDS:
        raise LineError(f'op must be "add" or "elapsed", not {json.dumps(op, default=str)}')
    missing = sorted(FIELDS[op] - request.keys())
    unknown = sorted(request.keys() - FIELDS[op])
    if missing:
        raise LineError(f"{op} needs {', '.join(missing)}")
    if unknown:
        raise LineError(f"unknown field for {op}: {', '.join(unknown)}")
    return request


def _calendar(spec: Any, calendars: dict[str, BusinessCalendar]) -> BusinessCalendar:
    if not isinstance(spec, dict):
        raise LineError('calendar must be a JSON object, e.g. {"tz": "Asia/Shanghai", ...}')
    key = json.dumps(spec, sort_keys=True, default=str)
    calendar = calendars.get(key)
    if calendar is None:
        try:
            calendar = BusinessCalendar.from_spec(spec)
        except ValidationError as exc:
            raise LineError(_spec_errors(exc)) from None
        if len(calendars) >= _MAX_CACHED_CALENDARS:
            calendars.clear()
        calendars[key] = calendar
    return calendar


def _spec_errors(exc: ValidationError) -> str:
    """All errors of a calendar spec on one line, each with its path, e.g. calendar.tz: ..."""
    parts = []
    for error in exc.errors():
        path = ".".join(["calendar", *(str(part) for part in error["loc"])])
        parts.append(f"{path}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _instant(request: dict[str, Any], field: str) -> datetime:
    text = request[field]
    if not isinstance(text, str):
        raise LineError(f"{field} must be an ISO-8601 string, e.g. 2026-11-26T17:30:00+08:00")
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise LineError(f"{field}: {exc}") from None


def _duration(seconds: Any) -> timedelta:
    # Decimal (from parse_float) keeps fractional seconds exact; floats never enter.
    if isinstance(seconds, bool) or not isinstance(seconds, int | Decimal):
        raise LineError(f"seconds must be a number, not {json.dumps(seconds, default=str)}")
    if not Decimal(seconds).is_finite() or seconds < 0:
        raise LineError(f"seconds must be zero or more, not {seconds}")
    micro = Decimal(seconds) * 1_000_000
    if micro != micro.to_integral_value():
        raise LineError(f"seconds: {seconds} is finer than a microsecond")
    try:
        return timedelta(microseconds=int(micro))
    except OverflowError:
        raise LineError(f"seconds: {seconds} is too large") from None


@click.command("calendar")
def command() -> None:
    """Business-time arithmetic on JSON lines: one request per stdin line, one reply per line.

    \b
    Requests:
      {"op": "add", "calendar": SPEC, "start": ISO, "seconds": N}
      {"op": "elapsed", "calendar": SPEC, "start": ISO, "end": ISO}
    Replies:
      {"result": "2026-11-27T09:30:00+08:00"}   the deadline, in the calendar's zone
      {"result": 3600}                          open seconds in [start, end)
      {"error": "..."}                          the line was not answered, and why

    \b
    SPEC is a calendar as in the policy files, e.g.
      {"tz": "Asia/Shanghai", "weekly": {"mon": [["09:00", "18:00"]], ...},
       "holidays": ["2026-10-01"], "workdays": ["2026-09-28"],
       "workday_hours": [["09:00", "18:00"]]}
    or {"tz": "UTC", "mode": "wallclock"}. ISO instants need a UTC offset; seconds may be
    fractional (to the microsecond). Replies are flushed line by line; the exit status is 0
    even when some lines are errors.
    """
    try:
        for reply in run_calendar_stream(sys.stdin):
            sys.stdout.write(reply + "\n")
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (e.g. `| head`): stop quietly, as other Unix filters do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
