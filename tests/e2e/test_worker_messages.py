"""A real worker process on a real Redis: valid messages are applied, anything it cannot run is
dead-lettered with the reason, and the worker keeps going."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy import Engine, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Case, DeadLetter
from slamon.sdk import Producer
from slamon.worker.app import EVENTS_QUEUE, create_app
from tests.support.processes import role_env, role_process, wait_for


def opened(case_id: str, event_id: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "type": "help.opened",
        "case_id": case_id,
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "order_id": "O1",
        "buyer_account": "tb_1",
        "merchant_id": "M1",
        "category": "lighting",
        "services": ["预约安装"],
    }


def dead_letters(engine: Engine) -> list[DeadLetter]:
    with transaction(engine) as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))


@pytest.mark.redis
def test_worker_dead_letters_what_it_cannot_run(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = role_env(db_url, redis_url, tmp_path / "home")
    with role_process("worker", env, tmp_path / "worker.log", "--pool", "solo") as worker:
        producer = Producer(redis_url)
        producer.publish_raw("{this is not json")
        producer.app.send_task("sla.no_such_task", args=["x"], queue=EVENTS_QUEUE)
        with Connection(redis_url) as conn:  # a pickled message: never accepted
            conn.default_channel.basic_publish(
                conn.default_channel.prepare_message(
                    b"\x80\x04K\x01.",
                    content_type="application/x-python-serialize",
                    content_encoding="binary",
                    headers={"task": "sla.ingest", "id": "p1"},
                ),
                exchange="",
                routing_key=EVENTS_QUEUE,
            )
        producer.publish(opened("H-W1", "w-1"))  # and it still applies the next good one

        wait_for(lambda: _case_exists(engine, "H-W1"), what="the good event to be applied")
        letters = wait_for(
            lambda: len(dead_letters(engine)) >= 3 and dead_letters(engine),
            what="three dead letters",
        )
        errors = " | ".join(letter.error for letter in letters)
        assert "not JSON" in errors
        assert "task 'sla.no_such_task' is not one of slamon's" in errors
        assert "never pickle" in errors  # pickle is refused, and kept
        assert any("{this is not json" in letter.raw for letter in letters)
        by_cause = {letter.cause: letter.error for letter in letters}
        assert by_cause.keys() == {"not_json", "foreign_task", "bad_content_type"}, by_cause
        assert "application/x-python-serialize" in by_cause["bad_content_type"]
        assert worker.poll() is None, "the worker must survive every bad message"
        producer.close()


def _case_exists(engine: Engine, case_id: str) -> bool:
    with transaction(engine) as s:
        return s.get(Case, case_id) is not None


@pytest.mark.redis
def test_create_app_uses_json_only(redis_url: str) -> None:
    app = create_app(redis_url)
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert (
        json.loads(json.dumps(app.conf.task_routes))["sla.compensate"]["queue"]
        == "sla.compensation"
    )
