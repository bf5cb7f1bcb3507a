"""What every command shares: one instant type with one-line errors, one --home option."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from slamon.cli import main
from slamon.commands.common import INSTANT, home_option
from slamon.settings import get_settings


@click.command()
@click.option("--at", type=INSTANT, required=True)
def instant_command(at: datetime) -> None:
    click.echo(at.isoformat())


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(instant_command, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_an_instant_with_an_offset_is_parsed_as_given() -> None:
    code, out, _ = invoke("--at", "2026-11-26T17:30:00+08:00")
    assert code == 0 and out == "2026-11-26T17:30:00+08:00\n"
    parsed = datetime.fromisoformat(out.strip())
    assert parsed.utcoffset() == timedelta(hours=8)
    assert invoke("--at", "2026-11-26T09:30:00Z")[1] == "2026-11-26T09:30:00+00:00\n"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("yesterday", "slamon: --at: 'yesterday' is not an ISO-8601 date-time"),
        ("2026-13-01T00:00:00+08:00", "slamon: --at: '2026-13-01T00:00:00+08:00' is not an "
         "ISO-8601 date-time"),
        ("2026-11-26T17:30:00", "slamon: --at: '2026-11-26T17:30:00' needs a UTC offset, "
         "e.g. 2026-11-26T17:30:00+08:00"),
        ("2026-11-26", "slamon: --at: '2026-11-26' needs a UTC offset, "
         "e.g. 2026-11-26T00:00:00+08:00"),
        ("1999-12-31T23:59:59+00:00", "slamon: --at: '1999-12-31T23:59:59+00:00' must be in the "
         "years 2000-2099"),
        ("2100-01-01T08:00:00+08:00", "slamon: --at: '2100-01-01T08:00:00+08:00' must be in the "
         "years 2000-2099"),
        ("9999-12-31T23:59:59-01:00", "slamon: --at: '9999-12-31T23:59:59-01:00' must be in the "
         "years 2000-2099"),
    ],
)
def test_a_bad_or_out_of_range_instant_is_one_line_and_exit_2(text: str, error: str) -> None:
    code, out, err = invoke("--at", text)
    assert (code, out, err) == (2, "", error + "\n")


def test_the_last_instant_of_2099_is_in_range() -> None:
    assert invoke("--at", "2100-01-01T07:59:59.999999+08:00")[0] == 0


@click.command("where")
@home_option("test")
def where() -> None:
    click.echo(get_settings().home)


@pytest.fixture
def clean_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    # Recorded so that it is restored: the option sets SLAMON_HOME for the roles it starts.
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path / "from-env"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_home_on_a_command_and_on_the_group_mean_the_same(
    clean_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.setitem(main.commands, "where", click.Command("where", callback=where.callback))
    from_env = runner.invoke(main, ["where"])
    assert from_env.stdout.strip() == str((clean_home / "from-env").resolve())

    on_command = runner.invoke(where, ["--home", str(clean_home / "a")])
    assert on_command.stdout.strip() == str((clean_home / "a").resolve())

    on_group = runner.invoke(main, ["--home", str(clean_home / "b"), "where"])
    assert on_group.exit_code == 0, on_group.output
    assert on_group.stdout.strip() == str((clean_home / "b").resolve())
