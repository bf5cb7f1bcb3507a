"""Bad configuration stops a real ``slamon`` process with one line naming the variable (and
never the secret it holds), for the roles and for an operator's command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slamon.models.signing import new_secret


@pytest.mark.parametrize("variable", ["SLAMON_API_TOKEN", "SLAMON_API_TOKENS"])
def test_a_short_token_stops_the_process_naming_the_variable_not_the_token(
    variable: str, tmp_path: Path
) -> None:
    value = "short-tok" if variable == "SLAMON_API_TOKEN" else json.dumps({"short-tok": "read"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAMON_")}
    env.update(SLAMON_HOME=str(tmp_path), **{variable: value})
    for role in ("api", "worker", "scheduler"):
        done = subprocess.run([sys.executable, "-m", "slamon", role], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"slamon: invalid configuration: {variable}:")
        assert "16" in lines[0] and "short-tok" not in lines[0]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SLAMON_WEBHOOK_URLS": "not a url"}, "SLAMON_WEBHOOK_URLS: "),
        ({"SLAMON_WEBHOOK_URLS": "[broken"}, "SLAMON_WEBHOOK_URLS: "),
        ({"SLAMON_WEBHOOK_SECRET": "plain-secret"}, "SLAMON_WEBHOOK_SECRET: a secret must start"),
        ({"SLAMON_API_TOKENS": "{not json"}, "SLAMON_API_TOKENS: not valid JSON"),
        ({"SLAMON_PAYOUT_MAX_POINTS_PER_HOUR": "0"}, "SLAMON_PAYOUT_MAX_POINTS_PER_HOUR: "),
    ],
)
def test_any_bad_value_is_one_line_naming_the_variable(
    variables: dict[str, str], message: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAMON_")}
    env.update({"SLAMON_HOME": str(tmp_path), "SLAMON_WEBHOOK_SECRET": new_secret(),
                **variables})
    done = subprocess.run([sys.executable, "-m", "slamon", "compensations"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "plain-secret" not in done.stderr
