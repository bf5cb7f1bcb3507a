"""The scheduler process: wiring for the sweeper loop (scheduler/ holds the logic)."""

from __future__ import annotations

import logging
import signal
import threading

from slamon.bootstrap import build_runtime, configure_celery, configure_logging
from slamon.settings import Settings

log = logging.getLogger("slamon.scheduler")


def run_scheduler_role(settings: Settings) -> int:
    configure_logging(settings)
    build_runtime(settings)
    configure_celery(settings)
    stop = threading.Event()
    # SIGTERM sets a flag; the loop finishes its step and exits (no half-written sweep).
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("scheduler started (interval %.1fs)", settings.scheduler_interval_seconds)
    while not stop.wait(settings.scheduler_interval_seconds):
        pass  # the sweeper is wired in by the timers change
    log.info("scheduler stopped")
    return 0
