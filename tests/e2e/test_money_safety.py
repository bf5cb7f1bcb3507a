"""Money safety through the real stack (`slamon up`: worker, scheduler and API processes, the
embedded Redis, SQLite), as an attacker with a produce token would try it.

* A burst of backdated openings: payments stop at the hourly limit, the rest are held and
  visible (guard, summary, /metrics, the outbound stream); a release pays each held one once,
  and the ledger's total is the sum of the issued compensations.
* Secrets never printed: a case breached and paid through the HTTP points service, announced
  to a webhook (failing once, so an error is stored), every command an operator runs; then
  every log, output, stored error and view is searched for each secret. The broker refuses a
  client without its password; the home and every file in it are private.
"""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
from sqlalchemy import func, select, text
from standardwebhooks.webhooks import Webhook

from slamon.models.db.engine import create_db_engine
from slamon.models.db.tables import Compensation, LedgerEntry
from slamon.models.signing import new_secret
from tests.e2e.stack import RunningStack, clean_env
from tests.support.points_server import PointsServer
from tests.support.processes import wait_for
from tests.support.prometheus import parse, value

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
CASES, PAID_PER_HOUR = 30, 12  # 12 response penalties of 5,000 points fit the hour


def opened_yesterday(case_id: str) -> dict[str, object]:
    """Opened yesterday 10:00 Shanghai: the 1-hour response promise is long broken."""
    day = datetime.now(SHANGHAI).date() - timedelta(days=1)
    return {
        "event_id": f"e-{case_id}", "type": "help.opened", "case_id": case_id,
        "occurred_at": datetime.combine(day, time(10, 0), tzinfo=SHANGHAI).isoformat(),
        "order_id": f"O-{case_id}", "buyer_account": f"tb_{case_id}", "merchant_id": "M1",
        "category": "家装家具", "services": ["送货入户并安装"], "item_price": "1299.00",
    }


def send(stack: RunningStack, *case_ids: str) -> None:
    lines = "".join(json.dumps(opened_yesterday(c), ensure_ascii=False) + "\n" for c in case_ids)
    sent = stack.run("send", "-", stdin=lines)
    assert sent.returncode == 0, sent.stderr


def json_of(stack: RunningStack, *args: str) -> Any:
    done = stack.run(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def compensations(stack: RunningStack) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in json_of(stack, "compensations", "--limit", "1000"):
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def test_a_burst_of_backdated_openings_is_held_at_the_limit_and_released_once(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    stack = RunningStack(home, clean_env(
        home, SLAMON_PAYOUT_MAX_POINTS_PER_HOUR=str(PAID_PER_HOUR * 5000)))
    try:
        stack.wait_healthy()
        send(stack, *(f"H-BURST-{n:03d}" for n in range(CASES)))
        decided = wait_for(
            lambda: (c := compensations(stack)).get("issued", 0) + c.get("held", 0) == CASES
            and c, timeout=60, what="every penalty paid or held")
        assert decided == {"issued": PAID_PER_HOUR, "held": CASES - PAID_PER_HOUR}

        guard = json_of(stack, "guard")
        assert guard["tripped"] is True and guard["tripped_limit"] == "points_per_hour"
        assert guard["held"] == {"count": CASES - PAID_PER_HOUR, "points": 18 * 5000}
        held = json_of(stack, "compensations", "--status", "held", "--limit", "1000")
        assert {h["hold_limit"] for h in held} == {"points_per_hour", "guard_tripped"}
        headers = {"Authorization": f"Bearer {stack.token()}"}
        summary = httpx.get(f"{stack.api_url}/v1/summary", headers=headers).json()
        assert summary["payout_guard"]["tripped"] is True
        assert summary["compensations"]["held"]["count"] == CASES - PAID_PER_HOUR
        samples, _ = parse(httpx.get(f"{stack.api_url}/metrics").text)
        assert value(samples, "slamon_payout_guard_tripped") == 1
        assert value(samples, "slamon_compensations", status="held") == CASES - PAID_PER_HOUR
        client = redis.Redis.from_url(json.loads((home / "run.json").read_text())["redis_url"])
        wait_for(lambda: sum(f[b"topic"] == b"compensation.held"
                             for _id, f in client.xrange("slamon:outbound"))
                 == CASES - PAID_PER_HOUR, timeout=15, what="compensation.held announced")

        released = json_of(stack, "compensations", "release", "--all-held", "--note", "real")
        assert released["done"] == CASES - PAID_PER_HOUR and released["refused"] == []
        wait_for(lambda: compensations(stack) == {"issued": CASES}, timeout=60,
                 what="every released compensation paid")
        # Released by a person: paid although the guard is still tripped, and only once.
        assert json_of(stack, "guard")["tripped"] is True
    finally:
        assert stack.stop() == 0
    engine = create_db_engine(f"sqlite:///{home / 'slamon.db'}")
    with engine.connect() as conn:
        entries, keys, paid = conn.execute(select(
            func.count(), func.count(func.distinct(LedgerEntry.idempotency_key)),
            func.sum(LedgerEntry.points))).one()
        issued = conn.execute(select(func.sum(Compensation.points))
                              .where(Compensation.status == "issued")).scalar_one()
        actions = conn.execute(text("SELECT count(*) FROM operator_actions "
                                    "WHERE action = 'release'")).scalar_one()
    engine.dispose()
    assert entries == keys == CASES and paid == issued == CASES * 5000
    assert actions == CASES - PAID_PER_HOUR


class Receiver:
    """A webhook receiver verifying with the reference Standard Webhooks library; it fails
    until ``up`` is set, so the relay stores an error naming the URL meanwhile."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.topics: list[str] = []
        self.up = threading.Event()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    state = Receiver(new_secret())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            envelope = Webhook(state.secret).verify(body, dict(self.headers.items()))
            if state.up.is_set():
                state.topics.append(envelope["topic"])
            self.send_response(204 if state.up.is_set() else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_no_secret_is_printed_logged_or_stored_and_the_broker_is_locked(
    tmp_path: Path, receiver: tuple[Receiver, int]
) -> None:
    hook, hook_port = receiver
    api_token, read_token = "admin-token-" + "A" * 24, "read-token-" + "R" * 24
    points_secret, url_password, hook_token = new_secret(), "points-url-pass-123", "hook-qt-4567"
    home = tmp_path / "home"
    outputs: list[str] = []
    with PointsServer(secret=points_secret) as points:
        points_url = points.url.replace("http://", f"http://grants:{url_password}@")
        env = clean_env(
            home, SLAMON_API_TOKEN=api_token,
            SLAMON_API_TOKENS=json.dumps({read_token: "read"}),
            SLAMON_POINTS_ADAPTER="http", SLAMON_POINTS_URL=points_url,
            SLAMON_POINTS_SECRET=points_secret,
            SLAMON_WEBHOOK_URLS=f"http://127.0.0.1:{hook_port}/hooks?token={hook_token}",
            SLAMON_WEBHOOK_SECRET=hook.secret, SLAMON_LOG_LEVEL="DEBUG",
        )
        stack = RunningStack(home, env)
        try:
            stack.wait_healthy()
            run = json.loads((home / "run.json").read_text())
            redis_url = run["redis_url"]
            redis_password = redis.connection.parse_url(redis_url)["password"]
            secrets = [api_token, read_token, points_secret, url_password, hook_token,
                       hook.secret, redis_password]

            send(stack, "H-SECRET-1")
            database = create_db_engine(f"sqlite:///{home / 'slamon.db'}")

            def webhook_errors() -> list[str]:
                with database.connect() as conn:
                    return [str(e) for e in conn.execute(text(
                        "SELECT last_error FROM outbox WHERE last_error IS NOT NULL")).scalars()]

            stored = wait_for(webhook_errors, timeout=60, what="a failed webhook call stored")
            database.dispose()
            assert all("token=***" in error for error in stored), stored  # the URL, masked
            hook.up.set()
            wait_for(lambda: "compensation.issued" in hook.topics, timeout=60,
                     what="the payment announced to the webhook")
            assert len(points.grants) == 1
            for args in (("case", "H-SECRET-1"), ("compensations",), ("breaches",),
                         ("guard",), ("audit",)):
                done = stack.run(*args)
                assert done.returncode == 0, done.stderr
                outputs += [done.stdout, done.stderr]
            wrong = "wrong-password-789"
            refused = _run_with(stack, {"SLAMON_REDIS_URL": redis_url.replace(
                redis_password, wrong)}, "send", "-", json.dumps(opened_yesterday("H-X")) + "\n")
            assert refused.returncode == 1 and "could not queue" in refused.stderr
            outputs += [refused.stdout, refused.stderr]
            secrets.append(wrong)
            headers = {"Authorization": f"Bearer {read_token}"}
            for path in ("/readyz", "/v1/summary", "/metrics", "/v1/compensations"):
                answer = httpx.get(f"{stack.api_url}{path}", headers=headers)
                assert answer.status_code == 200, path
                assert answer.headers["x-content-type-options"] == "nosniff"
                outputs.append(answer.text)
            assert httpx.get(f"{stack.api_url}/docs").status_code == 404  # no CDN page

            # Locked: a client without the password, or with another one, is refused.
            bare = redis_url.replace(f":{redis_password}@", "")
            with pytest.raises(redis.AuthenticationError):
                redis.Redis.from_url(bare).lpush("sla.events", "forged")
            with pytest.raises(redis.AuthenticationError):
                redis.Redis.from_url(redis_url.replace(redis_password, wrong)).ping()
            assert stat.S_IMODE((home / "run.json").stat().st_mode) == 0o600
        finally:
            assert stack.stop() == 0
    outputs.append((home.parent / "up.log").read_text())  # `slamon up`'s own output
    logs = sorted(home.rglob("*.log"))  # every role's, and the embedded Redis's
    assert len(logs) >= 4
    outputs += [log.read_text(errors="replace") for log in logs]
    engine = create_db_engine(f"sqlite:///{home / 'slamon.db'}")
    with engine.connect() as conn:
        stored += [str(v) for v in conn.execute(text(
            "SELECT last_error FROM outbox UNION ALL SELECT last_error FROM compensations"
        )).scalars() if v]
    engine.dispose()
    everything = "\n".join(outputs + stored)
    for secret in secrets:
        assert secret not in everything, f"a secret ({secret[:4]}…) was printed"

    # The home is private: the folder and every folder in it 0700, every file 0600.
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    modes = {p.relative_to(home).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in home.rglob("*")}
    assert {"slamon.db", "logs/worker.log", "logs/scheduler.log", "logs/api.log"} <= set(modes)
    assert any(name.startswith("redis/appendonly") for name in modes)
    wrong_modes = {name: oct(mode) for name, mode in modes.items()
                   if mode != (0o700 if (home / name).is_dir() else 0o600)}
    assert wrong_modes == {}


def _run_with(stack: RunningStack, extra: dict[str, str], *args: str) -> Any:
    import subprocess
    import sys

    *command, stdin = args
    return subprocess.run([sys.executable, "-m", "slamon", *command], env={**stack.env, **extra},
                          input=stdin, capture_output=True, text=True, timeout=60)
