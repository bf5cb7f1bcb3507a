"""The ``slamon`` command line: one entry point, one module per command under slamon/commands."""

from __future__ import annotations

import os

import click

from slamon.commands import (
    audit,
    breaches,
    calendar,
    case,
    compensations,
    dead_letters,
    deadline,
    guard,
    policy,
    report,
    roles,
    schema,
    secret,
    send,
)
from slamon.commands.common import home_option
from slamon.settings import get_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@home_option(
    "Directory of the embedded state (default ./.slamon; env SLAMON_HOME). Every command "
    "run with the same home talks to the same running stack.",
    envvar="SLAMON_HOME",
)
@click.version_option(package_name="slamon")
def main() -> None:
    """slamon: SLA monitor for Tmall one-click help (一键求助) requests.

    Producers send help events; workers keep each case's deadlines in business time; the
    scheduler judges breaches by event time; penalties are paid in Tmall points exactly once.

    Start everything on embedded defaults with `slamon up`; see `slamon COMMAND --help`.
    """
    get_settings.cache_clear()  # read afresh, with the home this invocation names
    # Whatever a command writes (the database, the AOF, logs, run.json, the token) is its
    # owner's alone: files 0600, folders 0700, in every role `slamon up` starts too.
    os.umask(0o077)


for _command in (
    roles.up,
    roles.worker,
    roles.scheduler,
    roles.api,
    roles.flower,
    roles.migrate,
    send.command,
    case.command,
    deadline.command,
    calendar.command,
    policy.command,
    schema.command,
    breaches.command,
    compensations.command,
    guard.command,
    audit.command,
    secret.command,
    report.command,
):
    main.add_command(_command)
main.add_command(dead_letters.command)
