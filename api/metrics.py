"""Prometheus metrics read from the database at scrape time.

The database is the source of truth shared by every worker and scheduler replica, so gauges
are computed from it on each scrape rather than from per-process counters that would each see
a fraction of the work.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from models.tables import Breach, Case, Compensation, DeadLetter, Deadline, OutboxMessage


class DatabaseCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.engine.connect() as conn:
            for name, doc, column, label in (
                ("slamon_cases", "Cases by status.", Case.status, "status"),
                ("slamon_deadlines", "Deadlines by state.", Deadline.state, "state"),
                ("slamon_breaches", "Breaches by status.", Breach.status, "status"),
                ("slamon_compensations", "Compensations by status.", Compensation.status, "status"),
            ):
                family = GaugeMetricFamily(name, doc, labels=[label])
                for value, count in conn.execute(select(column, func.count()).group_by(column)):
                    family.add_metric([str(value)], count)
                yield family
            dead = conn.execute(select(func.count()).select_from(DeadLetter)).scalar_one()
            yield GaugeMetricFamily("slamon_dead_letters", "Dead-lettered messages.", value=dead)
            backlog = conn.execute(
                select(func.count()).where(OutboxMessage.published_at.is_(None))
            ).scalar_one()
            yield GaugeMetricFamily(
                "slamon_outbox_backlog", "Outbound events not yet relayed.", value=backlog
            )


def render_metrics(engine: Engine) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine))
    return generate_latest(registry), CONTENT_TYPE_LATEST
