"""The ingest benchmark still runs end to end (tiny N; nothing here is timed or compared).

It starts the real no-op and ``slamon worker`` processes on the test Redis and database, and
fails if any event is not applied or any case lacks its deadlines (the benchmark checks that
itself after the ingest phase).
"""

from __future__ import annotations

import re

import pytest

from benchmarks.bench_ingest import main


@pytest.mark.redis
def test_ingest_benchmark_runs_on_the_test_services(
    db_url: str, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    services = ["--database-url", db_url, "--redis-url", redis_url]
    main([*services, "--events", "200", "--batch", "50", "--noop-tasks", "40", "--workers", "1"])
    out = capsys.readouterr().out
    assert re.search(r"no-op 40 tasks in [\d.]+ s", out), out
    assert re.search(r"ingest 200 events \(batch 50\) in [\d.]+ s", out), out
    assert re.search(r"ratio \d+\.\d\d \(target >= 1\.5: (met|NOT met)\)", out), out
