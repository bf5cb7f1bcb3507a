"""Helpers shared by commands: settings with clean errors, the --home option, the instant
parameter type, JSON output, masked messages."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NoReturn

import click
from pydantic import ValidationError
from pydantic_settings import SettingsError

from slamon import log_masking
from slamon.models.event_fields import EARLIEST, LATEST
from slamon.models.redaction import Redactor
from slamon.settings import Settings, get_settings

_redactor = Redactor()
_FIELD = re.compile(r'field "([a-z_]+)"')


def settings_or_exit() -> Settings:
    """The validated settings, or exit 2 with one line naming each bad variable.

    From here on, this process masks the configured secrets in everything it logs and in
    every message :func:`fail` prints.
    """
    global _redactor
    try:
        settings = get_settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            # The first part of the location is the field; deeper parts may be a dict key
            # (a token!), so they are never shown.
            name = f"SLAMON_{str(error['loc'][0]).upper()}" if error["loc"] else "settings"
            lines.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        fail("invalid configuration: " + "; ".join(lines), code=2)
    except SettingsError as exc:
        # A value that should be JSON and is not; pydantic-settings names only the field.
        found = _FIELD.search(str(exc))
        name = f"SLAMON_{found.group(1).upper()}" if found else "a SLAMON_ variable"
        fail(f"invalid configuration: {name}: not valid JSON", code=2)
    _redactor = Redactor(settings.secrets())
    log_masking.install(_redactor)
    return settings


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"slamon: {_redactor(message)}", err=True)
    raise SystemExit(code)


def echo_json(data: Any, indent: int | None = 2) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=indent, default=str))


class OneLineError(click.ClickException):
    """Bad input on the command line: ``slamon: <message>`` on stderr, one line, exit 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"slamon: {self.format_message()}", err=True)


def _use_home(_ctx: click.Context, _param: click.Parameter, home: Path | None) -> None:
    # Through the environment, so that settings read later, and every role a command starts,
    # see the same home.
    if home is not None:
        os.environ["SLAMON_HOME"] = str(home)
        get_settings.cache_clear()


def home_option(description: str, **options: Any) -> Any:
    """``--home DIR``: the directory of the embedded state, for this command and its roles."""
    return click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        expose_value=False,
        is_eager=True,
        callback=_use_home,
        help=description,
        **options,
    )


def parse_instant(text: str) -> datetime:
    """An ISO-8601 date-time with a UTC offset; ValueError says what is wrong with ``text``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 date-time") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} needs a UTC offset, e.g. {value.isoformat()}+08:00")
    return value


class InstantType(click.ParamType):
    """An option's instant: ISO-8601 with a UTC offset, in the years the service accepts events
    in (outside them no case can exist, and near year 1 or 9999 converting to UTC overflows)."""

    name = "instant"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        option = param.opts[0] if param is not None and param.opts else "instant"
        try:
            instant = parse_instant(str(value))
        except ValueError as exc:
            raise OneLineError(f"{option}: {exc}") from None
        if not EARLIEST <= instant < LATEST:
            raise OneLineError(
                f"{option}: {value!r} must be in the years {EARLIEST.year}-{LATEST.year - 1}"
            )
        return instant


INSTANT = InstantType()
