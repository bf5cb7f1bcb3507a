"""``slamon breaches``: recorded breaches, newest first, as JSON."""

from __future__ import annotations

from datetime import datetime

import click

from slamon.commands.common import INSTANT, echo_json, settings_or_exit
from slamon.commands.database import session_or_exit, zone_or_exit
from slamon.models.db.ops import DEFAULT_LIMIT, MAX_LIMIT
from slamon.models.states import BreachStatus, values


@click.command(name="breaches")
@click.option("--since", type=INSTANT, metavar="ISO",
              help="Only breaches detected at or after this instant (ISO-8601 with offset, "
              "e.g. 2026-11-26T09:00:00+08:00).")
@click.option("--kind", metavar="K", help="Only this deadline kind (response, resolution).")
@click.option("--status", type=click.Choice(values(BreachStatus)),
              help="open: counts as a broken promise; settled: penalty paid; contested: late "
              "evidence says it was met.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=DEFAULT_LIMIT,
              show_default=True, help="At most this many breaches.")
@click.option("--tz", default="Asia/Shanghai", show_default=True,
              help="Zone the instants are printed in.")
def command(
    since: datetime | None, kind: str | None, status: str | None, limit: int, tz: str
) -> None:
    """Print breaches (due, detected, points, status, compensation) as a JSON list."""
    from slamon.models.db.ops import breaches_view

    settings = settings_or_exit()
    zone = zone_or_exit(tz)
    with session_or_exit(settings) as session:
        rows = breaches_view(session, since=since, kind=kind, status=status, limit=limit,
                             zone=zone)
    echo_json(rows)

