"""Dead letters on SQLite and Postgres: listed, shown, replayed through the ingest path, and
corrected by an operator without losing what was received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from slamon.commands.dead_letters import command
from slamon.models.db.engine import transaction
from slamon.models.db.tables import Case, DeadLetter, InboxEvent
from slamon.settings import get_settings
from slamon.worker.dead_letters import (
    DeadLetterNotFoundError,
    get_dead_letter,
    list_dead_letters,
    replay,
    replay_pending,
)
from slamon.worker.ingest import ingest_raw
from slamon.worker.runtime import Runtime
from tests.support.histories import opened_event
from tests.support.runtime import Clock, runtime_for

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return runtime_for(engine.url.render_as_string(hide_password=False), Clock(NOW))


def opened(case_id: str, at: datetime = NOW - timedelta(hours=1), **changes: Any) -> str:
    body = opened_event(case_id, f"{case_id}-0", at)
    body.update(changes)
    return json.dumps(body, ensure_ascii=False)


def letter(engine: Engine, letter_id: int) -> DeadLetter:
    with transaction(engine) as s:
        row = s.get(DeadLetter, letter_id)
        assert row is not None
        return row


def case_exists(engine: Engine, case_id: str) -> bool:
    with transaction(engine) as s:
        return s.get(Case, case_id) is not None


def dead_lettered(runtime: Runtime, raw: str) -> int:
    [outcome] = ingest_raw(runtime, raw)
    assert outcome.outcome == "dead_lettered" and outcome.dead_letter_id is not None
    return outcome.dead_letter_id


def test_a_still_invalid_letter_stays_with_its_error_updated(
    runtime: Runtime, engine: Engine
) -> None:
    letter_id = dead_lettered(runtime, opened("H1", category="toys", services="nope"))
    before = letter(engine, letter_id)
    assert "services" in before.error

    result = replay(runtime, letter_id)

    assert not result.replayed and result.error is not None and "services" in result.error
    after = letter(engine, letter_id)
    assert after.replayed_at is None and after.raw == before.raw
    assert not case_exists(engine, "H1")


def test_a_corrected_payload_is_applied_and_the_raw_text_is_kept(
    runtime: Runtime, engine: Engine
) -> None:
    broken = opened("H1")[:-5]  # truncated in transit
    letter_id = dead_lettered(runtime, broken)
    assert "not JSON" in letter(engine, letter_id).error

    result = replay(runtime, letter_id, correction=opened("H1"))

    assert result.replayed and [o.outcome for o in result.outcomes] == ["applied"]
    stored = letter(engine, letter_id)
    assert (stored.raw, stored.corrected_raw) == (broken, opened("H1"))
    assert stored.replayed_at == NOW
    assert case_exists(engine, "H1")
    # Replaying it again changes nothing: the inbox knows the event.
    again = replay(runtime, letter_id)
    assert [o.outcome for o in again.outcomes] == ["duplicate"]


def test_an_invalid_correction_is_kept_with_its_own_error(runtime: Runtime, engine: Engine) -> None:
    letter_id = dead_lettered(runtime, "{oops")
    result = replay(runtime, letter_id, correction=opened("H1", item_price=12.5))
    assert not result.replayed and "item_price" in (result.error or "")
    stored = letter(engine, letter_id)
    assert (stored.raw, stored.error) == ("{oops", result.error)
    assert stored.corrected_raw == opened("H1", item_price=12.5)


def test_an_event_from_the_future_is_applied_once_its_time_has_come(
    runtime: Runtime, engine: Engine
) -> None:
    letter_id = dead_lettered(runtime, opened("H1", at=NOW + timedelta(hours=1)))
    assert "in the future" in letter(engine, letter_id).error
    assert not replay(runtime, letter_id).replayed

    runtime.clock.now = NOW + timedelta(hours=2)  # type: ignore[attr-defined]
    assert replay(runtime, letter_id).replayed
    assert case_exists(engine, "H1")


def test_replay_pending_replays_every_letter_not_replayed_yet(
    runtime: Runtime, engine: Engine
) -> None:
    future = dead_lettered(runtime, opened("H1", at=NOW + timedelta(hours=1)))
    hopeless = dead_lettered(runtime, "[1]")
    # A batch: each invalid event is its own letter, the valid one is applied.
    batch = [json.loads(opened("H2")), {"event_id": "x", "type": "help.nope"}]
    outcomes = ingest_raw(runtime, json.dumps(batch))
    assert [o.outcome for o in outcomes] == ["applied", "dead_lettered"]
    runtime.clock.now = NOW + timedelta(hours=2)  # type: ignore[attr-defined]

    results = {r.letter_id: r.replayed for r in replay_pending(runtime)}

    assert results == {future: True, hopeless: False, outcomes[1].dead_letter_id: False}
    with transaction(engine) as s:
        pending = list_dead_letters(s)
        everything = list_dead_letters(s, include_replayed=True)
    assert [d["id"] for d in pending] == [
        i for i in sorted(results, reverse=True) if not results[i]
    ]
    assert [d["id"] for d in everything] == sorted(results, reverse=True)


def test_a_huge_letter_is_cut_in_the_listing_and_whole_when_shown(
    runtime: Runtime, engine: Engine
) -> None:
    letter_id = dead_lettered(runtime, "x" * 10_000)
    with transaction(engine) as s:
        [listed] = list_dead_letters(s)
        shown = get_dead_letter(s, letter_id)
        with pytest.raises(DeadLetterNotFoundError):
            get_dead_letter(s, letter_id + 1)
    assert listed["raw_chars"] == 10_000 and len(listed["raw"]) < 2100
    assert shown["raw"] == "x" * 10_000


def test_hostile_text_is_stored_as_escapes(runtime: Runtime, engine: Engine) -> None:
    # NUL (refused by Postgres text) and a lone surrogate (not UTF-8) in a non-JSON message.
    letter_id = dead_lettered(runtime, 'nul \x00 and \ud800 "')
    assert letter(engine, letter_id).raw == 'nul \\u0000 and \\ud800 "'


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, db_url: str, engine: Engine, tmp_path: Path
) -> Iterator[CliRunner]:
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLAMON_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_lists_shows_and_replays(cli: CliRunner, runtime: Runtime, engine: Engine) -> None:
    broken = dead_lettered(runtime, opened("H1").replace('"家装家具"', '"家装家具'))
    invalid = dead_lettered(runtime, opened("H2", services=[]))

    listing = cli.invoke(command, ["list"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert lines[0].split() == ["ID", "RECEIVED", "SOURCE", "EVENT_ID", "ERROR"]
    assert lines[1].split()[0] == str(invalid) and "H2-0" in lines[1]
    assert "not JSON" in lines[2]
    as_json = json.loads(cli.invoke(command, ["list", "--json", "--limit", "1"]).output)
    assert [d["id"] for d in as_json] == [invalid]
    shown = json.loads(cli.invoke(command, ["show", str(broken)]).output)
    assert shown["raw"] == opened("H1").replace('"家装家具"', '"家装家具')

    still = cli.invoke(command, ["replay", str(invalid)])
    assert still.exit_code == 1
    assert json.loads(still.stdout)["status"] == "invalid"
    assert f"dead letter #{invalid} is still invalid: services" in still.stderr

    fixed = cli.invoke(command, ["replay", str(broken), "--payload", "-"], input=opened("H1"))
    assert fixed.exit_code == 0, fixed.output
    result = json.loads(fixed.stdout)
    assert result["status"] == "replayed" and result["events"][0]["outcome"] == "applied"
    assert case_exists(engine, "H1")

    everything = cli.invoke(command, ["replay", "--all"])
    assert everything.exit_code == 1  # H2's letter is still invalid
    assert [json.loads(line)["id"] for line in everything.stdout.splitlines()] == [invalid]
    assert "replayed 0 of 1" in everything.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay"], "give a dead letter ID or --all"),
        (["replay", "1", "--all"], "give a dead letter ID or --all"),
        (["replay", "--all", "--payload", "-"], "--payload corrects one letter"),
        (["replay", "999"], "no dead letter #999"),
        (["show", "999"], "no dead letter #999"),
    ],
)
def test_cli_says_what_is_wrong(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(command, args, input="{}")
    assert result.exit_code in (1, 2)
    assert message in result.stderr


def test_cli_without_a_schema_says_to_migrate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path))
    monkeypatch.setenv("SLAMON_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(command, ["list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "slamon migrate" in result.stderr


def test_a_correction_with_one_bad_event_applies_none(runtime: Runtime, engine: Engine) -> None:
    outcomes = ingest_raw(runtime, json.dumps([json.loads(opened("H1")), 7]))
    assert [o.outcome for o in outcomes] == ["applied", "dead_lettered"]
    letter_id = outcomes[1].dead_letter_id
    assert letter_id is not None and letter(engine, letter_id).raw == "7"
    result = replay(runtime, letter_id, correction=json.dumps([json.loads(opened("H3")), 8]))
    assert not result.replayed and "event 1" in (result.error or "")
    assert not case_exists(engine, "H3")
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent)) == 1


def test_a_conflicting_copy_is_listed_and_replayed_once_given_its_own_id(
    cli: CliRunner, runtime: Runtime, engine: Engine
) -> None:
    ingest_raw(runtime, opened("H1"))
    copy = opened("H9", event_id="H1-0")  # the producer reused H1's event id for another case
    [conflict] = ingest_raw(runtime, copy)
    assert conflict.outcome == "conflict" and conflict.dead_letter_id is not None

    as_json = json.loads(cli.invoke(command, ["list", "--json"]).output)
    assert [(d["id"], d["event_id"]) for d in as_json] == [(conflict.dead_letter_id, "H1-0")]
    assert as_json[0]["error"].startswith("conflict: event_id H1-0 was first received at")
    with transaction(engine) as s:
        assert list_dead_letters(s)[0]["cause"] == "conflict"

    # Replayed as it is, it conflicts again; with its own event id it is the event it is.
    result = replay(runtime, conflict.dead_letter_id, correction=opened("H9"))
    assert [o.outcome for o in result.outcomes] == ["applied"]
    assert case_exists(engine, "H9")
