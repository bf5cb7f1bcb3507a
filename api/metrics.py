"""Prometheus metrics read from the database at scrape time.

The database is the source of truth shared by every worker and scheduler replica, so gauges
are computed from it on each scrape rather than from per-process counters that would each see
a fraction of the work. The queries are the dashboard's (:mod:`slamon.api.summary`).

Signals an alert can be built on:
- ``slamon_deadlines_overdue`` > 0 for a few minutes: the scheduler is down or behind.
- ``slamon_breach_fire_lag_seconds{quantile="0.99"}``: how late breaches are being recorded.
- ``slamon_oldest_unpublished_outbox_age_seconds``: the outbox relay is stuck.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, func, select

from slamon.api import summary
from slamon.models.db.engine import read_only
from slamon.models.db.tables import Breach, Case, Compensation, DeadLetter, Deadline

LAG_QUANTILES = (0.5, 0.9, 0.99, 1.0)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DatabaseCollector(Collector):
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock()
        with read_only(self.engine).connect() as conn:
            yield from self._counts(conn)
            yield from self._timeliness(conn, now)
            yield from self._compensation_points(conn)

    def _counts(self, conn: Connection) -> Iterator[GaugeMetricFamily]:
        # Known states are exported at 0 too: a series that appears only once non-zero
        # cannot be alerted on with a plain comparison.
        for name, doc, column, label, known in (
            ("slamon_cases", "Cases by status.", Case.status, "status", summary.CASE_STATUSES),
            (
                "slamon_deadlines",
                "Deadlines by state.",
                Deadline.state,
                "state",
                summary.DEADLINE_STATES,
            ),
            (
                "slamon_breaches",
                "Breaches by status (open counts as a 违背承诺 violation; settled was paid).",
                Breach.status,
                "status",
                summary.BREACH_STATUSES,
            ),
            (
                "slamon_compensations",
                "Compensations by status.",
                Compensation.status,
                "status",
                summary.COMPENSATION_STATUSES,
            ),
        ):
            family = GaugeMetricFamily(name, doc, labels=[label])
            for value, count in summary.counts_by(conn, column, known).items():
                family.add_metric([value], count)
            yield family
        dead = conn.execute(select(func.count()).select_from(DeadLetter)).scalar_one()
        yield GaugeMetricFamily("slamon_dead_letters", "Dead-lettered messages.", value=dead)
        yield GaugeMetricFamily(
            "slamon_outbox_backlog",
            "Outbound events not yet relayed.",
            value=summary.outbox_backlog(conn),
        )

    def _timeliness(self, conn: Connection, now: datetime) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "slamon_deadlines_overdue",
            "Pending deadlines whose judge instant passed more than "
            f"{summary.OVERDUE_AFTER.total_seconds():g}s ago (the scheduler is behind).",
            value=summary.overdue_deadlines(conn, now),
        )
        lag = summary.fire_lag(conn, now)
        window = f"{summary.LAG_WINDOW.total_seconds():g}s"
        # A gauge per quantile rather than a Prometheus summary: the window slides, so a
        # summary's _count and _sum would go down, which rate() reads as counter resets.
        quantiles = GaugeMetricFamily(
            "slamon_breach_fire_lag_seconds",
            "Breach-fire lag (detected_at - judge_at) of the breaches detected in the last "
            f"{window}; quantile 1 is the largest. No sample when there were none.",
            labels=["quantile"],
        )
        for q in LAG_QUANTILES:
            value = lag.quantile(q)
            if value is not None:
                quantiles.add_metric([f"{q:g}"], value)
        yield quantiles
        yield GaugeMetricFamily(
            "slamon_breach_fire_lag_breaches",
            f"Breaches the lag quantiles are computed over (detected in the last {window}, "
            f"at most the newest {summary.LAG_SAMPLE_LIMIT}).",
            value=len(lag.seconds),
        )
        age = summary.oldest_unpublished_age(conn, now)
        yield GaugeMetricFamily(
            "slamon_oldest_unpublished_outbox_age_seconds",
            "Age of the oldest outbound event not yet relayed; 0 when the outbox is empty.",
            value=age or 0.0,
        )

    def _compensation_points(self, conn: Connection) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "slamon_compensation_points_total",
            "Points of the compensations in each status (issued = paid to consumers).",
            labels=["status"],
        )
        for status, total in summary.compensation_totals(conn).items():
            family.add_metric([status], total.points)
        yield family


def render_metrics(engine: Engine, clock: Callable[[], datetime] = _utc_now) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine, clock))
    return generate_latest(registry), CONTENT_TYPE_LATEST
