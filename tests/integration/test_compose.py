"""docker-compose.yml stays valid and runs the same `slamon <role>` commands the e2e tests run.

No Docker engine runs here; Debian's docker-compose (v1) validates the file without one.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from slamon.cli import main
from slamon.worker.app import app as worker_app

ROOT = Path(__file__).resolve().parents[2]


def _compose_config() -> dict[str, object]:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("docker-compose is not installed; .ci/run installs it", pytrace=False)
        pytest.skip("docker-compose (Debian package) is not installed")
    env = dict(os.environ)
    args = [
        binary,
        "--env-file",
        str(ROOT / ".env.example"),
        "-f",
        str(ROOT / "docker-compose.yml"),
    ]
    subprocess.run([*args, "config", "-q"], check=True, cwd=ROOT, env=env)
    out = subprocess.run(
        [*args, "config"], check=True, cwd=ROOT, env=env, capture_output=True, text=True
    ).stdout
    import yaml

    return yaml.safe_load(out)  # type: ignore[no-any-return]


def test_compose_file_is_valid_and_roles_exist() -> None:
    config = _compose_config()
    services = config["services"]
    assert isinstance(services, dict)
    assert {"redis", "postgres", "migrate", "worker", "scheduler", "api", "flower"} <= set(services)
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly" in redis_command
    # The broker is locked, by the container's shell ($$: not compose's interpolation, so the
    # password stays out of the command compose records).
    assert '--requirepass "$$REDIS_PASSWORD"' in redis_command
    assert services["redis"]["environment"]["REDIS_PASSWORD"]
    assert "REDISCLI_AUTH" in " ".join(services["redis"]["healthcheck"]["test"])
    for name in ("migrate", "worker", "scheduler", "api", "flower"):
        command = services[name]["command"]
        assert command[0] == "slamon" and command[1] == name
        # the same command line parses in our CLI (checked with --help, nothing runs)
        result = CliRunner().invoke(main, [*command[1:], "--help"])
        assert result.exit_code == 0, result.output
        env = services[name]["environment"]
        assert env["SLAMON_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["SLAMON_REDIS_URL"].startswith("redis://:")  # with the password
        assert env["SLAMON_REDIS_URL"].endswith("@redis:6379/0")
    for name in ("worker", "scheduler", "api", "flower"):
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
    # The worker's healthcheck pings it through the Celery app it names: that must be the app
    # the worker runs (the import path the wheel installs), or the check fails forever.
    check = " ".join(services["worker"]["healthcheck"]["test"])
    app_path = re.search(r"celery -A (\S+)", check)
    assert app_path is not None, check
    module = importlib.import_module(app_path.group(1))
    assert module.app is worker_app


def test_no_secret_is_committed() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text
    # every secret is interpolated from .env and required there
    for variable in (
        "POSTGRES_PASSWORD", "REDIS_PASSWORD", "SLAMON_API_TOKEN", "SLAMON_FLOWER_BASIC_AUTH"
    ):
        assert f"${{{variable}:?" in text
