"""Wire adapters from settings: the one place that turns configuration into objects."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from slamon.log_format import formatter
from slamon.models.policy.policy import PolicySet, load_policies
from slamon.settings import Settings
from slamon.worker import redelivery
from slamon.worker import runtime as runtime_mod
from slamon.worker.app import app as celery_app
from slamon.worker.message_gate import Limits
from slamon.worker.payout_guard import GuardLimits
from slamon.worker.points.port import PointsIssuer
from slamon.worker.runtime import Runtime


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(settings.log_format))
    logging.basicConfig(level=settings.log_level, handlers=[handler])


def policies_for(settings: Settings) -> PolicySet:
    extra = [settings.policy] if settings.policy else []
    return load_policies(extra)


def build_runtime(settings: Settings) -> Runtime:
    """The runtime the tasks and the scheduler use, installed for this process."""
    policies = policies_for(settings)
    runtime = Runtime(
        database_url=settings.database,
        policies=policies,
        max_clock_skew=settings.max_clock_skew,
        redispatch_after=settings.redispatch_after,
        message_limits=Limits(settings.max_body_bytes, settings.max_task_delay),
        payout_limits=GuardLimits(
            settings.payout_limits,
            tuple((p.id, p.payout) for p in policies if p.payout is not None),
        ),
        issuer_factory=lambda engine: points_issuer(settings, engine),
    )
    return runtime_mod.install(runtime)


def configure_celery(settings: Settings) -> None:
    celery_app.conf.broker_url = settings.broker
    celery_app.conf.broker_transport_options = redelivery.transport_options(
        settings.broker_visibility_timeout_seconds
    )


def points_issuer(settings: Settings, engine: Engine) -> PointsIssuer:
    if settings.points_adapter == "http":
        from slamon.worker.points.http import HttpPointsIssuer

        keys = settings.points_keys
        assert settings.points_url is not None and keys is not None  # enforced by Settings
        return HttpPointsIssuer(
            str(settings.points_url),
            keys,
            connect_timeout=min(2.0, settings.points_timeout_seconds),
            read_timeout=settings.points_timeout_seconds,
        )
    from slamon.worker.points.ledger import LedgerPointsIssuer

    return LedgerPointsIssuer(engine)
