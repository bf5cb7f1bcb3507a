"""Prometheus metrics, read from the database and the broker at scrape time.

The database is the source of truth shared by every worker, scheduler and API replica, so
every figure is computed from it (or from the shared broker) on each scrape rather than kept
in per-process counters that would each see a fraction of the work, and two replicas scraped
at the same moment give the same numbers. Counters and histograms are counts over rows that
only ever join the counted set (:mod:`slamon.api.metric_counts` says why each one is
monotonic); gauges are the state now. ``deploy/prometheus/alerts.yml`` builds on:

- ``slamon_deadlines_overdue`` > 0, ``slamon_deadline_fire_lag_seconds``: scheduler behind;
- ``slamon_dead_letters_total``: dead letters growing, by cause;
- ``slamon_compensation_outcomes_total{state="failed"}``, ``slamon_compensations{status=
  "review"}``, ``slamon_oldest_pending_compensation_age_seconds``: payouts failing or held;
- ``slamon_payout_guard_tripped`` == 1, ``slamon_compensations{status="held"}`` > 0: the
  payout guard stopped automatic payment; a person must release or cancel;
- ``slamon_oldest_unpublished_outbox_age_seconds``: the outbox relay is stuck;
- ``slamon_workers`` == 0, ``slamon_queue_depth``: no worker consumes the queues;
- ``slamon_ingest_watermark_age_seconds``: ingest is behind, and judgement of the deadlines
  due since the oldest unapplied message was accepted waits for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, func, select

from slamon.api import metric_counts, summary
from slamon.api.broker_gauges import BrokerProbe
from slamon.api.metric_counts import EventCounts, Histogram
from slamon.models.db.engine import read_only
from slamon.models.db.tables import Breach, Case, Compensation, DeadLetter, Deadline
from slamon.models.dead_letter_causes import Cause
from slamon.models.events import EVENT_TYPES
from slamon.worker.heartbeat import ALIVE_WITHIN_SECONDS

# The deadline kinds of the shipped policies; the API passes those of the loaded ones.
DEFAULT_KINDS = ("response", "resolution")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DatabaseCollector(Collector):
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] = _utc_now,
        broker: BrokerProbe | None = None,
        kinds: Iterable[str] = DEFAULT_KINDS,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.broker = broker
        self.kinds = tuple(kinds)

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        with read_only(self.engine).connect() as conn:
            events = metric_counts.event_counts(conn, EVENT_TYPES)
            yield from self._states(conn, events)
            yield from self._timeliness(conn, now)
            yield from self._counters(conn, events)
            yield from self._histograms(conn)
        if self.broker is not None:
            yield from self._broker(now)

    # -- gauges: the state now ---------------------------------------------------------------

    def _states(self, conn: Connection, events: EventCounts) -> Iterator[Metric]:
        # Known states are exported at 0 too: a series that appears only once non-zero
        # cannot be alerted on with a plain comparison.
        for name, doc, column, label, known in (
            ("slamon_cases", "Cases by status.", Case.status, "status", summary.CASE_STATUSES),
            ("slamon_deadlines", "Deadlines by state (pending: not judged yet).",
             Deadline.state, "state", summary.DEADLINE_STATES),
            ("slamon_breaches",
             "Breaches by status (open counts as a 违背承诺 violation; settled was paid).",
             Breach.status, "status", summary.BREACH_STATUSES),
            ("slamon_compensations",
             "Compensations by status (held: stopped by the payout guard for a person; "
             "review: paid, then contested).",
             Compensation.status, "status", summary.COMPENSATION_STATUSES),
        ):
            yield _labelled(GaugeMetricFamily(name, doc, labels=[label]),
                            summary.counts_by(conn, column, known))
        yield _labelled(
            GaugeMetricFamily(
                "slamon_compensation_points",
                "Points of the compensations now in each status (issued: paid to consumers).",
                labels=["status"],
            ),
            {s: t.points for s, t in summary.compensation_totals(conn).items()},
        )
        yield GaugeMetricFamily(
            "slamon_payout_guard_tripped",
            "1 while the payout guard is tripped: every compensation is held for a person.",
            value=1 if summary.payout_guard(conn, UTC)["tripped"] else 0,
        )
        yield _labelled(
            GaugeMetricFamily(
                "slamon_events_parked",
                "Events waiting for their case to be opened or for an earlier late event.",
                labels=["type"],
            ),
            events.parked,
        )
        unreplayed = conn.execute(
            select(func.count()).where(DeadLetter.replayed_at.is_(None))
        ).scalar_one()
        yield GaugeMetricFamily(
            "slamon_dead_letters_unreplayed",
            "Dead letters not replayed yet (waiting for a fix or an operator).",
            value=unreplayed,
        )
        yield GaugeMetricFamily(
            "slamon_outbox_backlog",
            "Outbound events not yet relayed.",
            value=summary.outbox_backlog(conn),
        )

    def _timeliness(self, conn: Connection, now: datetime) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "slamon_deadlines_overdue",
            "Pending deadlines whose judge instant passed more than "
            f"{summary.OVERDUE_AFTER.total_seconds():g}s ago (the scheduler is behind).",
            value=summary.overdue_deadlines(conn, now),
        )
        age = summary.oldest_unpublished_age(conn, now)
        yield GaugeMetricFamily(
            "slamon_oldest_unpublished_outbox_age_seconds",
            "Age of the oldest outbound event not yet relayed; 0 when the outbox is empty.",
            value=age or 0.0,
        )
        yield GaugeMetricFamily(
            "slamon_oldest_pending_compensation_age_seconds",
            "Age of the oldest compensation not paid yet; 0 when none is pending.",
            value=metric_counts.oldest_pending_compensation_age(conn, now),
        )

    # -- counters and histograms: counted over rows that only join the set -------------------

    def _counters(self, conn: Connection, counted: EventCounts) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "slamon_events",
            "Events received, by type and outcome (applied, rejected by the case lifecycle, "
            "duplicate event id). Dead-lettered ones are slamon_dead_letters_total.",
            labels=["type", "outcome"],
        )
        for (event_type, outcome), count in counted.totals.items():
            events.add_metric([event_type, outcome], count)
        yield events
        yield _labelled(
            CounterMetricFamily(
                "slamon_dead_letters", "Messages dead-lettered, by cause.", labels=["cause"]
            ),
            metric_counts.dead_letters_by_cause(conn, Cause),
        )
        yield _labelled(
            CounterMetricFamily(
                "slamon_breaches_recorded",
                "Breaches recorded (broken promises), by deadline kind.",
                labels=["kind"],
            ),
            metric_counts.breaches_by_kind(conn, self.kinds),
        )
        yield _labelled(
            CounterMetricFamily(
                "slamon_compensation_outcomes",
                "Compensations reaching a final state: issued (paid), failed (refused by the "
                "points service), cancelled (breach contested before payment), review "
                "(paid, then contested).",
                labels=["state"],
            ),
            metric_counts.compensation_outcomes(conn),
        )
        yield CounterMetricFamily(
            "slamon_points_issued",
            "Tmall points paid to consumers as penalties (100 points = 1 yuan).",
            value=metric_counts.points_issued(conn),
        )

    def _histograms(self, conn: Connection) -> Iterator[Metric]:
        lag = HistogramMetricFamily(
            "slamon_deadline_fire_lag_seconds",
            "How long after its judge instant (due + grace) the scheduler recorded a breach, "
            "for deadlines it knew before that instant (late-arriving cases are left out).",
        )
        _observe(lag, [], metric_counts.fire_lag(conn))
        yield lag
        lateness = HistogramMetricFamily(
            "slamon_evidence_lateness_seconds",
            "How long after it occurred each event was received (received_at - occurred_at).",
            labels=["type"],
        )
        for event_type, histogram in metric_counts.evidence_lateness(conn, EVENT_TYPES).items():
            _observe(lateness, [event_type], histogram)
        yield lateness

    # -- the broker ----------------------------------------------------------------------------

    def _broker(self, now: datetime) -> Iterator[Metric]:
        assert self.broker is not None
        reading = self.broker.read(now.timestamp())
        yield GaugeMetricFamily(
            "slamon_broker_up", "1 if the broker (Redis) answered this scrape.",
            value=0 if reading is None else 1,
        )
        depth = GaugeMetricFamily(
            "slamon_queue_depth",
            "Messages waiting in each Celery queue. No sample when the broker is down.",
            labels=["queue"],
        )
        workers = GaugeMetricFamily(
            "slamon_workers",
            f"Workers that stamped their heartbeat in the last {ALIVE_WITHIN_SECONDS:g} s.",
        )
        age = GaugeMetricFamily(
            "slamon_ingest_watermark_age_seconds",
            "How long the oldest accepted, not yet applied message has waited (0: caught up); "
            "deadlines due since then are not judged until it is applied.",
        )
        unapplied = GaugeMetricFamily(
            "slamon_ingest_unapplied_messages", "Messages accepted and not yet applied.",
        )
        lost = GaugeMetricFamily(
            "slamon_ingest_presumed_lost_messages",
            "Unapplied messages older than SLAMON_INGEST_PRESUMED_LOST_SECONDS: no longer "
            "waited for.",
        )
        if reading is not None:
            for queue, count in reading.queue_depths.items():
                depth.add_metric([queue], count)
            workers.add_metric([], reading.workers)
            age.add_metric([], reading.watermark.behind_seconds)
            unapplied.add_metric([], reading.watermark.unapplied)
            lost.add_metric([], reading.watermark.presumed_lost)
        yield depth
        yield workers
        yield age
        yield unapplied
        yield lost


def _labelled(family: Metric, values: dict[str, int]) -> Metric:
    for label, value in values.items():
        family.add_metric([label], value)  # type: ignore[attr-defined]
    return family


def _observe(family: HistogramMetricFamily, labels: list[str], histogram: Histogram) -> None:
    buckets = [(f"{bound:g}", float(count)) for bound, count in histogram.buckets]
    buckets.append(("+Inf", float(histogram.count)))
    family.add_metric(labels, buckets, histogram.sum)


def render_metrics(
    engine: Engine,
    clock: Callable[[], datetime] = _utc_now,
    broker: BrokerProbe | None = None,
    kinds: Iterable[str] = DEFAULT_KINDS,
) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine, clock, broker, kinds))
    return generate_latest(registry), CONTENT_TYPE_LATEST
