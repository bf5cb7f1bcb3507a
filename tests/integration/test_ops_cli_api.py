"""``slamon breaches``, ``slamon compensations [retry]`` and the same under ``/v1/``: one JSON
shape for both, filters, the retry of a failed compensation, and errors a user can act on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from slamon.commands import breaches as breaches_cmd
from slamon.commands import compensations as compensations_cmd
from slamon.scheduler.sweeper import sweep
from slamon.settings import Settings, get_settings
from slamon.worker.compensation import compensate
from slamon.worker.points.memory import InMemoryPointsIssuer
from slamon.worker.points.port import RejectedIssueError
from tests.support.runtime import DEFAULTS, LIMITS
from tests.support.seed import SeedDeadline, seed_cases

DUE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
LEASE, REDISPATCH = DEFAULTS.claim_lease, DEFAULTS.redispatch_after
TOKEN = "t" * 32


@pytest.fixture
def history(engine: Engine) -> dict[str, int]:
    """Three response breaches (one paid, one refused, one pending) and one resolution breach
    detected an hour later."""
    seed_cases(engine, 3, DUE)
    seed_cases(engine, 1, DUE, (SeedDeadline("resolution", timedelta(hours=1), points=30000),),
               prefix="R")
    first = sweep(engine, DUE + timedelta(minutes=5), "s1", 100, LEASE, REDISPATCH)
    later = sweep(engine, DUE + timedelta(hours=1, minutes=5), "s1", 100, LEASE, REDISPATCH)
    paid, refused, pending = first.compensation_ids
    issuer = InMemoryPointsIssuer()

    def paid_at() -> datetime:
        return DUE + timedelta(minutes=6)

    compensate(engine, issuer, paid, paid_at, REDISPATCH, LIMITS)
    issuer.fail_next(RejectedIssueError("account tb_H0000001 is frozen"))
    compensate(engine, issuer, refused, paid_at, REDISPATCH, LIMITS)
    return {"paid": paid, "refused": refused, "pending": pending,
            "resolution": later.compensation_ids[0]}


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLAMON_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def run(cli: CliRunner, command: object, *args: str) -> object:
    result = cli.invoke(command, list(args))  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_breaches_newest_first_with_filters(cli: CliRunner, history: dict[str, int]) -> None:
    everything = run(cli, breaches_cmd.command, "--tz", "UTC")
    assert isinstance(everything, list)
    assert len(everything) == 4
    resolution = everything[0]
    assert resolution["case_id"] == "R0000000"
    assert resolution["kind"] == "resolution" and resolution["points"] == 30000
    assert resolution["due_at"] == "2026-11-26T04:00:00+00:00"
    assert resolution["detected_at"] == "2026-11-26T04:05:00+00:00"
    assert resolution["compensation"] == {"id": history["resolution"], "status": "pending"}

    since = run(cli, breaches_cmd.command, "--since", "2026-11-26T12:00:00+08:00")
    assert [b["case_id"] for b in since] == ["R0000000"]  # type: ignore[union-attr]
    responses = run(cli, breaches_cmd.command, "--kind", "response")
    assert len(responses) == 3  # type: ignore[arg-type]
    settled = run(cli, breaches_cmd.command, "--status", "settled")
    assert [b["case_id"] for b in settled] == ["H0000000"]  # type: ignore[union-attr]
    shanghai = run(cli, breaches_cmd.command, "--limit", "1")
    assert shanghai[0]["due_at"] == "2026-11-26T12:00:00+08:00"  # type: ignore[index]


def test_breaches_refuses_a_since_without_offset(cli: CliRunner, engine: Engine) -> None:
    result = cli.invoke(breaches_cmd.command, ["--since", "2026-11-26T12:00:00"])
    assert result.exit_code == 2
    assert "needs a UTC offset" in result.output


def test_compensations_by_status_and_retry(cli: CliRunner, history: dict[str, int]) -> None:
    failed = run(cli, compensations_cmd.command, "--status", "failed")
    assert [c["id"] for c in failed] == [history["refused"]]  # type: ignore[union-attr]
    assert failed[0]["last_error"] == "account tb_H0000001 is frozen"  # type: ignore[index]

    retried = run(cli, compensations_cmd.command, "retry", str(history["refused"]))
    assert retried["status"] == "pending"  # type: ignore[index]
    assert run(cli, compensations_cmd.command, "--status", "failed") == []

    again = cli.invoke(compensations_cmd.command, ["retry", str(history["paid"])])
    assert again.exit_code == 1
    assert "is issued; only a failed one can be retried" in again.output
    missing = cli.invoke(compensations_cmd.command, ["retry", "999"])
    assert missing.exit_code == 1 and "no compensation 999" in missing.output


def test_a_database_without_tables_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLAMON_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    result = CliRunner().invoke(breaches_cmd.command, [])
    get_settings.cache_clear()
    assert result.exit_code == 1
    assert "run `slamon migrate` or `slamon up` first" in result.output


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> TestClient:
    from slamon.api.app import create_app

    settings = Settings(home=tmp_path / "home", database_url=db_url,
                        api_tokens={"r" * 32: "read", "p" * 32: "produce"}, api_token=TOKEN)
    return TestClient(create_app(settings))


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_matches_the_cli(
    api: TestClient, cli: CliRunner, history: dict[str, int]
) -> None:
    assert api.get("/v1/breaches", headers=auth()).json() == run(cli, breaches_cmd.command)
    assert api.get("/v1/compensations?status=pending", headers=auth()).json() == run(
        cli, compensations_cmd.command, "--status", "pending"
    )
    since = api.get("/v1/breaches", params={"since": "2026-11-26T04:00:00Z", "kind": "resolution"},
                    headers=auth())
    assert [b["case_id"] for b in since.json()] == ["R0000000"]


def test_api_retry_needs_the_operate_role(api: TestClient, history: dict[str, int]) -> None:
    refused = history["refused"]
    for other in ("r" * 32, "p" * 32):  # neither a reader nor a producer moves money
        refused_call = api.post(f"/v1/compensations/{refused}/retry", headers=auth(other))
        assert refused_call.status_code == 403
        assert "operate" in refused_call.json()["detail"]["error"]
    assert api.get("/v1/compensations", headers=auth("r" * 32)).status_code == 200
    done = api.post(f"/v1/compensations/{refused}/retry", headers=auth())
    assert done.status_code == 200 and done.json()["status"] == "pending"
    conflict = api.post(f"/v1/compensations/{refused}/retry", headers=auth())
    assert conflict.status_code == 409
    assert "only a failed one" in conflict.json()["detail"]["error"]
    assert api.post("/v1/compensations/999/retry", headers=auth()).status_code == 404
    assert api.get("/v1/breaches?since=2026-11-26T04:00:00", headers=auth()).status_code == 422
    assert api.get("/v1/breaches?status=bogus", headers=auth()).status_code == 422
