"""``slamon send`` through a real Redis: every line gets a status, valid events are queued in
batches, and a large file shows a progress bar on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from slamon.commands.send import CHUNK, command
from slamon.embedded_redis import free_port
from slamon.settings import get_settings
from tests.support.histories import opened_event
from tests.support.queue import drain_ingest_bodies

pytestmark = pytest.mark.redis
AT = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLAMON_REDIS_URL", redis_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_a_large_file_gets_a_status_per_line_and_travels_in_batches(
    runner: CliRunner, redis_url: str, tmp_path: Path
) -> None:
    lines, bad = [], {}
    for n in range(1, 5001):
        if n % 997 == 0:  # five broken lines, each a different way
            bad[n] = ["{not json", "[1, 2]", '{"event_id": "x"}', '"text"', "7"][len(bad)]
            lines.append(bad[n])
        else:
            lines.append(json.dumps(opened_event(f"H{n}", f"e{n}", AT), ensure_ascii=False))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = runner.invoke(command, [str(path), "--progress"])

    assert result.exit_code == 1  # some lines were rejected
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 5000
    rejected = {r["line"]: r for r in records if r["status"] == "rejected"}
    assert set(rejected) == set(bad)
    assert all(r["error"] for r in rejected.values())
    assert rejected[bad_line(bad, '{"event_id": "x"}')]["event_id"] == "x"
    queued = [r["event_id"] for r in records if r["status"] == "queued"]
    assert queued == [f"e{n}" for n in range(1, 5001) if n not in bad]

    bodies = drain_ingest_bodies(redis_url)
    assert len(bodies) == -(-len(queued) // CHUNK)
    assert [e["event_id"] for body in bodies for e in json.loads(body)] == queued
    assert "5000/5000" in result.stderr  # tqdm's bar, with the file's line count as total


def bad_line(bad: dict[int, str], text: str) -> int:
    return next(n for n, line in bad.items() if line == text)


def test_stdin_without_a_terminal_has_no_bar_and_skips_blank_lines(
    runner: CliRunner, redis_url: str
) -> None:
    one, two = (json.dumps(opened_event(f"H{n}", f"e{n}", AT)) for n in (1, 2))
    text = "\n".join(["", one, "  ", two])
    result = runner.invoke(command, ["-"], input=text)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["event_id"] for line in result.stdout.splitlines()] == ["e1", "e2"]
    assert result.stderr == ""
    assert len(drain_ingest_bodies(redis_url)) == 1


def test_an_event_from_the_future_is_rejected_on_its_line_with_the_services_message(
    runner: CliRunner, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLAMON_MAX_CLOCK_SKEW_SECONDS", "60")
    get_settings.cache_clear()
    ahead = datetime.now(UTC) + timedelta(minutes=10)
    lines = [json.dumps(opened_event("H1", "e1", AT)), json.dumps(opened_event("H2", "e2", ahead))]
    result = runner.invoke(command, ["-"], input="\n".join(lines))
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {"event_id": "e1", "status": "queued"}
    assert (second["event_id"], second["line"], second["status"]) == ("e2", 2, "rejected")
    assert second["error"].startswith(f"occurred_at: {ahead.isoformat()} is in the future: ")
    assert "more than 60 s after" in second["error"]
    [body] = drain_ingest_bodies(redis_url)
    assert [e["event_id"] for e in json.loads(body)] == ["e1"]


def test_a_broker_that_is_down_ends_the_command_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path))
    monkeypatch.setenv("SLAMON_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(command, ["-"], input=json.dumps(opened_event("H1", "e1", AT)))
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "slamon: could not queue events to redis://127.0.0.1:" in result.stderr
