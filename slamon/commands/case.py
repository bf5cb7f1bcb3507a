"""``slamon case CASE_ID``: a case, its deadlines, breaches, compensations and events, as JSON."""

from __future__ import annotations

import click

from slamon.commands.common import echo_json, fail, settings_or_exit
from slamon.commands.database import session_or_exit, zone_or_exit


@click.command(name="case")
@click.argument("case_id")
@click.option(
    "--tz",
    default="Asia/Shanghai",
    show_default=True,
    help="Zone the instants are printed in (ISO-8601 with offset).",
)
@click.option("--no-events", is_flag=True, help="Leave out the event history.")
def command(case_id: str, tz: str, no_events: bool) -> None:
    """Print case CASE_ID as JSON; exit 1 if no such case is known."""
    from slamon.models.db.engine import display_url
    from slamon.models.db.views import case_view

    settings = settings_or_exit()
    zone = zone_or_exit(tz)
    with session_or_exit(settings) as session:
        view = case_view(session, case_id, zone, with_events=not no_events)
    if view is None:
        fail(f"no case {case_id!r} in {display_url(settings.database)}")
    echo_json(view)
