"""What operators do to money, through HTTP and the CLI: release, cancel and resolve, one by
one and in bulk, the guard's reset, the roles that may, the audit trail under the token's
name; and every figure of points paid (dashboard, /metrics, ledger) agrees whatever the
compensations' states."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from slamon.api.metrics import render_metrics
from slamon.api.summary import build_summary
from slamon.cli import main
from slamon.models.db.engine import snapshot, transaction
from slamon.models.db.tables import Breach, Compensation, Deadline, LedgerEntry
from slamon.models.payout import PayoutLimits
from slamon.scheduler.sweeper import sweep
from slamon.settings import Settings, get_settings
from slamon.worker.compensation import compensate_many
from slamon.worker.evidence import contest_breach
from slamon.worker.payout_guard import GuardLimits
from slamon.worker.points.ledger import LedgerPointsIssuer
from tests.support.runtime import DEFAULTS
from tests.support.seed import seed_cases

DUE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
NOW = DUE + timedelta(minutes=5)
ADMIN, OPERATOR, PRODUCER, READER = "a" * 32, "o" * 32, "p" * 32, "r" * 32
# Ten response breaches of 5,000 points; 15,000 per hour: three paid, then the guard trips.
GUARD = GuardLimits(PayoutLimits(15_000, 100, 100_000))


@pytest.fixture
def stack(engine: Engine) -> dict[str, list[int]]:
    """Ten breaches: three paid, seven held (the guard tripped on the fourth)."""
    seed_cases(engine, 10, DUE)
    ids = sweep(engine, NOW, "s1", 100, DEFAULTS.claim_lease,
                DEFAULTS.redispatch_after).compensation_ids
    outcomes = compensate_many(engine, LedgerPointsIssuer(engine), ids, lambda: NOW,
                               DEFAULTS.redispatch_after, GUARD)
    assert [o.status for o in outcomes] == ["issued"] * 3 + ["held"] * 7
    return {"paid": ids[:3], "held": ids[3:]}


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> TestClient:
    from slamon.api.app import create_app

    settings = Settings(home=tmp_path / "home", database_url=db_url, api_token=ADMIN,
                        api_tokens={OPERATOR: {"role": "operate", "name": "ops-alice"},
                                    PRODUCER: "produce", READER: "read"})
    return TestClient(create_app(settings))


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLAMON_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def contest(engine: Engine, compensation_id: int) -> None:
    """Timely evidence arrives for the breach of a paid compensation: it goes to review."""
    with transaction(engine) as session:
        case_id = session.get(Compensation, compensation_id).case_id  # type: ignore[union-attr]
        deadline = session.scalars(select(Deadline).where(Deadline.case_id == case_id)).one()
        contest_breach(session, deadline, DUE - timedelta(minutes=1), NOW)


def test_only_the_operate_role_moves_money(api: TestClient, stack: dict[str, list[int]]) -> None:
    held = stack["held"][0]
    for token in (PRODUCER, READER):  # a producer's token must never release a payment
        for path, body in ((f"/v1/compensations/{held}/release", None),
                           (f"/v1/compensations/{held}/cancel", None),
                           ("/v1/compensations/release", {"all_held": True}),
                           ("/v1/payout-guard/reset", None)):
            answer = api.post(path, headers=auth(token), json=body)
            assert answer.status_code == 403, (token[0], path)
    assert api.get("/v1/payout-guard", headers=auth(READER)).status_code == 200
    assert api.get("/v1/compensations?status=held", headers=auth(PRODUCER)).status_code == 403


def test_release_cancel_and_reset_over_http_are_audited_under_the_tokens_name(
    api: TestClient, stack: dict[str, list[int]], engine: Engine
) -> None:
    first, second, *rest = stack["held"]
    guard = api.get("/v1/payout-guard", headers=auth(READER)).json()
    assert guard["tripped"] is True and guard["held"] == {"count": 7, "points": 35_000}
    assert guard["limits"]["points_per_hour"] == DEFAULTS.payout_max_points_per_hour

    released = api.post(f"/v1/compensations/{first}/release", headers=auth(OPERATOR),
                        json={"note": "checked the case"})
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "pending" and released.json()["released_by"] == "ops-alice"
    again = api.post(f"/v1/compensations/{first}/release", headers=auth(OPERATOR))
    assert again.status_code == 409 and "only a held one" in again.json()["detail"]["error"]
    assert api.post("/v1/compensations/999/cancel", headers=auth(OPERATOR)).status_code == 404
    cancelled = api.post(f"/v1/compensations/{second}/cancel", headers=auth(ADMIN))
    assert cancelled.json()["status"] == "cancelled"

    bulk = api.post("/v1/compensations/release", headers=auth(OPERATOR),
                    json={"ids": [*rest, second], "note": "burst explained"})
    assert bulk.status_code == 200
    assert bulk.json()["done"] == len(rest) and bulk.json()["ids"] == rest
    assert [r["id"] for r in bulk.json()["refused"]] == [second]
    for body in ({}, {"ids": [1], "all_held": True}, {"ids": []}, {"ids": ["x"]}):
        refused = api.post("/v1/compensations/cancel", headers=auth(OPERATOR), json=body)
        assert refused.status_code == 422, body

    reset = api.post("/v1/payout-guard/reset", headers=auth(OPERATOR), json={"note": "ok"})
    assert reset.status_code == 200 and reset.json()["reset_by"] == "ops-alice"
    assert api.post("/v1/payout-guard/reset", headers=auth(OPERATOR)).status_code == 409

    trail = api.get("/v1/audit", headers=auth(READER)).json()
    assert [(a["actor"], a["action"]) for a in trail] == [
        ("ops-alice", "reset_guard"), *[("ops-alice", "release")] * len(rest),
        ("admin", "cancel"), ("ops-alice", "release")]
    assert trail[-1]["note"] == "checked the case" and trail[-1]["compensation_id"] == first
    text = json.dumps(trail)
    assert not any(token in text for token in (ADMIN, OPERATOR))  # names, never tokens
    one = api.get(f"/v1/audit?compensation_id={second}", headers=auth(READER)).json()
    assert [a["action"] for a in one] == ["cancel"]


def test_the_cli_releases_cancels_resolves_and_resets(
    cli: CliRunner, stack: dict[str, list[int]], engine: Engine
) -> None:
    first, *rest = stack["held"]
    cancel = cli.invoke(main, ["compensations", "cancel", str(first), "--note", "fake", "--by",
                               "bob"])
    assert cancel.exit_code == 0, cancel.output
    assert json.loads(cancel.output) == {"done": 1, "ids": [first], "refused": []}
    released = cli.invoke(main, ["compensations", "release", "--all-held"])
    assert released.exit_code == 0 and json.loads(released.output)["ids"] == rest
    nothing = cli.invoke(main, ["compensations", "release", str(first)])
    assert nothing.exit_code == 1 and "1 not released" in nothing.output
    both = cli.invoke(main, ["compensations", "release", str(first), "--all-held"])
    assert both.exit_code == 2 and "or --all-held" in both.output

    paid = stack["paid"][0]
    contest(engine, paid)
    no_note = cli.invoke(main, ["compensations", "resolve", str(paid), "--payment", "stands"])
    assert no_note.exit_code == 2 and "--note" in no_note.output
    stands = cli.invoke(main, ["compensations", "resolve", str(paid), "--payment", "stands",
                               "--note", "evidence was forged"])
    assert stands.exit_code == 0, stands.output
    assert json.loads(stands.output)["status"] == "issued"
    with snapshot(engine) as session:
        breach = session.scalars(select(Breach).join(
            Compensation, Compensation.breach_id == Breach.id).where(
            Compensation.id == paid)).one()
        assert breach.status == "settled"  # paid and upheld: no longer a violation
    twice = cli.invoke(main, ["compensations", "resolve", str(paid), "--payment", "wrong",
                              "--note", "x"])
    assert twice.exit_code == 1 and "only a review one can be resolved" in twice.output

    guard = cli.invoke(main, ["guard"])
    assert json.loads(guard.output)["tripped"] is True
    reset = cli.invoke(main, ["guard", "reset", "--note", "explained", "--by", "bob"])
    assert reset.exit_code == 0 and json.loads(reset.output)["reset_by"] == "cli:bob"
    assert cli.invoke(main, ["guard", "reset"]).exit_code == 1
    trail = json.loads(cli.invoke(main, ["audit"]).output)
    assert [(a["actor"], a["action"]) for a in trail][:2] == [
        ("cli:bob", "reset_guard"), (trail[1]["actor"], "resolve_review")]
    assert trail[1]["note"] == "evidence was forged" and trail[-1]["actor"] == "cli:bob"


def test_dashboard_metrics_and_ledger_agree_on_the_points_paid_whatever_the_state(
    api: TestClient, stack: dict[str, list[int]], engine: Engine
) -> None:
    """Paid (3), then one contested (review), one reviewed as paid in error, one upheld;
    held ones released and paid, one cancelled: every figure of points paid is the ledger's."""
    upheld, wrong, in_review = stack["paid"]
    for compensation_id in stack["paid"]:
        contest(engine, compensation_id)
    for compensation_id, payment in ((upheld, "stands"), (wrong, "wrong")):
        answer = api.post(f"/v1/compensations/{compensation_id}/resolve", headers=auth(OPERATOR),
                          json={"resolution": payment, "note": "reviewed"})
        assert answer.status_code == 200, answer.text
    assert api.post(f"/v1/compensations/{in_review}/resolve", headers=auth(OPERATOR),
                    json={"resolution": "maybe", "note": "x"}).status_code == 422
    api.post(f"/v1/compensations/{stack['held'][0]}/cancel", headers=auth(OPERATOR))
    api.post("/v1/compensations/release", headers=auth(OPERATOR), json={"all_held": True})
    compensate_many(engine, LedgerPointsIssuer(engine), stack["held"], lambda: NOW,
                    DEFAULTS.redispatch_after, GUARD)

    with snapshot(engine) as session:
        ledger = int(session.scalar(select(func.sum(LedgerEntry.points))) or 0)
        by_status = dict(session.execute(select(Compensation.status, func.count())
                                         .group_by(Compensation.status)).all())
    assert by_status == {"issued": 7, "paid_in_error": 1, "review": 1, "cancelled": 1}
    assert ledger == 9 * 5000
    summary = api.get("/v1/summary", headers=auth(READER)).json()
    assert summary["points_paid"] == {"count": 9, "points": ledger}
    with engine.connect() as conn:
        assert build_summary(conn, NOW, UTC, timedelta(minutes=1))["points_paid"]["points"] \
            == ledger
    metrics = render_metrics(engine)[0].decode()
    assert f"slamon_points_issued_total {float(ledger)}" in metrics
    assert "slamon_payout_guard_tripped 1.0" in metrics  # nobody reset it
    assert 'slamon_compensations{status="held"} 0.0' in metrics
