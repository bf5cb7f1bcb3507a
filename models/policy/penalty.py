"""Penalty rules of a policy metric: how many points a breach costs the merchant.

Three rules, chosen per metric by ``rule`` in the policy file:

- ``fixed``: the same points for every case (``points = 5000``);
- ``price_rate``: item price in yuan × ``points_per_yuan``, rounded to whole points, then
  capped (the 三年质保 rule: price × 15, at most 100,000);
- ``by_service``: one fixed or price-rate rule per qualifying service; when a case has
  several, ``combine`` decides whether the largest applies or they add up.

Points are integers and money is ``Decimal`` throughout; a float never touches either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Points = Annotated[int, Field(strict=True, ge=0)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]

_ROUNDING = {"down": ROUND_DOWN, "half_up": ROUND_HALF_UP}
_WHOLE_POINT = Decimal(1)


@dataclass(frozen=True)
class PenaltyQuote:
    """The points one breach of a metric would cost, and why when something was missing."""

    points: int
    notes: tuple[str, ...] = ()


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FixedPenalty(_Rule):
    """The same points for every breach."""

    rule: Literal["fixed"] = "fixed"
    points: Points

    def quote(self, services: Sequence[str], item_price: Decimal | None) -> PenaltyQuote:
        return PenaltyQuote(self.points)


class PriceRatePenalty(_Rule):
    """Item price (yuan) × points per yuan, rounded to whole points, then capped."""

    rule: Literal["price_rate"] = "price_rate"
    points_per_yuan: Decimal = Field(ge=0)
    cap: Points | None = None
    # How a fractional point is rounded (price 1299.99 × 15 = 19499.85 points); the rule
    # text does not say, so it is a policy setting.
    rounding: Literal["down", "half_up"] = "half_up"

    def quote(self, services: Sequence[str], item_price: Decimal | None) -> PenaltyQuote:
        if item_price is None:
            return PenaltyQuote(0, ("item price unknown, so the price-rate penalty counts as 0",))
        exact = item_price * self.points_per_yuan
        points = int(exact.quantize(_WHOLE_POINT, rounding=_ROUNDING[self.rounding]))
        if self.cap is not None and points > self.cap:
            return PenaltyQuote(self.cap, (f"{points} points capped at {self.cap}",))
        return PenaltyQuote(points)


ServicePenalty = Annotated[FixedPenalty | PriceRatePenalty, Field(discriminator="rule")]


class ByServicePenalty(_Rule):
    """One rule per qualifying service; several services are combined by ``combine``."""

    rule: Literal["by_service"] = "by_service"
    services: dict[Slug, ServicePenalty] = Field(min_length=1)
    # ASSUMPTION (DOMAIN.md): an item with several qualifying services pays the largest
    # applicable penalty, not the sum; "sum" is there for a policy that reads it otherwise.
    combine: Literal["largest", "sum"] = "largest"

    @field_validator("services", mode="before")
    @classmethod
    def _bare_points_are_fixed(cls, value: Any) -> Any:
        # `delivery_to_home = 30000` is shorthand for `{ rule = "fixed", points = 30000 }`.
        if isinstance(value, dict):
            return {
                service: rule if isinstance(rule, dict) else {"rule": "fixed", "points": rule}
                for service, rule in value.items()
            }
        return value

    def quote(self, services: Sequence[str], item_price: Decimal | None) -> PenaltyQuote:
        """Quote each listed service that has a rule, then combine.

        Steps:
        1. Services without a rule in the table add nothing (they qualify the case through
           another metric's table, or the policy chose to charge nothing for them).
        2. Each remaining service is quoted by its own rule; its notes are kept, prefixed
           with the service, so a missing price is reported against 三年质保 by name.
        3. ``largest`` keeps the highest quote, ``sum`` adds them; no priced service is 0.
        """
        quotes = {
            service: self.services[service].quote(services, item_price)
            for service in dict.fromkeys(services)
            if service in self.services
        }
        notes = tuple(f"{service}: {note}" for service, q in quotes.items() for note in q.notes)
        amounts = [q.points for q in quotes.values()]
        if not amounts:
            return PenaltyQuote(0, ("no service of this case has a penalty rule",))
        total = max(amounts) if self.combine == "largest" else sum(amounts)
        return PenaltyQuote(total, notes)


PenaltyRule = Annotated[
    FixedPenalty | PriceRatePenalty | ByServicePenalty, Field(discriminator="rule")
]
