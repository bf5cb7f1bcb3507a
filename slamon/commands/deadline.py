"""`slamon deadline`: plan a case's deadlines from its facts, without running anything."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from slamon.commands.common import INSTANT, echo_json, fail
from slamon.commands.policy import policies_option, policy_set
from slamon.models.calendar.engine import CalendarError
from slamon.models.deadlines import CaseFacts, CasePlan, plan_case
from slamon.models.policy.policy import PolicyError


@click.command("deadline")
@click.option(
    "--opened-at", type=INSTANT, required=True,
    help="When the help was opened, ISO-8601 with offset.",
)
@click.option("--category", required=True, help="Item category, slug or Chinese label.")
@click.option(
    "--service",
    "services",
    required=True,
    multiple=True,
    help="Service sold with the item, slug or Chinese label (repeatable).",
)
@click.option("--city", default=None, help="City of the buyer.")
@click.option(
    "--price", default=None, help="Item price in yuan (decimal), for price-rate penalties."
)
@click.option("--policy", "policy_id", default=None, help="Policy id (default: the one in force).")
@click.option(
    "--now",
    type=INSTANT,
    default=None,
    help="Note deadlines already past at this ISO instant (default: now).",
)
@policies_option
def command(
    opened_at: datetime,
    category: str,
    services: tuple[str, ...],
    city: str | None,
    price: str | None,
    policy_id: str | None,
    now: datetime | None,
    policy_paths: tuple[Path, ...],
) -> None:
    """Print, as JSON, whether a case is monitored and its deadlines.

    \b
    Example:
      slamon deadline --opened-at 2026-11-26T17:30:00+08:00 \\
          --category 家装家具 --service 送货入户并安装 --service 三年质保 --price 1299.00

    Each deadline has its kind, clock, due_at, at_risk_at, judge_at (due + grace) and the
    penalty points; times are in the policy calendar's zone.
    """
    try:
        facts = CaseFacts(
            opened_at=opened_at,
            category=category,
            services=services,
            city=city,
            item_price=_price(price),
        )
        plan = plan_case(facts, policy_set(policy_paths), now or datetime.now(UTC), policy_id)
    except (PolicyError, CalendarError, ValueError) as exc:
        fail(str(exc))
    echo_json(plan_as_json(plan))


def plan_as_json(plan: CasePlan) -> dict[str, Any]:
    return {
        "policy": plan.policy_id,
        "monitored": plan.monitored,
        "reason": plan.reason,
        "deadlines": [
            {
                "kind": d.kind,
                "clock": d.clock,
                "due_at": d.due_at.isoformat(),
                "at_risk_at": d.at_risk_at.isoformat(),
                "judge_at": d.judge_at.isoformat(),
                "points": d.points,
            }
            for d in plan.deadlines
        ],
        "notes": list(plan.notes),
    }


def _price(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"--price: {text!r} is not a decimal amount of yuan") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"--price: {text!r} must be a non-negative amount of yuan")
    return value
