"""The scheduler loop: every interval, one step of timer work; safe to run as replicas.

A step, in order:

1. **Sweep** due deadlines (:mod:`slamon.scheduler.sweeper`) below the injected ingest
   ``watermark``'s horizon (:mod:`slamon.models.watermark`: no deadline is judged while a
   message accepted before its ``judge_at`` is unapplied; no reading, no sweep) and, after
   each sweep has committed, dispatch the compensations it created. While a sweep comes
   back with a full batch the step sweeps again at once: after downtime the backlog is
   worked off at full speed instead of one batch per interval, with each breach's
   ``detected_at`` read when it is judged.
2. **At-risk** warnings (:mod:`slamon.scheduler.at_risk`).
3. **Redispatch** pending compensations whose task was lost (:mod:`slamon.scheduler.redispatch`);
   while the injected ``backlog`` says tasks are still queued, only long-overdue ones.
4. **Relay** the outbox (injected: publishing is the worker package's business).

After each sweep that returned, the injected ``swept`` stamps the replica for ``/readyz``
(:mod:`slamon.scheduler.sweep_stamp`); a stamp that cannot be written is logged, never fatal.

Everything Celery or Redis is injected (``dispatch``, ``relay``, ``backlog``, ``swept``,
``watermark``), so this module knows only the database. A failing sub-step is logged and the
next one still runs; the loop never dies of a database restart or a broker outage, and the
work left over is picked up next time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from slamon.models.db.bulk import chunks
from slamon.models.watermark import IngestWatermark
from slamon.scheduler.at_risk import warn_at_risk
from slamon.scheduler.redispatch import claim_for_dispatch
from slamon.scheduler.sweeper import sweep

log = logging.getLogger("slamon.scheduler")

# Sends compensations to be paid, a chunk at a time (one task pays a chunk: one transaction
# records all of its payments).
Dispatch = Callable[[Sequence[int]], None]
Relay = Callable[[], int]
Backlog = Callable[[], int]
Swept = Callable[[], None]
# The ingest watermark now; raises when it cannot be read (then nothing is judged).
Watermark = Callable[[], IngestWatermark]

# While compensation tasks wait in the queue, a pending compensation past its threshold is
# more likely queued than lost: only rows this many thresholds overdue are dispatched again.
BACKLOG_PATIENCE = 10
# Compensations per dispatched task: one task pays them in one transaction.
DISPATCH_CHUNK = 100


@dataclass(frozen=True)
class LoopConfig:
    """What a step needs to know, from the settings (:mod:`slamon.scheduler_role`).

    ``claimer`` names this replica in deadline leases; it must be unique per process.
    ``batch`` rows per claim (SLAMON_SWEEP_BATCH); ``lease`` on claimed deadlines
    (SLAMON_CLAIM_LEASE_SECONDS); ``redispatch_after``: a pending compensation untouched this
    long has lost its task (SLAMON_COMPENSATION_REDISPATCH_SECONDS).
    """

    claimer: str
    batch: int
    lease: timedelta
    redispatch_after: timedelta
    dispatch_chunk: int = DISPATCH_CHUNK
    # Catch-up sweeps per step, so a huge backlog still lets the other sub-steps run.
    max_sweeps_per_step: int = 100


@dataclass
class StepReport:
    judged: int = 0
    breached: int = 0
    at_risk: int = 0
    dispatched: int = 0
    redispatched: int = 0
    relayed: int = 0
    errors: list[str] = field(default_factory=list)

    def busy(self) -> bool:
        return any((self.judged, self.at_risk, self.dispatched, self.redispatched, self.relayed))


class SchedulerLoop:
    def __init__(
        self,
        engine: Engine,
        config: LoopConfig,
        clock: Callable[[], datetime],
        dispatch: Dispatch,
        relay: Relay | None = None,
        backlog: Backlog | None = None,
        swept: Swept | None = None,
        watermark: Watermark | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self.dispatch = dispatch
        self.relay = relay
        self.backlog = backlog
        self.swept = swept
        self.watermark = watermark

    def step(self, stop: threading.Event | None = None) -> StepReport:
        """One pass over the four sub-steps (see the module docstring)."""
        report = StepReport()
        self._guarded(report, "sweep", lambda: self._sweep(report, stop))
        self._guarded(report, "at-risk", lambda: self._at_risk(report))
        self._guarded(report, "redispatch", lambda: self._redispatch(report))
        if self.relay is not None:
            relay = self.relay
            self._guarded(report, "relay", lambda: setattr(report, "relayed", relay()))
        return report

    def run(self, stop: threading.Event, interval: float) -> None:
        """Step every ``interval`` seconds until ``stop`` is set; the current step finishes."""
        log.info("scheduler %s running (interval %.1f s, batch %d, lease %s)",
                 self.config.claimer, interval, self.config.batch, self.config.lease)
        while not stop.is_set():
            started = time.monotonic()
            report = self.step(stop)
            if report.busy():
                log.info("step: judged %d (breached %d), at-risk %d, dispatched %d, "
                         "redispatched %d, relayed %d", report.judged, report.breached,
                         report.at_risk, report.dispatched, report.redispatched, report.relayed)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def _sweep(self, report: StepReport, stop: threading.Event | None) -> None:
        # Read once, before any claim: a reading can only be older (lower) than the truth
        # later in the step, so every sweep of the step stays behind the evidence.
        horizon = self.watermark().horizon if self.watermark is not None else None
        for _ in range(self.config.max_sweeps_per_step):
            result = sweep(
                self.engine, self.clock(), self.config.claimer, self.config.batch,
                self.config.lease, self.config.redispatch_after, horizon,
            )
            report.judged += sum(result.verdicts.values())
            report.breached += len(result.breaches)
            report.dispatched += self._dispatch(result.compensation_ids)
            self._stamp()
            if result.claimed < self.config.batch or (stop is not None and stop.is_set()):
                return

    def _stamp(self) -> None:
        if self.swept is None:
            return
        try:
            self.swept()
        except Exception as exc:  # the broker is away: readiness will say so anyway
            log.warning("sweep stamp not recorded: %s", exc)

    def _at_risk(self, report: StepReport) -> None:
        report.at_risk = warn_at_risk(self.engine, self.clock(), self.config.batch).warned

    def _redispatch(self, report: StepReport) -> None:
        now = self.clock()
        due_by = now
        if self.backlog is not None and self.backlog() > 0:
            due_by = now - self.config.redispatch_after * (BACKLOG_PATIENCE - 1)
        ids = claim_for_dispatch(
            self.engine, now, self.config.redispatch_after, self.config.batch, due_by
        )
        if ids:
            log.warning("dispatching %d pending compensations again (task lost or retry due): %s",
                        len(ids), ids[:20])
        report.redispatched = self._dispatch(ids)

    def _dispatch(self, compensation_ids: Sequence[int]) -> int:
        sent = 0
        for chunk in chunks(compensation_ids, self.config.dispatch_chunk):
            try:
                self.dispatch(chunk)
            except Exception as exc:  # the broker is down: the redispatch claim retries later
                # Stop at the first failure: each further send would wait out its own retries.
                log.warning("broker unavailable (%s): %d compensations not dispatched now, "
                            "dispatched again after %s", exc, len(compensation_ids) - sent,
                            self.config.redispatch_after)
                return sent
            sent += len(chunk)
        return sent

    def _guarded(self, report: StepReport, name: str, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:  # a daemon loop: log, go on, the work is still in the database
            log.exception("scheduler %s failed; retrying next step", name)
            report.errors.append(f"{name}: {exc}")
