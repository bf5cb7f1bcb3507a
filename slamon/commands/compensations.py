"""``slamon compensations``: penalties owed and paid, as JSON; ``retry`` a failed one."""

from __future__ import annotations

import click

from slamon.commands.common import echo_json, fail, settings_or_exit
from slamon.commands.database import session_or_exit, zone_or_exit
from slamon.models.db.ops import DEFAULT_LIMIT, MAX_LIMIT
from slamon.models.states import CompensationStatus, values


@click.group(name="compensations", invoke_without_command=True)
@click.option("--status", type=click.Choice(values(CompensationStatus)),
              help="pending: not paid yet; issued: paid; failed: refused by the points "
              "service; cancelled / review: the breach was contested.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=DEFAULT_LIMIT,
              show_default=True, help="At most this many compensations.")
@click.option("--tz", default="Asia/Shanghai", show_default=True,
              help="Zone the instants are printed in.")
@click.pass_context
def command(ctx: click.Context, status: str | None, limit: int, tz: str) -> None:
    """Print compensations (points, account, status, attempts, last error) as a JSON list,
    newest first. `slamon compensations retry ID` sends a failed one again."""
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
@click.option("--tz", default="Asia/Shanghai", show_default=True,
              help="Zone the instants are printed in.")
def retry(compensation_id: int, tz: str) -> None:
    """Put failed compensation COMPENSATION_ID back to pending; the running scheduler
    dispatches it within a second. Same idempotency key: never paid twice. Exits 1 if it
    does not exist or is not failed."""
    from datetime import UTC, datetime

    from slamon.worker.compensation_actions import (
        CompensationNotFoundError,
        CompensationNotRetryableError,
        retry_compensation,
    )

    settings = settings_or_exit()
    zone = zone_or_exit(tz)
    try:
        with session_or_exit(settings, write=True) as session:
            view = retry_compensation(session, compensation_id, datetime.now(UTC), zone)
    except (CompensationNotFoundError, CompensationNotRetryableError) as exc:
        fail(str(exc))
    echo_json(view)
