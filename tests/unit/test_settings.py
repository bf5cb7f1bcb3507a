from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from slamon.settings import NoBrokerError, Settings


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.database == f"sqlite:///{tmp_path / 'slamon.db'}"
    assert settings.points_adapter == "ledger"
    with pytest.raises(NoBrokerError, match="slamon up"):
        _ = settings.broker


def test_running_stack_is_found_through_the_home(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(
        json.dumps({"redis_url": "redis://127.0.0.1:1/0", "api_token": "t" * 20})
    )
    settings = Settings(home=tmp_path)
    assert settings.broker == "redis://127.0.0.1:1/0"
    assert settings.token_roles() == {"t" * 20: {"produce", "read"}}


def test_explicit_redis_url_wins(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"redis_url": "redis://127.0.0.1:1/0"}))
    assert Settings(home=tmp_path, redis_url="redis://elsewhere:6379/0").broker.endswith(
        "elsewhere:6379/0"
    )


def test_environment_is_read_and_validated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path))
    monkeypatch.setenv("SLAMON_API_TOKENS", json.dumps({"r" * 16: "read"}))
    monkeypatch.setenv("SLAMON_WORKER_CONCURRENCY", "3")
    settings = Settings()
    assert settings.worker_concurrency == 3
    assert settings.token_roles()["r" * 16] == {"read"}
    monkeypatch.setenv("SLAMON_API_PORT", "99999")
    with pytest.raises(ValidationError, match="api_port"):
        Settings()


def test_http_points_adapter_needs_url_and_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SLAMON_POINTS_URL"):
        Settings(home=tmp_path, points_adapter="http")


def test_role_token_values_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, api_tokens={"x" * 16: "admin"})
