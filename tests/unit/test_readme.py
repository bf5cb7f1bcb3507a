"""The README's Quick start is what CI runs: two commands, the second one verbatim in .ci/run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [block.strip() for block in blocks[:2]]


def test_quick_start_has_a_run_command_and_a_test_command() -> None:
    run, test = quick_start_commands()
    assert "\n" not in run and run.endswith("slamon up")
    assert "\n" not in test and test.endswith("pytest") and "[dev]" in test


def test_ci_runs_the_readme_test_command() -> None:
    _, test = quick_start_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci
