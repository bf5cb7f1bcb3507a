"""Settings of the timers: the redispatch threshold is bounded, webhooks must be signed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from slamon.settings import Settings


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
                      webhook_secret="s3cret")
    assert [str(u) for u in signed.webhook_urls] == ["https://hooks.example/slamon"]
