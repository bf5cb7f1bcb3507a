"""``slamon guard``: the payout guard (tripped or not, what it holds); ``reset`` re-arms it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import click

from slamon.commands.common import echo_json, fail, settings_or_exit
from slamon.commands.compensations import BY, NOTE, TZ, _actor
from slamon.commands.database import session_or_exit, zone_or_exit


@click.group(name="guard", invoke_without_command=True)
@TZ
@click.pass_context
def command(ctx: click.Context, tz: str) -> None:
    """Print the payout guard as JSON: whether it tripped (when, which limit, why), the
    compensations it holds, the points it let through in the last hour, and the limits
    (SLAMON_PAYOUT_MAX_*). Release or cancel what it holds with `slamon compensations
    release|cancel`; `slamon guard reset` lets automatic payment resume."""
    if ctx.invoked_subcommand is not None:
        return
    from slamon.models.db.ops import payout_guard_view

    settings = settings_or_exit()
    zone = zone_or_exit(tz)
    with session_or_exit(settings) as session:
        view = payout_guard_view(session, datetime.now(UTC), zone)
    echo_json({**view, "limits": asdict(settings.payout_limits)})


@command.command(name="reset")
@NOTE
@BY
def reset(note: str | None, by: str | None) -> None:
    """Re-arm the tripped guard: new compensations are decided by the limits again (those it
    holds stay held until released or cancelled). Exits 1 if it is not tripped."""
    from slamon.worker.compensation_actions import GuardNotTrippedError, reset_guard

    settings = settings_or_exit()
    try:
        with session_or_exit(settings, write=True) as session:
            view = reset_guard(session, _actor(by), datetime.now(UTC), note)
    except GuardNotTrippedError as exc:
        fail(str(exc))
    echo_json(view)
