"""Penalty rules: fixed points, price × rate with rounding and a cap, a table by service."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter

from slamon.models.policy.penalty import (
    ByServicePenalty,
    FixedPenalty,
    PenaltyQuote,
    PenaltyRule,
    PriceRatePenalty,
)
from slamon.models.policy.policy import load_policies

RULE: TypeAdapter[FixedPenalty | PriceRatePenalty | ByServicePenalty] = TypeAdapter(PenaltyRule)
WARRANTY = PriceRatePenalty(points_per_yuan=Decimal(15), cap=100_000)


def test_fixed_points_ignore_services_and_price() -> None:
    rule = RULE.validate_python({"rule": "fixed", "points": 5000})
    assert rule.quote(("delivery_to_home",), Decimal("99999")) == PenaltyQuote(5000)
    assert rule.quote((), None) == PenaltyQuote(5000)


PRICE_RATE = [
    # price (yuan), points = price × 15 rounded half up, capped at 100,000; capped?
    ("0", 0, False),
    ("1299.00", 19_485, False),
    ("0.03", 0, False),  # 0.45 points
    ("0.10", 2, False),  # 1.5 points: half up
    ("6666.66", 100_000, False),  # 99,999.9 rounds to exactly the cap
    ("6666.70", 100_000, True),  # 100,000.5 -> 100,001, capped
    ("1000000", 100_000, True),
]


@pytest.mark.parametrize(("price", "points", "capped"), PRICE_RATE)
def test_price_rate_rounds_half_up_then_caps(price: str, points: int, capped: bool) -> None:
    quote = WARRANTY.quote(("three_year_warranty",), Decimal(price))
    assert quote.points == points
    assert type(quote.points) is int
    assert bool(quote.notes) == capped


def test_rounding_down_is_a_policy_setting() -> None:
    rule = PriceRatePenalty(points_per_yuan=Decimal(15), rounding="down")
    assert rule.quote((), Decimal("0.13")).points == 1  # 1.95 points
    assert WARRANTY.quote((), Decimal("0.13")).points == 2


def test_no_cap_means_no_limit() -> None:
    rule = PriceRatePenalty(points_per_yuan=Decimal("15"))
    assert rule.quote((), Decimal("1000000")).points == 15_000_000


def test_the_cap_is_reported() -> None:
    quote = WARRANTY.quote((), Decimal("10000"))
    assert quote == PenaltyQuote(100_000, ("150000 points capped at 100000",))


def test_a_missing_price_counts_as_zero_and_says_so() -> None:
    quote = WARRANTY.quote(("three_year_warranty",), None)
    assert quote.points == 0
    assert quote.notes == ("item price unknown, so the price-rate penalty counts as 0",)


def table(combine: str = "largest") -> ByServicePenalty:
    rule = RULE.validate_python(
        {
            "rule": "by_service",
            "combine": combine,
            "services": {
                "delivery_and_installation": 30_000,
                "scheduled_installation": {"rule": "fixed", "points": 10_000},
                "three_year_warranty": {
                    "rule": "price_rate",
                    "points_per_yuan": 15,
                    "cap": 100_000,
                },
            },
        }
    )
    assert isinstance(rule, ByServicePenalty)
    return rule


BY_SERVICE = [
    (("delivery_and_installation",), None, 30_000),
    (("scheduled_installation",), None, 10_000),
    # Several services: the largest applies (the warranty is worth 1,500 here).
    (("scheduled_installation", "three_year_warranty"), "100", 10_000),
    # ...and the warranty wins when the item is dear (3,000 × 15 = 45,000).
    (("delivery_and_installation", "three_year_warranty"), "3000", 45_000),
    (("delivery_and_installation", "three_year_warranty"), "100000", 100_000),
    # A service the table does not price adds nothing.
    (("scheduled_installation", "delivery_to_home"), None, 10_000),
]


@pytest.mark.parametrize(("services", "price", "points"), BY_SERVICE)
def test_by_service_takes_the_largest(
    services: tuple[str, ...], price: str | None, points: int
) -> None:
    quote = table().quote(services, Decimal(price) if price else None)
    assert quote.points == points


def test_by_service_can_sum_instead() -> None:
    services = ("delivery_and_installation", "scheduled_installation", "three_year_warranty")
    assert table("sum").quote(services, Decimal("100")).points == 30_000 + 10_000 + 1_500
    # A service listed twice is counted once.
    assert table("sum").quote(services + services, Decimal("100")).points == 41_500


def test_warranty_without_price_falls_back_to_the_other_services() -> None:
    services = ("delivery_and_installation", "three_year_warranty")
    quote = table().quote(services, None)
    assert quote.points == 30_000
    assert quote.notes == (
        "three_year_warranty: item price unknown, so the price-rate penalty counts as 0",
    )


def test_no_priced_service_is_zero_with_a_note() -> None:
    quote = table().quote(("delivery_to_home",), None)
    assert quote == PenaltyQuote(0, ("no service of this case has a penalty rule",))


SHIPPED_RESOLUTION = [
    (("delivery_and_installation",), None, 30_000),
    (("delivery_to_home",), None, 30_000),
    (("scheduled_installation",), None, 10_000),
    (("three_year_warranty",), "1299.00", 19_485),
    (("three_year_warranty",), "7000", 100_000),
    (("delivery_to_home", "scheduled_installation"), None, 30_000),
]


@pytest.mark.parametrize(("services", "price", "points"), SHIPPED_RESOLUTION)
def test_tmall_2022_resolution_penalties(
    services: tuple[str, ...], price: str | None, points: int
) -> None:
    metric = load_policies().get("tmall-2022").metrics["resolution"]
    assert metric.penalty.quote(services, Decimal(price) if price else None).points == points


def test_tmall_2022_response_penalty_is_5000_points() -> None:
    metric = load_policies().get("tmall-2022").metrics["response"]
    assert metric.penalty.quote(("three_year_warranty",), Decimal("7000")).points == 5_000
