"""``python -m benchmarks`` runs benchmarks as their own processes and writes one report.

Tiny sizes and two benchmarks (the calendar, and the catch-up with its real roles on the test
Postgres): what is checked is the runner (the commands, the collected figures, the report's
sections, tables and goals), not the figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from benchmarks.__main__ import main


@pytest.mark.postgres
@pytest.mark.redis
def test_runner_writes_one_report_with_every_figure(postgres_url: str, tmp_path: Path) -> None:
    # Each benchmark creates (and drops) a database of its own through this server.
    admin = make_url(postgres_url).set(query={}).render_as_string(hide_password=False)
    report = tmp_path / "BENCHMARKS.md"
    code = main(["--tiny", "--only", "bench_calendar,bench_catchup", "--output", str(report),
                 "--postgres", admin])
    text = report.read_text(encoding="utf-8")
    assert code == 0, text
    assert text.startswith("# Benchmarks\n")
    assert "`python -m benchmarks --tiny`" in text and "Load average (1, 5, 15 min)" in text
    assert "## Goals" in text
    assert "## Business calendar (Asia/Shanghai, 09:00-18:00)" in text
    assert "`python -m benchmarks.bench_calendar --calls 200 --repeat 2`" in text
    assert "| add(1 h) | " in text and "plain aware datetime + timedelta" in text
    assert "## Catch-up after an outage (PostgreSQL)" in text
    assert "`python -m benchmarks.bench_catchup --own-redis --due 20" in text
    assert "| value ≤ 60 s | Catch-up after an outage (PostgreSQL): restart → every one of " \
           "their 20 compensations paid (ledger) |" in text


def test_runner_refuses_an_unknown_benchmark(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no benchmark named bench_nope"):
        main(["--tiny", "--only", "bench_nope", "--output", str(tmp_path / "B.md")])
