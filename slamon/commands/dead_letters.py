"""``slamon dead-letters``: list, show and replay what could not be ingested."""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING

import click

from slamon.commands.common import echo_json, fail, settings_or_exit
from slamon.commands.database import database_or_exit, session_or_exit
from slamon.models.instants import DISPLAY_ZONE

if TYPE_CHECKING:
    pass

ERROR_WIDTH = 90


@click.group(name="dead-letters")
def command() -> None:
    """Messages and events that could not be ingested, kept with the raw text and the reason.

    Fix the producer (or the payload) and replay them: `slamon dead-letters replay --all`.
    """


@command.command(name="list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--all", "include_replayed", is_flag=True, help="Include letters already replayed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (texts cut at 2,000 chars).")
def list_command(limit: int, include_replayed: bool, as_json: bool) -> None:
    """The newest dead letters first, not yet replayed ones only unless --all."""
    from slamon.worker.dead_letters import list_dead_letters

    with session_or_exit(settings_or_exit()) as session:
        letters = list_dead_letters(session, limit, include_replayed, DISPLAY_ZONE)
    if as_json:
        echo_json(letters)
        return
    if not letters:
        click.echo("no dead letters" if include_replayed else "no dead letters to replay")
        return
    click.echo(f"{'ID':>6}  {'RECEIVED':<25}  {'SOURCE':<6}  {'EVENT_ID':<20}  ERROR")
    for letter in letters:
        error = " ".join(letter["error"].split())
        if len(error) > ERROR_WIDTH:
            error = error[: ERROR_WIDTH - 1] + "…"
        replayed = " (replayed)" if letter["replayed_at"] else ""
        click.echo(
            f"{letter['id']:>6}  {letter['received_at']:<25}  {letter['source']:<6}  "
            f"{(letter['event_id'] or '-'):<20}  {error}{replayed}"
        )


@command.command(name="show")
@click.argument("letter_id", type=int)
def show_command(letter_id: int) -> None:
    """Print one dead letter as JSON, with its raw text in full."""
    from slamon.worker.dead_letters import DeadLetterNotFoundError, get_dead_letter

    with session_or_exit(settings_or_exit()) as session:
        try:
            letter = get_dead_letter(session, letter_id, DISPLAY_ZONE)
        except DeadLetterNotFoundError as exc:
            fail(str(exc))
    echo_json(letter)


@command.command(name="replay")
@click.argument("letter_id", type=int, required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every letter not replayed yet.")
@click.option(
    "--payload",
    type=click.File("r", encoding="utf-8"),
    help="A corrected JSON event (or list) to replay instead of the letter's text; - for "
    "stdin. The raw text is kept as received.",
)
def replay_command(letter_id: int | None, replay_all: bool, payload: IO[str] | None) -> None:
    """Re-validate and ingest dead letter LETTER_ID (or --all), as the queue would.

    Prints one JSON line per letter: {"id", "status": "replayed", "events": [...]} or
    {"id", "status": "invalid", "error"}; exits 1 if any letter is still invalid.
    """
    if replay_all == (letter_id is not None):
        fail("give a dead letter ID or --all (not both)", code=2)
    if payload is not None and replay_all:
        fail("--payload corrects one letter: give its ID, not --all", code=2)
    from slamon.bootstrap import build_runtime
    from slamon.worker.dead_letters import (
        DeadLetterNotFoundError,
        ReplayResult,
        replay,
        replay_pending,
    )

    runtime = build_runtime(settings_or_exit())
    invalid = 0

    def report(result: ReplayResult) -> None:
        nonlocal invalid
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        if not result.replayed:
            invalid += 1
            click.echo(
                f"slamon: dead letter #{result.letter_id} is still invalid: {result.error}",
                err=True,
            )

    with database_or_exit(settings_or_exit()):
        if replay_all:
            results = replay_pending(runtime, on_result=report)
            click.echo(f"replayed {len(results) - invalid} of {len(results)}", err=True)
        else:
            assert letter_id is not None
            try:
                report(replay(runtime, letter_id, payload.read() if payload else None))
            except DeadLetterNotFoundError as exc:
                fail(str(exc))
    raise SystemExit(1 if invalid else 0)
