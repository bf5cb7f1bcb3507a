"""``slamon audit``: what operators did by hand, who (a token's name or cli:<user>), when, why."""

from __future__ import annotations

import click

from slamon.commands.common import echo_json, settings_or_exit
from slamon.commands.compensations import TZ
from slamon.commands.database import session_or_exit, zone_or_exit
from slamon.models.db.ops import DEFAULT_LIMIT, MAX_LIMIT


@click.command(name="audit")
@click.option("--compensation", "compensation_id", type=int, default=None,
              help="Only the actions on this compensation.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=DEFAULT_LIMIT,
              show_default=True)
@TZ
def command(compensation_id: int | None, limit: int, tz: str) -> None:
    """Print the audit trail as a JSON list, newest first: every release, cancel, retry,
    review resolution and guard reset."""
    from slamon.models.db.ops import operator_actions_view

    settings = settings_or_exit()
    zone = zone_or_exit(tz)
    with session_or_exit(settings) as session:
        rows = operator_actions_view(session, compensation_id=compensation_id, limit=limit,
                                     zone=zone)
    echo_json(rows)
