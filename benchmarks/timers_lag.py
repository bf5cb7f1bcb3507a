"""Phases on the real roles: compensations through scheduler and worker, fire lag under ingest.

Both run against a ``slamon worker`` (every production queue) and a ``slamon scheduler`` that
the caller started, on the benchmark's database, which holds the million pending deadlines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from benchmarks.ingest_workload import FACTS
from benchmarks.timers_procs import Alive, Memory, tree_memory, wait_until
from benchmarks.timers_seed import (
    DeadlineSet,
    count_breaches,
    count_issued,
    count_ledger,
    seed,
)
from benchmarks.timers_sweep import PayReport
from slamon.models.db.tables import Breach, InboxEvent, LedgerEntry, OutboxMessage
from slamon.sdk import Producer

SH = ZoneInfo("Asia/Shanghai")
LAG_PREFIX = "tl-"
INGEST_PREFIX = "ti-"
RESPONSE_AFTER = 100  # a case's response is published this many openings after it opened


def utcnow() -> datetime:
    return datetime.now(UTC)


def pay_through_roles(
    engine: Engine, prefix: str, count: int, alive: Alive, stall: float
) -> PayReport:
    """``count`` deadlines due at once, through the running scheduler and worker to the ledger.

    The real path, whatever shape it has (the scheduler sweeps, records the breaches and
    dispatches their compensations; the worker pays them). The rate is ``count`` over the
    time from the first breach's ``detected_at`` to the last ledger entry's ``issued_at``
    (database times, one clock); the ledger must then hold one entry per compensation.
    """
    seed(engine, DeadlineSet(prefix, count, utcnow() + timedelta(seconds=1),
                             timedelta(milliseconds=1)))

    def issued() -> int:
        with engine.connect() as conn:
            return count_issued(conn, prefix)

    wait_until(lambda: issued() >= count, issued, alive, stall, f"{count} payments",
               interval=0.2)
    with engine.connect() as conn:
        entries, keys = count_ledger(conn, prefix)
        first, last_detected = conn.execute(
            select(func.min(Breach.detected_at), func.max(Breach.detected_at)).where(
                Breach.case_id.startswith(prefix))
        ).one()
        last_paid = conn.scalar(
            select(func.max(LedgerEntry.issued_at)).where(LedgerEntry.case_id.startswith(prefix))
        )
    if (entries, keys) != (count, count) or last_paid is None:
        raise RuntimeError(f"ledger holds {entries} entries ({keys} keys) for {count} payments")
    return PayReport(count, (last_paid - first).total_seconds(),
                     (last_detected - first).total_seconds())


def wait_outbox_relayed(engine: Engine, alive: Alive, stall: float) -> None:
    """Until the scheduler's relay has published every outbox row (a backlog left by the
    in-process phases would otherwise be relayed during the next measurement)."""

    def unpublished() -> int:
        with engine.connect() as conn:
            return int(conn.scalar(
                select(func.count()).where(OutboxMessage.published_at.is_(None))
            ) or 0)

    wait_until(lambda: unpublished() == 0, lambda: -unpublished(), alive, stall,
               "the outbox relay", interval=0.5)


# --- fire lag ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LagOptions:
    rate: float  # events/s published
    duration: float  # seconds
    batch: int  # events per SDK message
    deadlines_per_second: float
    stall: float


@dataclass(frozen=True)
class LagReport:
    lags: list[float]  # detected_at - judge_at, seconds, one per lag deadline
    published: int
    window: float  # seconds the publisher ran
    ingested_in_window: int  # events recorded by the worker by the end of the window
    drained_after: float  # seconds after the window until every event was recorded
    outcomes: dict[str, int]
    peak: Memory  # worker + scheduler, the largest sample during the window

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the lags."""
        ordered = sorted(self.lags)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def measure_fire_lag(
    engine: Engine, producer: Producer, pids: tuple[int, ...], alive: Alive, o: LagOptions
) -> LagReport:
    """Breach lag of deadlines coming due continuously while events are ingested.

    1. Seed ``deadlines_per_second x duration`` deadlines whose ``judge_at`` is spread evenly
       over the coming window.
    2. Publish ``rate`` events/s through the SDK for ``duration`` s (``help.opened`` of new
       cases and, ``RESPONSE_AFTER`` openings later, their ``help.responded``), sampling the
       roles' memory every second.
    3. Wait until every event is recorded and every seeded deadline has its breach; the lag
       of each is ``detected_at - judge_at`` from the breaches table.
    """
    count = max(1, round(o.deadlines_per_second * o.duration))
    seed(engine, DeadlineSet(LAG_PREFIX, count, utcnow() + timedelta(seconds=1),
                             timedelta(seconds=o.duration), at_risk_before=timedelta(seconds=10)))
    peak = Memory(0.0, 0.0, 0)
    per_batch = o.batch / o.rate
    batches = max(1, round(o.rate * o.duration / o.batch))
    events = ingest_events()
    started = time.perf_counter()
    next_sample = started
    for k in range(batches):
        delay = started + k * per_batch - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        producer.publish_many([next(events) for _ in range(o.batch)])
        if time.perf_counter() >= next_sample:
            alive.check()
            sample = sum((tree_memory(pid) for pid in pids), Memory(0.0, 0.0, 0))
            peak = max(peak, sample, key=lambda m: m.rss)
            next_sample += 1.0
    window = time.perf_counter() - started
    published = batches * o.batch
    in_window = recorded_events(engine)
    wait_until(lambda: recorded_events(engine) >= published, lambda: recorded_events(engine),
               alive, o.stall, f"{published} events recorded", interval=0.2)
    drained = time.perf_counter() - started - window

    def breached() -> int:
        with engine.connect() as conn:
            return count_breaches(conn, LAG_PREFIX)

    wait_until(lambda: breached() >= count, breached, alive, o.stall, f"{count} breaches")
    return LagReport(read_lags(engine), published, window, in_window, drained,
                     event_outcomes(engine), peak)


def ingest_events() -> Iterator[dict[str, object]]:
    """Endless valid events, stamped when drawn: openings, each case's response later."""
    k = 0
    while True:
        now = datetime.now(SH).isoformat()
        yield {
            "event_id": f"{INGEST_PREFIX}o{k}", "type": "help.opened",
            "case_id": f"{INGEST_PREFIX}{k}", "occurred_at": now, "order_id": f"O{k}",
            "buyer_account": f"tb_buyer_{k % 9973}", "merchant_id": f"M{k % 97}",
            "provider_id": f"P{k % 31}", "city": "杭州", **FACTS[k % len(FACTS)],
        }
        if k >= RESPONSE_AFTER:
            j = k - RESPONSE_AFTER
            yield {"event_id": f"{INGEST_PREFIX}r{j}", "type": "help.responded",
                   "case_id": f"{INGEST_PREFIX}{j}", "occurred_at": now}
        k += 1


def recorded_events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(InboxEvent)) or 0)


def event_outcomes(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(InboxEvent.outcome, func.count()).group_by(InboxEvent.outcome))
        return {str(outcome): int(n) for outcome, n in rows}


def read_lags(engine: Engine) -> list[float]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Breach.judge_at, Breach.detected_at).where(
                Breach.case_id.startswith(LAG_PREFIX)
            )
        ).all()
    return [(detected - judge_at).total_seconds() for judge_at, detected in rows]
