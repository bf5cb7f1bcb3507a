"""The sla.ingest task: a bug costs no event (dead-lettered), transient database trouble is
retried, a ProgrammingError is not (it would fail the same way again): dead-lettered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery.exceptions import Retry
from sqlalchemy import Engine, select
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

from slamon.models.db.engine import snapshot
from slamon.models.db.tables import DeadLetter
from slamon.worker import ingest, runtime
from slamon.worker.tasks import ingest_task
from tests.support.runtime import runtime_for


@pytest.fixture
def installed(
    engine: Engine, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[runtime.Runtime]:
    # The task takes its message off the ingest watermark's ledger on the broker once done:
    # the test's own Redis, not whatever broker an earlier test left in the app's config.
    monkeypatch.setattr(ingest_task.app.conf, "broker_url", redis_url)
    rt = runtime.install(runtime_for(engine.url.render_as_string(hide_password=False)))
    yield rt


def test_an_unexpected_error_dead_letters_the_message(
    installed: runtime.Runtime, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ingest, "ingest_raw", broken)
    ingest_task.run('{"event_id": "e1"}')
    with snapshot(engine) as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert letter.raw == '{"event_id": "e1"}'
    assert "internal error" in letter.error and "a bug" in letter.error


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_database_trouble_is_retried_not_dead_lettered(
    installed: runtime.Runtime,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    error: type[OperationalError | InterfaceError],
) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        raise error("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ingest, "ingest_raw", down)
    with pytest.raises(Retry):
        ingest_task.apply(args=['{"event_id": "e1"}'], throw=True)
    with snapshot(engine) as session:
        assert session.scalars(select(DeadLetter)).all() == []


def test_a_programming_error_is_dead_lettered_not_retried(
    installed: runtime.Runtime, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mismatched(*_args: object, **_kwargs: object) -> None:
        raise ProgrammingError("SELECT outcome FROM events", {}, Exception("no such column"))

    monkeypatch.setattr(ingest, "ingest_raw", mismatched)
    assert ingest_task.apply(args=['{"event_id": "e1"}'], throw=True).successful()
    with snapshot(engine) as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert letter.raw == '{"event_id": "e1"}' and "no such column" in letter.error
