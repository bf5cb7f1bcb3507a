"""Settings of the timers: the redispatch threshold is bounded, webhooks must be signed, and
every timing reaches the runtime and the scheduler loop from the settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from slamon import scheduler_role
from slamon.bootstrap import build_runtime
from slamon.models.events import MAX_CLOCK_SKEW
from slamon.models.signing import new_secret
from slamon.scheduler.outbox import RelayResult
from slamon.scheduler.publishers import WebhookPublisher
from slamon.settings import Settings
from slamon.worker import runtime as runtime_mod


def test_redispatch_threshold_defaults_to_two_minutes(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).compensation_redispatch_seconds == 120.0


@pytest.mark.parametrize("seconds", [0, 5, 7200])
def test_redispatch_threshold_is_bounded(tmp_path: Path, seconds: float) -> None:
    with pytest.raises(ValidationError, match="compensation_redispatch_seconds"):
        Settings(home=tmp_path, compensation_redispatch_seconds=seconds)


def test_webhooks_without_a_secret_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SLAMON_WEBHOOK_SECRET"):
        Settings(home=tmp_path, webhook_urls=["https://hooks.example/slamon"])
    signed = Settings(home=tmp_path, webhook_urls=["https://hooks.example/slamon"],
                      webhook_secret=new_secret())
    assert [str(u) for u in signed.webhook_urls] == ["https://hooks.example/slamon"]


# -- every timing is read from the settings and passed in, never defaulted twice ---------------

TIMINGS: dict[str, Any] = {
    "compensation_redispatch_seconds": 30,
    "claim_lease_seconds": 7,
    "outbox_lease_seconds": 11,
    "max_clock_skew_seconds": 13,
    "webhook_timeout_seconds": 3,
}


def test_the_timing_defaults(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert (settings.redispatch_after, settings.claim_lease, settings.outbox_lease) == (
        timedelta(minutes=2), timedelta(seconds=60), timedelta(seconds=30)
    )
    assert settings.max_clock_skew == MAX_CLOCK_SKEW == timedelta(minutes=5)
    assert settings.webhook_timeout_seconds == 5.0


def test_the_runtime_gets_its_timings_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_mod, "_current", None)
    runtime = build_runtime(Settings(home=tmp_path, **TIMINGS))
    assert runtime.redispatch_after == timedelta(seconds=30)
    assert runtime.max_clock_skew == timedelta(seconds=13)


def test_the_scheduler_loop_gets_its_timings_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        home=tmp_path, redis_url="redis://127.0.0.1:1/0", sweep_batch=17,
        webhook_urls=["https://hooks.example/slamon"], webhook_secret=new_secret(), **TIMINGS,
    )
    relayed: list[tuple[Any, ...]] = []

    def relay_outbox(*args: Any) -> RelayResult:
        relayed.append(args)
        return RelayResult(0, 0, 0)

    monkeypatch.setattr(scheduler_role, "relay_outbox", relay_outbox)
    monkeypatch.setattr(runtime_mod, "_current", None)
    loop = scheduler_role.build_loop(settings, build_runtime(settings))
    config = loop.config
    assert (config.batch, config.lease, config.redispatch_after) == (
        17, timedelta(seconds=7), timedelta(seconds=30)
    )
    assert loop.relay is not None and loop.relay() == 0
    [(_engine, publishers, _clock, batch, lease)] = relayed
    assert (batch, lease) == (17, timedelta(seconds=11))
    [hooks] = [p for p in publishers if isinstance(p, WebhookPublisher)]
    assert hooks._client.timeout.read == 3
