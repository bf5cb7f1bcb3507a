"""How long one ``/metrics`` scrape takes on a large Postgres database.

Seeds, in a fresh schema, ``--cases`` cases with two events each (opened 0-10 min late, and
a response), a breached response deadline and a pending resolution deadline, a breach and an
issued compensation per case, and three outbox rows per case (breached, issued, and every
tenth contested); then renders the whole exposition ``--repeat`` times and prints the
median, with the time of each family's query alone.

    python -m benchmarks.metrics_scrape --url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import Connection, Engine, text

from slamon.api import metric_counts, summary
from slamon.api.metrics import render_metrics
from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade
from slamon.models.db.tables import Breach, Case, Compensation, Deadline
from slamon.models.dead_letter_causes import Cause
from slamon.models.events import EVENT_TYPES

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)

_SEED = [
    """INSERT INTO cases (case_id, status, monitored, policy_id, opened_at, order_id,
        buyer_account, merchant_id, category, services, reopen_count, last_event_at,
        created_at, updated_at)
       SELECT 'B' || g, 'responded', true, 'tmall-2022', :opened, 'O' || g, 'tb' || g,
        'M' || (g % 97), 'furniture', '["delivery_and_installation"]'::json, 0, :opened,
        :opened, :opened FROM generate_series(1, :n) g""",
    """INSERT INTO events (event_id, case_id, type, occurred_at, received_at, payload,
        outcome, duplicates)
       SELECT 'o' || g, 'B' || g, 'help.opened', :opened,
        :opened + (g % 600) * interval '1 second', '{}'::json, 'applied', (g % 50 = 0)::int
       FROM generate_series(1, :n) g
       UNION ALL
       SELECT 'r' || g, 'B' || g, 'help.responded', :opened + interval '2 hours',
        :opened + interval '2 hours 1 second', '{}'::json, 'applied', 0
       FROM generate_series(1, :n) g""",
    """INSERT INTO deadlines (case_id, kind, clock, policy_id, due_at, at_risk_at, judge_at,
        points, state, at_risk_sent, judged_at, pending_since)
       SELECT 'B' || g, 'response', 'business_hours', 'tmall-2022',
        :opened + interval '1 hour', :opened + interval '45 minutes',
        :opened + interval '61 minutes', 5000, 'breached', true,
        :opened + interval '61 minutes' + (g % 2000) * interval '1 millisecond', :opened
       FROM generate_series(1, :n) g
       UNION ALL
       SELECT 'B' || g, 'resolution', 'wall_clock', 'tmall-2022',
        :opened + interval '48 hours', :opened + interval '36 hours',
        :opened + interval '48 hours 1 minute', 30000, 'pending', false, NULL, :opened
       FROM generate_series(1, :n) g""",
    """INSERT INTO breaches (case_id, kind, policy_id, due_at, judge_at, detected_at, points,
        status)
       SELECT 'B' || g, 'response', 'tmall-2022', :opened + interval '1 hour',
        :opened + interval '61 minutes', :opened + interval '62 minutes', 5000, 'settled'
       FROM generate_series(1, :n) g""",
    r"""INSERT INTO compensations (breach_id, case_id, kind, account, points, idempotency_key,
        status, attempts, created_at, issued_at)
       SELECT id, case_id, kind, 'tb' || id, 5000, case_id || '\:response', 'issued', 1,
        detected_at, detected_at + interval '1 second' FROM breaches""",
    r"""INSERT INTO outbox (message_id, topic, case_id, payload, created_at, published_at,
        attempts)
       SELECT t.topic || '\:B' || g, t.topic, 'B' || g,
        CASE WHEN t.topic = 'sla.breach_contested'
             THEN '{"compensation_status": "review"}'::json ELSE '{}'::json END,
        :opened, :opened, 1
       FROM generate_series(1, :n) g,
        (VALUES ('sla.breached'), ('compensation.issued'), ('sla.breach_contested')) t(topic)
       WHERE t.topic <> 'sla.breach_contested' OR g % 10 = 0""",
    "ANALYZE",
]


def seed(engine: Engine, cases: int) -> None:
    with engine.begin() as conn:
        for statement in _SEED:
            conn.execute(text(statement), {"n": cases, "opened": NOW - timedelta(days=3)})


def timed(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def per_family(conn: Connection) -> dict[str, Callable[[], object]]:
    return {
        "states (cases, deadlines, breaches, compensations by status)": lambda: [
            summary.counts_by(conn, c, ()) for c in (Case.status, Deadline.state,
                                                       Breach.status, Compensation.status)
        ],
        "events_total, events_parked": lambda: metric_counts.event_counts(conn, EVENT_TYPES),
        "dead_letters_total": lambda: metric_counts.dead_letters_by_cause(conn, Cause),
        "breaches_recorded_total": lambda: metric_counts.breaches_by_kind(conn, ()),
        "compensation_outcomes_total": lambda: metric_counts.compensation_outcomes(conn),
        "points_issued_total": lambda: metric_counts.points_issued(conn),
        "deadline_fire_lag_seconds": lambda: metric_counts.fire_lag(conn),
        "evidence_lateness_seconds": lambda: metric_counts.evidence_lateness(conn, EVENT_TYPES),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="a Postgres URL (a schema is created)")
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    schema = f"bench_metrics_{uuid.uuid4().hex[:8]}"
    admin = create_db_engine(args.url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.url else "?"
    engine = create_db_engine(f"{args.url}{sep}options={quote(f'-csearch_path={schema}')}")
    try:
        upgrade(engine)
        started = time.perf_counter()
        seed(engine, args.cases)
        print(f"seeded {args.cases:,} cases in {time.perf_counter() - started:.1f} s")
        whole = timed(lambda: render_metrics(engine, clock=lambda: NOW), args.repeat)
        print(f"whole scrape: {whole * 1000:.0f} ms (median of {args.repeat})")
        with engine.connect() as conn:
            for name, call in per_family(conn).items():
                print(f"  {name:<62} {timed(call, args.repeat) * 1000:7.1f} ms")
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
