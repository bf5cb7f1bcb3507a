"""The facts a compliance report counts, one row per case (:class:`CaseFacts`), rewritten
from the case, its deadlines, breaches and compensations.

Why a projection: a report over a million cases joined to two million deadlines, their
breaches and payments spent seconds in the joins alone (benchmarks/bench_reports.py); one
narrow row per case makes it one scan. Why rewritten from the sources rather than updated
field by field: whatever a writer changed (a judgement, a payment, a contest, a reopen), the
row it leaves is the function of the sources, so no write order or missed case can leave it
wrong for long: the next write to the case rewrites it whole.

Every transaction that changes what a report counts calls :func:`refresh_case_facts` for its
cases, after its changes and under the cases' locks (ingest, the sweeper's judgement, the
compensation service's payment); ``tests/integration/test_case_facts.py`` drives each of
those paths and compares the rows with a fresh rebuild. Nothing else changes those figures:
a failed or retried payment moves no points, an at-risk warning counts nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    any_,
    bindparam,
    case,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from slamon.models.db.bulk import chunks
from slamon.models.db.report_sql import seconds_between
from slamon.models.db.tables import Breach, Case, CaseFacts, Compensation, Deadline
from slamon.models.db.upsert import dialect_name
from slamon.models.states import BreachStatus, DeadlineState

COLUMNS = [c.name for c in CaseFacts.__table__.columns]
# The promises a report shows, each one deadline kind of the shipped policies.
RESPONSE, RESOLUTION = "response", "resolution"


def refresh_case_facts(db: Session | Connection, case_ids: Iterable[str]) -> None:
    """Rewrite the facts of ``case_ids`` from their sources, in the caller's transaction
    (a case id with no case row is skipped); rows that would not change are not written."""
    ids = sorted(set(case_ids))
    if isinstance(db, Session):
        db.flush()  # the ORM's pending changes are sources too
    for chunk in chunks(ids):
        db.execute(_upsert(db, _one_of(db, chunk)))


def rebuild_case_facts(db: Session | Connection) -> None:
    """Rewrite the facts of every case (the migration that adds the table fills it so)."""
    db.execute(_upsert(db, lambda column: true()))


def facts_query(cases: Any) -> Any:
    """SELECT of the facts rows (in ``COLUMNS`` order) of the cases ``cases(column)`` picks."""
    response, resolution = aliased(Deadline), aliased(Deadline)
    response_breach, resolution_breach = aliased(Breach), aliased(Breach)
    per_case = _breaches_per_case(cases)
    return (
        select(
            Case.case_id, Case.opened_at, Case.monitored, Case.policy_id, Case.merchant_id,
            Case.provider_id, Case.city, Case.category,
            _judged(response), _kept(response, response_breach),
            _judged(resolution), _kept(resolution, resolution_breach),
            func.coalesce(per_case.c.open, 0), func.coalesce(per_case.c.settled, 0),
            func.coalesce(per_case.c.contested, 0), func.coalesce(per_case.c.paid, 0),
            seconds_between(Case.opened_at, Case.responded_at),
            seconds_between(Case.opened_at, Case.resolved_at),
        )
        .outerjoin(response, _promise(response, RESPONSE))
        .outerjoin(resolution, _promise(resolution, RESOLUTION))
        .outerjoin(response_breach, _promise(response_breach, RESPONSE))
        .outerjoin(resolution_breach, _promise(resolution_breach, RESOLUTION))
        .outerjoin(per_case, per_case.c.case_id == Case.case_id)
        .where(cases(Case.case_id))
    )


def _one_of(db: Session | Connection, ids: Sequence[str]) -> Any:
    """``column`` is one of ``ids``, as a condition builder for :func:`facts_query`."""
    if dialect_name(db) != "postgresql":
        return lambda column: column.in_(ids)
    # One array parameter: the statement's text is the same for every chunk, so psycopg
    # prepares it once instead of Postgres planning a new IN list each time.
    values = bindparam("case_ids", list(ids), type_=postgresql.ARRAY(String))
    return lambda column: column == any_(values)


def _upsert(db: Session | Connection, cases: Any) -> Any:
    module = postgresql if dialect_name(db) == "postgresql" else sqlite
    statement = module.insert(CaseFacts).from_select(COLUMNS, facts_query(cases))
    new = statement.excluded
    changing = [c for c in COLUMNS if c != "case_id"]
    return statement.on_conflict_do_update(
        index_elements=["case_id"],
        set_={c: new[c] for c in changing},
        # Unchanged rows are not rewritten: most refreshes change one or two figures.
        where=or_(*(getattr(CaseFacts, c).is_distinct_from(new[c]) for c in changing)),
    )


def _promise(table: Any, kind: str) -> ColumnElement[bool]:
    return and_(table.case_id == Case.case_id, table.kind == kind)


def _judged(deadline: Any) -> ColumnElement[int]:
    judged = deadline.state.in_((DeadlineState.MET, DeadlineState.BREACHED))
    return case((judged, 1), else_=0)


def _kept(deadline: Any, breach: Any) -> ColumnElement[int]:
    kept = or_(deadline.state == DeadlineState.MET, breach.status == BreachStatus.CONTESTED)
    return case((kept, 1), else_=0)


def _breaches_per_case(cases: Any) -> Any:
    """Per case: its breaches by status (of any kind) and the points actually issued."""
    status = Breach.status
    return (
        select(
            Breach.case_id,
            func.count().filter(status == BreachStatus.OPEN).label("open"),
            func.count().filter(status == BreachStatus.SETTLED).label("settled"),
            func.count().filter(status == BreachStatus.CONTESTED).label("contested"),
            func.sum(
                case((Compensation.issued_at.is_not(None), Compensation.points), else_=0)
            ).label("paid"),
        )
        .outerjoin(Compensation, Compensation.breach_id == Breach.id)
        .where(cases(Breach.case_id))
        .group_by(Breach.case_id)
        .subquery("per_case")
    )
