"""``slamon case CASE_ID``: a case, its deadlines, breaches, compensations and events, as JSON."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import click

from slamon.commands.common import echo_json, fail, settings_or_exit


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
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from models.db import create_db_engine, snapshot
    from models.views import case_view

    settings = settings_or_exit()
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        fail(f"unknown time zone {tz!r}", code=2)
    engine = create_db_engine(settings.database)
    try:
        with snapshot(engine) as session:
            view = case_view(session, case_id, zone, with_events=not no_events)
    except (OperationalError, ProgrammingError) as exc:
        fail(
            f"cannot read the database {engine.url.render_as_string()}: {exc.orig} "
            "(run `slamon migrate` or `slamon up` first)"
        )
    if view is None:
        fail(f"no case {case_id!r} in {engine.url.render_as_string()}")
    echo_json(view)
