"""The ingest watermark's reading (pure): its horizon, how far behind, what operators read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slamon.models.watermark import IngestWatermark, from_epoch

NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)


def test_caught_up_the_horizon_is_the_brokers_clock() -> None:
    mark = IngestWatermark(NOW, None)
    assert mark.horizon == NOW and mark.behind_seconds == 0.0
    assert mark.describe(10) == "ok" and not mark.paused(10)


def test_behind_the_horizon_is_the_oldest_unapplied_acceptance() -> None:
    mark = IngestWatermark(NOW, NOW - timedelta(seconds=93.4), unapplied=7)
    assert mark.horizon == NOW - timedelta(seconds=93.4)
    assert mark.paused(10) and not mark.paused(100)
    assert mark.describe(10) == "judgement paused, ingest behind by 93 s"
    assert mark.describe(100) == "ok"


def test_an_acceptance_a_hair_after_the_reading_is_not_negative_lag() -> None:
    assert IngestWatermark(NOW, NOW + timedelta(milliseconds=1)).behind_seconds == 0.0


def test_epoch_seconds_are_utc_instants() -> None:
    assert from_epoch(NOW.timestamp()) == NOW
