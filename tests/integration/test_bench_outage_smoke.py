"""The catch-up, HTTP and memory benchmarks still run end to end (tiny N; nothing is timed).

Each starts the real roles (``slamon worker``, ``slamon scheduler``, ``slamon api``) on the
test Postgres and a redis-server of its own, and fails by itself when the work is not done
exactly (a backlog deadline without exactly one breach and one ledger entry, a refused HTTP
batch, an event not applied); these tests check the figures each reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import bench_catchup, bench_http, bench_memory
from benchmarks.report import read_figures


@pytest.mark.postgres
@pytest.mark.redis
def test_catchup_benchmark_pays_the_backlog_once(postgres_url: str, tmp_path: Path) -> None:
    out = tmp_path / "catchup.json"
    bench_catchup.main(["--database-url", postgres_url, "--own-redis", "--due", "30",
                        "--pending", "40", "--live", "4", "--live-window", "1", "--workers", "1",
                        "--stall", "60", "--json", str(out)])
    figures = {f.measure: f for f in read_figures(out).figures}
    paid = figures["restart → every one of their 30 compensations paid (ledger)"]
    lag = figures["fire lag p99 of 4 live deadlines during the catch-up"]
    breached = figures["restart → every breach of 30 overdue deadlines recorded"]
    assert 0 < breached.value <= paid.value and paid.goal is not None and lag.goal is not None
    assert lag.value >= 0


@pytest.mark.postgres
@pytest.mark.redis
def test_http_benchmark_compares_post_with_the_sdk(postgres_url: str, tmp_path: Path) -> None:
    out = tmp_path / "http.json"
    bench_http.main(["--database-url", postgres_url, "--own-redis", "--events", "40", "--batch",
                     "20", "--clients", "2", "--repeat", "1", "--workers", "1", "--no-wrk",
                     "--stall", "60", "--json", str(out)])
    (figure,) = read_figures(out).figures
    assert figure.measure.startswith("POST /v1/events, batches of 20, 2 client thread(s)")
    assert figure.peer == "SDK, batches of 20, same worker"
    assert figure.value > 0 and figure.peer_value and figure.ratio and figure.goal


@pytest.mark.postgres
@pytest.mark.redis
def test_memory_benchmark_samples_every_role(postgres_url: str, tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    bench_memory.main(["--database-url", postgres_url, "--own-redis", "--pending", "60",
                       "--events", "10", "--settle", "0.5", "--requests", "1", "--workers", "1",
                       "--stall", "60", "--json", str(out)])
    figures = read_figures(out).figures
    assert [f.measure.split(" with ")[0] for f in figures] == [
        "RSS of slamon worker", "RSS of slamon scheduler", "RSS of slamon api"]
    for f in figures:
        # 60 seeded beside those the ingested events left pending.
        assert f.value > 20 and f.peer_value and f.peer_value > 20, f
        assert f.peer and f.peer.startswith("the same with ") and f.goal is not None
