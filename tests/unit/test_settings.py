from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from slamon.models.signing import new_secret
from slamon.settings import ALL_ROLES, Caller, NoBrokerError, Settings


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
    assert settings.callers() == {"t" * 20: Caller("admin", ALL_ROLES)}


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
    assert settings.callers()["r" * 16].roles == {"read"}
    monkeypatch.setenv("SLAMON_API_PORT", "99999")
    with pytest.raises(ValidationError, match="api_port"):
        Settings()


def test_http_points_adapter_needs_url_and_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SLAMON_POINTS_URL"):
        Settings(home=tmp_path, points_adapter="http")


def test_role_token_values_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, api_tokens={"x" * 16: "admin"})


def test_token_names_are_given_or_a_fingerprint_never_the_token(tmp_path: Path) -> None:
    alice, bot = "a" * 20, "b" * 24
    settings = Settings(home=tmp_path, api_tokens={
        alice: {"role": "operate", "name": "alice"}, bot: "produce"})
    callers = settings.callers()
    assert callers[alice] == Caller("alice", frozenset({"operate"}))
    assert callers[bot].name.startswith("produce-") and bot not in callers[bot].name
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, api_tokens={alice: {"role": "operate", "name": "no spaces"}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://hooks.example/slamon", ["https://hooks.example/slamon"]),
        ("https://a.example/x?token=1, https://b.example/y",
         ["https://a.example/x?token=1", "https://b.example/y"]),
        ('["https://a.example/x"]', ["https://a.example/x"]),
        ("", []),
    ],
)
def test_webhook_urls_take_what_people_write(
    value: str, expected: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLAMON_WEBHOOK_URLS", value)
    monkeypatch.setenv("SLAMON_WEBHOOK_SECRET", new_secret())
    assert [str(u) for u in Settings(home=tmp_path).webhook_urls] == expected


def test_every_configured_secret_is_listed_for_masking(tmp_path: Path) -> None:
    hook = new_secret()
    settings = Settings(
        home=tmp_path, api_token="m" * 20, api_tokens={"r" * 16: "read"},
        redis_url="redis://:redis-pass@r:6379/0",
        database_url="postgresql+psycopg://slamon:db-pass@p/slamon",
        webhook_urls=["https://hooks.example/x?token=hook-token"], webhook_secret=hook,
        flower_basic_auth="ops:flower-pass",
    )
    assert set(settings.secrets()) >= {
        "m" * 20, "r" * 16, "redis-pass", "db-pass", "hook-token", hook, "flower-pass"}
