"""`slamon calendar`: one JSON reply per request line, errors in-line, exit status 0."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner

from slamon.commands import calendar as calendar_command
from slamon.commands.calendar import command, run_calendar_stream
from slamon.models.calendar.spec import WEEKDAYS

TMALL = {"tz": "Asia/Shanghai", "weekly": {day: [["09:00", "18:00"]] for day in WEEKDAYS}}
WALL = {"tz": "UTC", "mode": "wallclock"}


def add(start: str, seconds: Any, calendar: Any = TMALL, **extra: Any) -> str:
    return json.dumps(
        {"op": "add", "calendar": calendar, "start": start, "seconds": seconds} | extra
    )


def elapsed(start: str, end: str, calendar: Any = TMALL) -> str:
    return json.dumps({"op": "elapsed", "calendar": calendar, "start": start, "end": end})


def reply(line: str) -> dict[str, Any]:
    [answer] = list(run_calendar_stream([line]))
    parsed: dict[str, Any] = json.loads(answer)
    return parsed


@pytest.mark.parametrize(
    ("line", "result"),
    [
        (add("2026-11-26T17:30:00+08:00", 3600), "2026-11-27T09:30:00+08:00"),
        (add("2026-11-26T20:00:00+08:00", 3600), "2026-11-27T10:00:00+08:00"),
        (add("2026-11-26T17:00:00+08:00", 3600), "2026-11-26T18:00:00+08:00"),
        (add("2026-11-26T09:30:00Z", 3600), "2026-11-27T09:30:00+08:00"),  # zone of calendar
        (add("2026-11-26T17:00:00+08:00", 0.5), "2026-11-26T17:00:00.500000+08:00"),
        (add("2026-11-26T17:00:00+08:00", 0.000001), "2026-11-26T17:00:00.000001+08:00"),
        (add("2026-11-26T17:00:00+08:00", 1.5e3), "2026-11-26T17:25:00+08:00"),
        (add("2026-03-07T12:00:00-05:00", 172800, WALL), "2026-03-09T17:00:00+00:00"),
        (elapsed("2026-11-26T17:30:00+08:00", "2026-11-27T09:30:00+08:00"), 3600),
        (elapsed("2026-11-26T17:30:00+08:00", "2026-11-26T17:30:00.25+08:00"), 0.25),
        (elapsed("2026-11-26T10:00:00+08:00", "2026-11-26T10:00:00.000001+08:00"), 0.000001),
        (elapsed("2026-11-27T00:00:00+08:00", "2026-11-26T00:00:00+08:00"), 0),
    ],
)
def test_results(line: str, result: Any) -> None:
    assert reply(line) == {"result": result}


def test_fractional_seconds_are_exact_however_long_the_span() -> None:
    # 1000 years and a microsecond: 18 significant digits, more than a float holds.
    line = elapsed("1001-01-01T00:00:00Z", "2001-01-01T00:00:00.000001Z", WALL)
    days = (date(2001, 1, 1) - date(1001, 1, 1)).days
    [answer] = run_calendar_stream([line])
    assert answer == f'{{"result": {days * 86_400}.000001}}'


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "not JSON"),
        ("", "empty line"),
        ("[1, 2]", "a request is a JSON object"),
        ('{"op": "multiply"}', 'op must be "add" or "elapsed"'),
        ('{"op": "add", "start": "2026-11-26T10:00:00+08:00"}', "add needs calendar, seconds"),
        (add("2026-11-26T10:00:00+08:00", 1, note="x"), "unknown field for add: note"),
        (add("2026-11-26T10:00:00+08:00", 1, calendar="Asia/Shanghai"), "calendar must be"),
        (add("2026-11-26T10:00:00", 1), "start: '2026-11-26T10:00:00' needs a UTC offset"),
        (add("26/11/2026", 1), "is not an ISO-8601 date-time"),
        (add("2026-11-26T10:00:00+08:00", -1), "seconds must be zero or more"),
        (add("2026-11-26T10:00:00+08:00", "60"), "seconds must be a number"),
        (add("2026-11-26T10:00:00+08:00", True), "seconds must be a number"),
        (add("2026-11-26T10:00:00+08:00", 0.0000001), "finer than a microsecond"),
        (add("2026-11-26T10:00:00+08:00", 1e20), "too large"),
        (add("2026-11-26T10:00:00+08:00", 1, {"tz": "Mars/Olympus"}), "calendar.tz: 'Mars/"),
        (
            add("2026-11-26T10:00:00+08:00", 1, {"tz": "UTC", "weekly": {"mon": [["9", "5"]]}}),
            "calendar.weekly.mon.0.0: '9' is not a time of day; expected \"HH:MM\"",
        ),
        (add("2026-11-26T10:00:00+08:00", 1, {"tz": "UTC"}), "calendar: the calendar is never"),
        (add("9999-12-31T10:00:00+00:00", 10**9, WALL), "outside the years 1-9999"),
    ],
)
def test_bad_lines_get_a_clear_error(line: str, error: str) -> None:
    answer = reply(line)
    assert list(answer) == ["error"]
    assert error in answer["error"]


def test_goes_on_after_bad_lines_one_reply_per_line() -> None:
    lines = [
        add("2026-11-26T17:30:00+08:00", 3600),
        "oops",
        elapsed("x", "y"),
        add("2026-11-26T20:00:00+08:00", 3600),
    ]
    answers = [json.loads(answer) for answer in run_calendar_stream(lines)]
    assert [next(iter(answer)) for answer in answers] == ["result", "error", "error", "result"]
    assert answers[3] == {"result": "2026-11-27T10:00:00+08:00"}


def test_a_calendar_is_parsed_once_per_distinct_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[Any] = []
    real = calendar_command.BusinessCalendar.from_spec

    def counting(spec: Any) -> Any:
        builds.append(spec)
        return real(spec)

    monkeypatch.setattr(calendar_command.BusinessCalendar, "from_spec", counting)
    reordered = dict(reversed(TMALL.items()))  # same spec, keys in another order
    lines = [
        add("2026-11-26T10:00:00+08:00", n, spec)
        for n in range(50)
        for spec in (TMALL, reordered, WALL)
    ]
    assert all("result" in json.loads(answer) for answer in run_calendar_stream(lines))
    assert len(builds) == 2


def test_command_streams_stdin_to_stdout_and_exits_zero() -> None:
    lines = [
        add("2026-11-26T17:30:00+08:00", 3600),
        "{",
        elapsed("2026-11-26T17:30:00+08:00", "2026-11-27T09:30:00+08:00"),
    ] * 1000
    result = CliRunner().invoke(command, input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    replies = [json.loads(line) for line in result.output.splitlines()]
    assert len(replies) == 3000
    assert replies[:3] == [
        {"result": "2026-11-27T09:30:00+08:00"},
        {"error": replies[1]["error"]},
        {"result": 3600},
    ]
    assert replies[1]["error"].startswith("not JSON")
    assert replies[-3:] == replies[:3]


def test_help_explains_requests_and_replies() -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    for words in ('"op": "add"', '"op": "elapsed"', '{"error": "..."}', "wallclock"):
        assert words in result.output
