"""`slamon deadline` and `slamon policy`, through click's CliRunner: JSON on stdout, and on
bad input a non-zero exit with one clear line on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from slamon.commands import deadline, policy
from slamon.models.policy.policy import shipped_folder
from slamon.settings import get_settings
from tests.unit.policy_samples import shipped_text

FURNITURE = ["--category", "家装家具", "--service", "送货入户并安装"]
SHIPPED_2022 = Path(str(shipped_folder() / "tmall-2022.toml"))


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SLAMON_POLICY", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(command: click.Command, *args: str) -> Result:
    return CliRunner().invoke(command, list(args))


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_error_line(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def user_policy(folder: Path, edit: tuple[str, str] = ("", "")) -> Path:
    text = shipped_text().replace('id = "tmall-2022"', 'id = "acme"', 1)
    text = text.replace("effective_from = 2022-01-01", "effective_from = 2030-01-01", 1)
    path = folder / "acme.toml"
    path.write_text(text.replace(*edit, 1) if edit[0] else text, encoding="utf-8")
    return path


# -- slamon deadline ----------------------------------------------------------------------------


def plan_for(opened_at: str, *options: str) -> Result:
    """`slamon deadline` for a furniture item with 送货入户并安装, plus ``options``."""
    return run(deadline.command, "--opened-at", opened_at, *FURNITURE, *options)


def test_deadline_prints_the_plan_as_json() -> None:
    result = plan_for(
        "2026-11-26T17:30:00+08:00",
        *("--service", "三年质保", "--price", "3000", "--now", "2026-11-26T17:30:00+08:00"),
    )
    assert ok_json(result) == {
        "policy": "tmall-2022",
        "monitored": True,
        "reason": None,
        "deadlines": [
            {
                "kind": "response",
                "clock": "business_hours",
                "due_at": "2026-11-27T09:30:00+08:00",
                "at_risk_at": "2026-11-27T09:15:00+08:00",
                "judge_at": "2026-11-27T09:31:00+08:00",
                "points": 5000,
            },
            {
                "kind": "resolution",
                "clock": "wall_clock",
                "due_at": "2026-11-28T17:30:00+08:00",
                "at_risk_at": "2026-11-28T05:30:00+08:00",
                "judge_at": "2026-11-28T17:31:00+08:00",
                "points": 45000,
            },
        ],
        "notes": [],
    }


def test_deadline_reports_a_case_that_is_not_monitored() -> None:
    args = ["--opened-at", "2026-11-26T10:00:00+08:00", "--category", "toys", "--service", "x"]
    plan = ok_json(run(deadline.command, *args))
    assert plan["monitored"] is False
    assert plan["reason"] == "category 'toys' is not covered by policy tmall-2022"
    assert plan["deadlines"] == []


def test_deadline_uses_the_policy_in_force_or_the_one_named() -> None:
    assert ok_json(plan_for("2021-06-01T10:00:00+08:00"))["policy"] == "tmall-legacy"
    named = ok_json(plan_for("2021-06-01T10:00:00+08:00", "--policy", "tmall-2022"))
    assert named["policy"] == "tmall-2022"
    assert named["deadlines"][1]["due_at"] == "2021-06-03T10:00:00+08:00"


def test_deadline_notes_a_deadline_already_past() -> None:
    plan = ok_json(plan_for("2026-11-26T10:00:00+08:00", "--now", "2026-11-26T12:00:00+08:00"))
    assert plan["notes"] == [
        "response: due at 2026-11-26T11:00:00+08:00, already past at 2026-11-26T12:00:00+08:00"
    ]


def test_deadline_reads_user_policies(tmp_path: Path) -> None:
    path = user_policy(tmp_path, ('clock = "business_hours"', 'clock = "window_only"'))
    plan = ok_json(plan_for("2030-02-01T20:00:00+08:00", "--policies", str(path)))
    assert plan["policy"] == "acme"
    assert [d["kind"] for d in plan["deadlines"]] == ["resolution"]
    assert "sets no response deadline (window_only)" in plan["notes"][0]


# Bad instants are usage errors (exit 2), as for every command taking one (slamon breaches).
BAD_DEADLINE_INSTANTS = [
    (
        ["--opened-at", "2026-11-26T17:30:00", *FURNITURE],
        "slamon: --opened-at: '2026-11-26T17:30:00' needs a UTC offset, "
        "e.g. 2026-11-26T17:30:00+08:00",
    ),
    (
        ["--opened-at", "yesterday", *FURNITURE],
        "slamon: --opened-at: 'yesterday' is not an ISO-8601 date-time",
    ),
    (
        ["--opened-at", "9999-12-31T23:59:59-01:00", *FURNITURE],
        "slamon: --opened-at: '9999-12-31T23:59:59-01:00' must be in the years 2000-2099",
    ),
    (
        ["--opened-at", "2026-11-26T17:30:00+08:00", *FURNITURE, "--now", "0001-01-01T00:00+08:00"],
        "slamon: --now: '0001-01-01T00:00+08:00' must be in the years 2000-2099",
    ),
]

BAD_DEADLINE_INPUT = [
    (
        ["--opened-at", "2026-11-26T17:30:00+08:00", *FURNITURE, "--price", "12,5"],
        "slamon: --price: '12,5' is not a decimal amount of yuan",
    ),
    (
        ["--opened-at", "2026-11-26T17:30:00+08:00", *FURNITURE, "--price", "-1"],
        "slamon: --price: '-1' must be a non-negative amount of yuan",
    ),
    (
        ["--opened-at", "2026-11-26T17:30:00+08:00", *FURNITURE, "--policy", "tmall-2099"],
        "slamon: unknown policy 'tmall-2099'; known policies: tmall-2022, tmall-legacy",
    ),
    (
        ["--opened-at", "2010-01-01T00:00:00+08:00", *FURNITURE],
        "slamon: no policy in force at 2010-01-01T00:00:00+08:00; the earliest, tmall-legacy, "
        "takes effect at 2019-01-01T00:00:00+08:00",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_DEADLINE_INPUT)
def test_deadline_bad_input_is_one_line(args: list[str], message: str) -> None:
    assert one_error_line(run(deadline.command, *args)) == message


@pytest.mark.parametrize(("args", "message"), BAD_DEADLINE_INSTANTS)
def test_deadline_bad_instants_are_one_line(args: list[str], message: str) -> None:
    assert one_error_line(run(deadline.command, *args), code=2) == message


def test_deadline_with_a_broken_user_policy_names_its_file(tmp_path: Path) -> None:
    path = user_policy(tmp_path, ("hours = 48", "hours = -48"))
    line = one_error_line(plan_for("2030-02-01T10:00:00+08:00", "--policies", str(path)))
    assert line == f"slamon: {path}: metrics.resolution.hours: Input should be greater than 0"


# -- slamon policy check ------------------------------------------------------------------------


def test_check_accepts_a_good_file_and_the_shipped_ones(tmp_path: Path) -> None:
    path = user_policy(tmp_path)
    result = run(policy.command, "check", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{path}: ok: policy acme, in force from 2030-01-01T00:00:00+08:00; "
        "response 1 h business_hours, resolution 48 h wall_clock\n"
    )
    assert run(policy.command, "check", str(SHIPPED_2022)).exit_code == 0
    assert run(policy.command, "check", str(SHIPPED_2022.parent)).stdout.count(": ok: ") == 2


CHECK_ERRORS = [
    (
        ("at_risk_ratio = 0.75", "at_risk_ratio = 0"),
        "at_risk_ratio: Input should be greater than 0",
    ),
    (
        ('id = "acme"', 'id = "tmall-legacy"'),
        "policy id 'tmall-legacy' is already defined in tmall-legacy.toml",
    ),
    (
        ("effective_from = 2030-01-01", "effective_from = 2019-01-01"),
        "policy 'acme' takes effect at 2019-01-01T00:00:00+08:00, the same instant as "
        "'tmall-legacy' in tmall-legacy.toml",
    ),
]


@pytest.mark.parametrize(("edit", "problem"), CHECK_ERRORS)
def test_check_refuses_a_bad_file_in_one_line(
    tmp_path: Path, edit: tuple[str, str], problem: str
) -> None:
    path = user_policy(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace(*edit, 1), encoding="utf-8")
    assert one_error_line(run(policy.command, "check", str(path))) == f"slamon: {path}: {problem}"


def test_check_names_the_line_of_a_toml_syntax_error(tmp_path: Path) -> None:
    path = user_policy(tmp_path, ("hours = 1\n", "hours = \n"))
    line_number = path.read_text(encoding="utf-8").splitlines().index("hours = ") + 1
    assert one_error_line(run(policy.command, "check", str(path))) == (
        f"slamon: {path}: invalid TOML: Invalid value (at line {line_number}, column 9)"
    )


def test_check_a_missing_file(tmp_path: Path) -> None:
    line = one_error_line(run(policy.command, "check", str(tmp_path / "nope.toml")))
    assert line.startswith(f"slamon: {tmp_path / 'nope.toml'}: cannot read: ")


# -- slamon policy show -------------------------------------------------------------------------


def test_show_lists_the_policies_and_marks_the_default() -> None:
    listed = ok_json(run(policy.command, "show"))
    assert [(p["id"], p["default"]) for p in listed] == [
        ("tmall-legacy", False),
        ("tmall-2022", True),
    ]
    assert listed[1]["effective_at"] == "2022-01-01T00:00:00+08:00"
    assert listed[1]["metrics"]["response"] == {"hours": "1", "clock": "business_hours"}


def test_show_one_policy_in_full() -> None:
    shown = ok_json(run(policy.command, "show", "tmall-2022"))
    assert shown["id"] == "tmall-2022"
    assert shown["calendar"]["weekly"]["sun"] == [["09:00", "18:00"]]
    penalty = shown["metrics"]["resolution"]["penalty"]
    assert penalty["services"]["three_year_warranty"]["cap"] == 100_000
    assert penalty["combine"] == "largest"


def test_show_follows_slamon_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAMON_POLICY", str(user_policy(tmp_path)))
    get_settings.cache_clear()
    listed = ok_json(run(policy.command, "show"))
    assert [(p["id"], p["default"]) for p in listed] == [
        ("tmall-legacy", False),
        ("tmall-2022", False),
        ("acme", True),
    ]


def test_show_an_unknown_policy_is_one_line() -> None:
    line = one_error_line(run(policy.command, "show", "acme"))
    assert line == "slamon: unknown policy 'acme'; known policies: tmall-2022, tmall-legacy"
