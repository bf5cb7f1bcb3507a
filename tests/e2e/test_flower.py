"""Flower under `slamon up --flower`: the ingest task is visible through Flower's HTTP API,
behind the basic auth that SLAMON_FLOWER_BASIC_AUTH sets."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from slamon.commands.roles import basic_auth_problem, flower
from slamon.embedded_redis import free_port
from slamon.settings import get_settings
from tests.e2e.stack import RunningStack, clean_env
from tests.e2e.test_up import opened

USER = "ops"


class FlowerStack:
    def __init__(self, stack: RunningStack, port: int, password: str) -> None:
        self.stack = stack
        self.url = f"http://127.0.0.1:{port}"
        self.auth = (USER, password)

    def get(self, path: str, auth: tuple[str, str] | None = None, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", auth=auth, params=params, timeout=10)

    def wait_up(self, timeout: float = 30) -> None:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if self.get("/api/workers", auth=self.auth).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"Flower did not answer within {timeout}s:\n{self.stack.output()}")

    def wait_for(self, what: str, fetch: Any, timeout: float = 30) -> Any:
        started, last = time.monotonic(), None
        while time.monotonic() - started < timeout:
            last = fetch()
            if last:
                return last
            time.sleep(0.5)
        raise AssertionError(f"Flower never showed {what}; last: {last}\n{self.stack.output()}")


@pytest.fixture
def flower_stack(tmp_path: Path) -> Iterator[FlowerStack]:
    home = tmp_path / "home"
    port = free_port()
    password = secrets.token_urlsafe(16)
    env = clean_env(
        home, SLAMON_FLOWER_PORT=str(port), SLAMON_FLOWER_BASIC_AUTH=f"{USER}:{password}"
    )
    running = RunningStack(home, env, flower=True)
    try:
        running.wait_healthy()
        yield FlowerStack(running, port, password)
    finally:
        running.stop()


@pytest.mark.e2e
def test_flower_shows_the_ingest_task(flower_stack: FlowerStack) -> None:
    flower_stack.wait_up()

    # Basic auth guards the pages and the API alike.
    assert flower_stack.get("/api/tasks").status_code == 401
    assert flower_stack.get("/").status_code == 401
    assert flower_stack.get("/api/tasks", auth=(USER, "wrong")).status_code == 401

    event = opened("H-FLOWER-1", "e-flower-1", datetime.now(UTC))
    sent = flower_stack.stack.run("send", "-", stdin=json.dumps(event, ensure_ascii=False))
    assert sent.returncode == 0, sent.stderr

    def ingest_tasks() -> list[dict[str, Any]]:
        tasks = flower_stack.get("/api/tasks", auth=flower_stack.auth, taskname="sla.ingest")
        assert tasks.status_code == 200, tasks.text
        return [
            t
            for t in tasks.json().values()
            if t["name"] == "sla.ingest" and "H-FLOWER-1 help.opened" in (t.get("args") or "")
        ]

    task = flower_stack.wait_for(
        "sla.ingest SUCCESS", lambda: [t for t in ingest_tasks() if t["state"] == "SUCCESS"]
    )[0]
    assert task["routing_key"] == "sla.events"
    # The producer's argsrepr: the case and the event type, not a JSON string in a list.
    assert task["args"] == "H-FLOWER-1 help.opened"
    assert task["worker"].startswith("slamon-")

    workers = flower_stack.get("/api/workers", auth=flower_stack.auth, refresh="1").json()
    assert task["worker"] in workers
    queues = {q["name"] for q in workers[task["worker"]]["active_queues"]}
    assert queues == {"sla.events", "sla.compensation"}


# -- the command's checks, without starting Flower ------------------------------------------


@pytest.mark.parametrize(
    ("value", "usable"),
    [
        ("ops:secret", True),
        ("ops:secret,viewer:pw2", True),
        ("ops:pa:ss", True),  # only the first colon separates the user
        ("ops", False),
        (":secret", False),
        ("ops:", False),
        ("ops:sec,ret", False),  # Flower would read "ret" as a second, broken pair
    ],
)
def test_basic_auth_problem(value: str, usable: bool) -> None:
    assert (basic_auth_problem(value) is None) is usable


def test_flower_refuses_unusable_basic_auth(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path))
    monkeypatch.setenv("SLAMON_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SLAMON_FLOWER_BASIC_AUTH", "ops-without-password")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(flower, [])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "SLAMON_FLOWER_BASIC_AUTH: expected user:password" in result.output


@pytest.mark.parametrize("auth", [None, "ops:secret"])
def test_flower_arguments(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, auth: str | None
) -> None:
    from slamon.worker.app import app

    started: list[list[str]] = []
    monkeypatch.setattr(app, "start", started.append)
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path))
    monkeypatch.setenv("SLAMON_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SLAMON_FLOWER_PORT", "5601")
    monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    if auth:
        monkeypatch.setenv("SLAMON_FLOWER_BASIC_AUTH", auth)
    else:
        monkeypatch.delenv("SLAMON_FLOWER_BASIC_AUTH", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(flower, ["--address", "0.0.0.0"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    expected = ["flower", "--address=0.0.0.0", "--port=5601"]
    assert started == [[*expected, f"--basic-auth={auth}"] if auth else expected]
    # Without auth the operator is told that the pages are open and the API is off.
    assert ("answers 401 until it is set" in result.output) is (auth is None)
