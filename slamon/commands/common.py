"""Helpers shared by commands: settings with clean errors, JSON output."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click
from pydantic import ValidationError

from slamon.settings import Settings, get_settings


def settings_or_exit() -> Settings:
    """The validated settings, or exit 2 with one line per bad variable."""
    try:
        return get_settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = (
                "SLAMON_" + "_".join(str(p) for p in error["loc"]).upper()
                if error["loc"]
                else "settings"
            )
            lines.append(f"{name}: {error['msg']}")
        fail("invalid configuration: " + "; ".join(lines), code=2)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"slamon: {message}", err=True)
    raise SystemExit(code)


def echo_json(data: Any, indent: int | None = 2) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=indent, default=str))
