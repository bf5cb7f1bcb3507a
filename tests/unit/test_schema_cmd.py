"""`slamon schema` prints the event schema producers build against."""

from __future__ import annotations

import json

from click.testing import CliRunner

from slamon.commands.schema import command
from slamon.models.events import EVENT_TYPES, event_json_schema


def test_prints_the_event_schema_as_indented_json() -> None:
    result = CliRunner().invoke(command, [])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == event_json_schema()
    assert result.output.startswith('{\n  "$schema"')
    assert set(json.loads(result.output)["discriminator"]["mapping"]) == set(EVENT_TYPES)


def test_chinese_descriptions_are_printed_as_text_not_escapes() -> None:
    result = CliRunner().invoke(command, [])
    assert "求助单" in result.output


def test_help_explains_what_the_schema_is_for() -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    assert "JSON Schema" in result.output and "occurred_at" in result.output
