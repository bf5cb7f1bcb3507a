"""The ingest benchmark still runs end to end (tiny N; nothing here is timed or compared).

It starts the real no-op (production and plain Celery), ``slamon worker`` and naive-peer
processes on the test Redis and database, writes the database floor beside them, and fails if
any event is not applied, any case lacks its deadlines or the mixed stream does not end in its
exact state (the benchmark checks all of that itself); this test checks that every figure is
reported beside its peer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.bench_ingest import main
from benchmarks.report import read_figures

SIZES = ["--events", "60", "--mixed-cases", "20", "--naive-events", "6", "--noop-tasks", "20",
         "--batch", "20", "--workers", "1", "--repeat", "1"]


@pytest.mark.redis
def test_ingest_benchmark_runs_on_the_test_services(
    db_url: str, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = tmp_path / "ingest.json"
    main(["--database-url", db_url, "--redis-url", redis_url, *SIZES, "--json", str(figures)])
    out = capsys.readouterr().out
    assert re.search(r"^round 1: no-op 20 tasks: production [\d,]+/s, plain Celery [\d,]+/s",
                     out, re.MULTILINE), out
    assert re.search(r"ingest 60 events \(batch 20\) in [\d.]+ s", out), out
    assert re.search(r"mixed 64 events at [\d,]+/s vs floor [\d,]+/s", out), out

    result = read_figures(figures)
    peers = {(f.measure.split(",")[0], f.peer) for f in result.figures}
    floor = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    expected = {
        ("help.opened", f"database floor: the same rows by "
                        f"{'psycopg' if floor == 'postgresql' else 'sqlite3'} executemany"),
        ("help.opened", "raw Celery no-op, production configuration"),
        ("help.opened", "naive Celery ingest: a task per event, ORM row by row, a countdown "
                        "per deadline"),
        ("raw Celery no-op", "raw Celery no-op, plain Celery defaults"),
    }
    if floor == "postgresql":
        expected.add(("help.opened", "database floor: the same rows by COPY"))
    assert expected <= peers, peers
    mixed = [f for f in result.figures if f.measure.startswith("mixed stream (64 events")]
    assert len(mixed) == 1 and mixed[0].goal is not None, result.figures
    for f in result.figures:
        assert f.value > 0 and f.peer_value and f.peer_value > 0 and f.ratio, f
    assert result.command.startswith("python -m benchmarks.bench_ingest --database-url")
