"""The timer benchmark still runs end to end (tiny N; nothing here is timed or compared).

Every phase runs on the test Postgres with the real processes (a countdown worker, ``slamon
worker``, ``slamon scheduler``) and a redis-server of the run's own (``--own-redis``): the
benchmark empties its broker between phases, and a shared server's indexes are emptied by
other test runs too. The benchmark fails by itself when a phase goes
wrong (a sweep that claims or breaches the wrong number of rows, a payment not issued, a
ledger with other than one entry per payment, a stalled worker); this test checks that the
report comes out complete and that our deadlines each gave exactly one breach and payment.
"""

from __future__ import annotations

import re

import pytest

from benchmarks.bench_timers import main

SIZES = [
    "--pending", "400", "--due", "20", "--repeat", "2", "--compensations", "30",
    "--rate", "40", "--duration", "1.5", "--batch", "4", "--lag-deadlines", "4",
    "--timers", "50", "--dup-timers", "10", "--dup-countdown", "2.5", "--dup-visibility", "1",
    "--workers", "1", "--stall", "60",
]


@pytest.mark.postgres
@pytest.mark.redis
def test_timer_benchmark_runs_on_the_test_services(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--database-url", postgres_url, "--own-redis", *SIZES])
    out = capsys.readouterr().out
    assert "seeded 400 pending deadlines" in out, out
    assert "Limit" in out and "ix_deadlines_due_pending" in out, out  # the claim's plan
    verdict = r"(met|NOT met)$"
    for row in (
        r"sweep claim, 20 due of 400 pending +<= 50 ms +[\d.]+ ms",
        r"sweep claim \+ judge \+ write +<= 50 ms +[\d.]+ ms",
        r"fire lag p99, [\d,]+ events/s sent, [\d,]+/s ingested +<= 2 s +[\d.]+ s \(p50",
        r"compensations/s, compensate\(\) in process, one by one +>= 1,000/s +[\d,]+/s",
        r"compensations/s, compensate_many\(\) in process, chunks of \d+ +>= 1,000/s +[\d,]+/s",
        r"compensations/s, scheduler -> worker -> ledger +>= 1,000/s +[\d,]+/s",
        r"RSS, 50 timers: countdown vs ours +ours smaller +[\d,]+ MiB vs [\d,]+ MiB",
    ):
        assert re.search(rf"^{row} .*{verdict}", out, re.MULTILINE), (row, out)
    # Ours: one breach and one payment per deadline, whatever the countdowns did.
    assert re.search(r"ours: 10 breaches, 10 ledger entries \(10 keys\)", out), out
    assert re.search(r"vs 0 \(10 breaches, 10 paid for 10 deadlines\) +- +met$", out,
                     re.MULTILINE), out
