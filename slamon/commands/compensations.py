"""``slamon compensations``: penalties owed and paid, as JSON; and what an operator does to them
(``retry``, ``release``, ``cancel``, ``resolve``), each recorded in the audit trail."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from slamon.commands.common import echo_json, fail, settings_or_exit
from slamon.commands.database import database_or_exit, session_or_exit, zone_or_exit
from slamon.models.audit import Resolution
from slamon.models.db.ops import DEFAULT_LIMIT, MAX_LIMIT
from slamon.models.states import CompensationStatus, values

TZ = click.option("--tz", default="Asia/Shanghai", show_default=True,
                  help="Zone the instants are printed in.")
NOTE = click.option("--note", default=None, help="Why (kept in the audit trail).")
BY = click.option("--by", default=None,
                  help="Who acts, for the audit trail (default: your login name).")


@click.group(name="compensations", invoke_without_command=True)
@click.option("--status", type=click.Choice(values(CompensationStatus)),
              help="pending: not paid yet; issued: paid; failed: refused by the points "
              "service; held: stopped by the payout guard for a person; cancelled / review: "
              "the breach was contested; paid_in_error: paid, and a review found it not owed.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=DEFAULT_LIMIT,
              show_default=True, help="At most this many compensations.")
@TZ
@click.pass_context
def command(ctx: click.Context, status: str | None, limit: int, tz: str) -> None:
    """Print compensations (points, account, status, attempts, last error, why held) as a
    JSON list, newest first. Subcommands act on them (operators only: each action is kept in
    the audit trail, `slamon audit`)."""
    if ctx.invoked_subcommand is not None:
        return
    from slamon.models.db.ops import compensations_view

    settings = settings_or_exit()
    zone = zone_or_exit(tz)
    with session_or_exit(settings) as session:
        rows = compensations_view(session, status=status, limit=limit, zone=zone)
    echo_json(rows)


@command.command(name="retry")
@click.argument("compensation_id", type=int)
@NOTE
@BY
@TZ
def retry(compensation_id: int, note: str | None, by: str | None, tz: str) -> None:
    """Put failed compensation COMPENSATION_ID back to pending; the running scheduler
    dispatches it within a second. Same idempotency key: never paid twice. Exits 1 if it
    does not exist or is not failed."""
    from slamon.worker.compensation_actions import retry_compensation

    def act(session: Any, now: datetime, actor: str, zone: Any) -> dict[str, Any]:
        return retry_compensation(session, compensation_id, now, zone, actor=actor, note=note)

    _one(act, by, tz)


@command.command(name="resolve")
@click.argument("compensation_id", type=int)
@click.option("--payment", "resolution", type=click.Choice(values(Resolution)), required=True,
              help="stands: the payment stands and the breach counts as settled; wrong: the "
              "payment was not owed (recorded as paid_in_error; the breach stays contested).")
@click.option("--note", required=True, help="Why (kept in the audit trail).")
@BY
@TZ
def resolve(compensation_id: int, resolution: str, note: str, by: str | None, tz: str) -> None:
    """End the review of COMPENSATION_ID (points paid, then its breach was contested)."""
    from slamon.worker.compensation_actions import resolve_review

    def act(session: Any, now: datetime, actor: str, zone: Any) -> dict[str, Any]:
        return resolve_review(session, compensation_id, Resolution(resolution), actor, now,
                              note, zone)

    _one(act, by, tz)


def _bulk_command(name: str, verb: str, doc: str) -> None:
    @command.command(name=name, help=doc)
    @click.argument("compensation_ids", type=int, nargs=-1)
    @click.option("--all-held", is_flag=True,
                  help="Every compensation held now (none held after the command starts).")
    @NOTE
    @BY
    def bulk(compensation_ids: tuple[int, ...], all_held: bool, note: str | None,
             by: str | None) -> None:
        from slamon.models.db.engine import create_db_engine
        from slamon.worker import compensation_actions as actions

        if bool(compensation_ids) == all_held:
            fail(f"give compensation ids to {name}, or --all-held", code=2)
        settings = settings_or_exit()
        actor, now = _actor(by), datetime.now(UTC)
        move: Callable[..., dict[str, Any]] = getattr(actions, f"{name}_compensation")

        def act(session: Any, compensation_id: int) -> dict[str, Any]:
            return move(session, compensation_id, actor, now, note)

        engine = create_db_engine(settings.database)
        try:
            with database_or_exit(settings):
                result = actions.act_in_bulk(
                    engine, None if all_held else list(compensation_ids), act)
        finally:
            engine.dispose()
        echo_json(result.as_json())
        if result.refused:
            fail(f"{len(result.refused)} not {verb} (see \"refused\")")


_bulk_command(
    "release", "released",
    "Pay held compensations (ids, or --all-held): a person decided, so the payout guard "
    "neither holds nor counts them; the scheduler dispatches them at once and each is paid "
    "once, with its original idempotency key. Prints {done, ids, refused}; exits 1 if any "
    "was refused (not held).",
)
_bulk_command(
    "cancel", "cancelled",
    "Cancel held (or failed) compensations (ids, or --all-held): not owed, never paid. "
    "Prints {done, ids, refused}; exits 1 if any was refused.",
)


def _one(act: Callable[[Any, datetime, str, Any], dict[str, Any]], by: str | None,
         tz: str) -> None:
    from slamon.worker.compensation_actions import (
        CompensationNotFoundError,
        CompensationStateError,
    )

    settings = settings_or_exit()
    zone = zone_or_exit(tz)
    try:
        with session_or_exit(settings, write=True) as session:
            view = act(session, datetime.now(UTC), _actor(by), zone)
    except (CompensationNotFoundError, CompensationStateError) as exc:
        fail(str(exc))
    echo_json(view)


def _actor(by: str | None) -> str:
    """The audit trail's "who" for the command line: ``cli:<name>``."""
    try:
        name = by or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        name = "unknown"
    return f"cli:{name}"[:64]
