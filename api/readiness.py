"""Readiness: a short list of named checks, each answering "ok" or why the service is not ready.

``/readyz`` runs every check and answers 503 naming each one that is not "ok":

- ``database``: a ``SELECT 1`` answers;
- ``broker``: Redis answers a PING;
- ``worker``: a worker consuming ``sla.events`` beat within ``SLAMON_READY_WORKER_WITHIN_SECONDS``
  (:mod:`slamon.worker.heartbeat`): events queued now would be ingested;
- ``scheduler``: a scheduler completed a sweep within ``SLAMON_READY_SWEEP_INTERVALS``
  scheduler intervals (:mod:`slamon.scheduler.sweep_stamp`): due deadlines are being judged;
- ``roles``: under ``slamon up``, no role is down waiting for its supervisor to restart it
  (:mod:`slamon.role_status`).
- ``judgement`` (said, does not fail readiness): "judgement paused, ingest behind by N s"
  while the ingest watermark lags (:mod:`slamon.api.ingest_status`); taking the intake out of
  rotation then would only make the backlog longer.

A new condition is one more :class:`Check` in :func:`readiness_checks`. A probe that raises is
"not ready" with the error, never a 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
from sqlalchemy import Engine, text

from slamon.api.broker_gauges import BrokerProbe
from slamon.api.ingest_status import judgement_check
from slamon.models.db.engine import snapshot
from slamon.role_status import down_roles
from slamon.scheduler.sweep_stamp import latest_sweep
from slamon.settings import NoBrokerError, Settings
from slamon.worker.app import EVENTS_QUEUE
from slamon.worker.heartbeat import latest_consumer_beat

OK = "ok"
BROKER_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Check:
    """One named condition of readiness: ``probe`` returns :data:`OK` or the reason it fails."""

    name: str
    probe: Callable[[], str]
    # False: the answer is shown but does not make the service unready.
    gates: bool = True


def run_checks(checks: Sequence[Check], redact: Callable[[str], str]) -> dict[str, str]:
    """Each check's answer by name, masked (an error may quote a URL with its password)."""
    results: dict[str, str] = {}
    for check in checks:
        try:
            answer = check.probe()
        except Exception as exc:  # any failure is "not ready"; the message says which
            answer = f"error: {type(exc).__name__}: {_first_line(exc)}"
        results[check.name] = redact(answer)
    return results


def readiness_checks(
    settings: Settings,
    engine: Engine,
    clock: Callable[[], float] = time.time,
    broker: BrokerProbe | None = None,
) -> list[Check]:
    """The checks ``/readyz`` runs, in the order it shows them."""

    def client() -> redis.Redis:
        return redis.Redis.from_url(
            settings.broker,
            socket_timeout=BROKER_TIMEOUT_SECONDS,
            socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
        )

    return [
        Check("database", lambda: _database(engine)),
        Check("broker", lambda: _broker(client)),
        Check("worker", lambda: _worker(client, clock(), settings.ready_worker_within_seconds)),
        Check(
            "scheduler",
            lambda: _scheduler(client, clock(), settings.ready_sweep_within_seconds),
        ),
        Check("roles", lambda: _roles(settings.home)),
        *([Check("judgement", lambda: judgement_check(broker, settings.ingest_behind_seconds),
                 gates=False)] if broker is not None else []),
    ]


def ready(checks: Sequence[Check], results: dict[str, str]) -> bool:
    """Whether every check that gates readiness answered :data:`OK`."""
    return all(results[c.name] == OK for c in checks if c.gates)


def _roles(home: Path) -> str:
    """Under ``slamon up``: a role its supervisor is waiting to restart is down."""
    down = down_roles(home)
    return OK if not down else "error: " + "; ".join(f"{r} down: {w}" for r, w in down.items())


def _database(engine: Engine) -> str:
    with snapshot(engine) as session:
        session.execute(text("SELECT 1"))
    return OK


def _broker(client: Callable[[], redis.Redis]) -> str:
    try:
        client().ping()
    except (redis.RedisError, NoBrokerError, OSError) as exc:
        return f"error: {exc}"
    return OK


def _worker(client: Callable[[], redis.Redis], now: float, within: float) -> str:
    try:
        beat = latest_consumer_beat(client(), EVENTS_QUEUE)
    except (redis.RedisError, NoBrokerError, OSError) as exc:
        return f"error: cannot read the workers' heartbeats: {exc}"
    return _fresh(beat, now, within, f"no worker consuming {EVENTS_QUEUE} beat", "beat")


def _scheduler(client: Callable[[], redis.Redis], now: float, within: float) -> str:
    try:
        swept = latest_sweep(client())
    except (redis.RedisError, NoBrokerError, OSError) as exc:
        return f"error: cannot read the schedulers' sweeps: {exc}"
    return _fresh(swept, now, within, "no scheduler completed a sweep", "swept")


def _fresh(stamp: float | None, now: float, within: float, none: str, verb: str) -> str:
    if stamp is None:
        return f"error: {none} (none on record)"
    age = now - stamp
    if age > within:
        return f"error: {none} in the last {within:g} s (last {verb} {age:.0f} s ago)"
    return OK


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return lines[0][:200] if lines else ""
