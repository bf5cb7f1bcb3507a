"""What tests run the services with: the settings' default timings (written once, in
slamon.settings), a clock a test can set, and a Runtime built from both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from slamon.models.policy.policy import PolicySet, load_policies
from slamon.settings import Settings
from slamon.worker.message_gate import Limits
from slamon.worker.payout_guard import GuardLimits
from slamon.worker.runtime import Runtime, utcnow

# The defaults themselves, whatever SLAMON_* variables the machine running the tests has set.
DEFAULTS = Settings.model_construct()
LIMITS = GuardLimits(DEFAULTS.payout_limits)  # the payout guard's, as the settings give them


class Clock:
    """A clock that says ``now`` until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def runtime_for(
    database_url: str,
    clock: Callable[[], datetime] = utcnow,
    policies: PolicySet | None = None,
    **changes: Any,
) -> Runtime:
    """A Runtime as slamon.bootstrap builds one from the default settings, on ``database_url``."""
    values: dict[str, Any] = {
        "max_clock_skew": DEFAULTS.max_clock_skew,
        "message_limits": Limits(DEFAULTS.max_body_bytes, DEFAULTS.max_task_delay),
        "redispatch_after": DEFAULTS.redispatch_after,
        "payout_limits": LIMITS,
    }
    return Runtime(
        database_url=database_url,
        policies=policies if policies is not None else load_policies(),
        clock=clock,
        **(values | changes),
    )
