"""The report benchmark still runs end to end at a tiny size (nothing here is timed)."""

from __future__ import annotations

import re

import pytest

from benchmarks.bench_reports import main
from tests.conftest import POSTGRES_URL


@pytest.mark.postgres
def test_report_benchmark_runs(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # postgres_url (unused) fails or skips the test as every Postgres test does; the benchmark
    # makes and drops a schema of its own on the same server.
    assert POSTGRES_URL is not None
    assert main(["--quick", "--cases", "3000", "--repeat", "1", "--postgres-url",
                 POSTGRES_URL]) == 0
    out = capsys.readouterr().out
    assert re.search(r"seeded 3,000 cases, 6,000 deadlines, [\d,]+ breaches", out), out
    for report in ("a. by merchant, whole history", "b. by day, last 30 days",
                   "c. by merchant, last 7 days", "d. by city"):
        assert re.search(rf"{re.escape(report)}.*: \d+ ms median over [\d,]+ cases", out), out
    assert out.count("Execution Time") >= 4, out
