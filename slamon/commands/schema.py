"""`slamon schema`: the JSON Schema of help events, for producers in other languages."""

from __future__ import annotations

import click

from slamon.commands.common import echo_json
from slamon.models.events import event_json_schema


@click.command("schema")
def command() -> None:
    """Print the JSON Schema (draft 2020-12) of one help event.

    \b
    Example:
      slamon schema > slamon-event.schema.json

    The schema is a union discriminated by `type` (help.opened, help.assigned,
    help.responded, help.resolved, help.cancelled, help.reopened). Every event carries
    event_id, case_id and occurred_at (ISO 8601 with a UTC offset); unknown fields are
    refused; item_price is a decimal string. A batch is a JSON array of events.
    """
    echo_json(event_json_schema(), indent=2)
