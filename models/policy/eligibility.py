"""Which cases a policy monitors: category × service rules and city coverage.

A case qualifies when its category is one the policy covers, at least one of its services
is paired with that category by a rule, and its city is covered. Anything else is recorded
as *not monitored* with the reason this module words, so that an operator can see why a
case got no timers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from slamon.models.catalog import normalize_category, normalize_service
from slamon.models.policy.errors import schema_problem
from slamon.models.policy.penalty import Slug

ANY: Literal["*"] = "*"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EligibilityRule(_Frozen):
    """Services that qualify an item of these categories (``"*"``: any covered category)."""

    categories: Literal["*"] | Annotated[list[Slug], Field(min_length=1)]
    services: list[Slug] = Field(min_length=1)


class Aliases(_Frozen):
    """Extra names → slugs, on top of the Chinese labels that slamon.models.catalog knows."""

    categories: dict[str, Slug] = Field(default_factory=dict)
    services: dict[str, Slug] = Field(default_factory=dict)


@dataclass(frozen=True)
class EligibilityVerdict:
    """Whether a case is monitored, why not, and the services that qualified it."""

    monitored: bool
    reason: str | None
    category: str
    qualifying_services: tuple[str, ...] = ()


class Eligibility(_Frozen):
    """The coverage of a policy."""

    # The home-improvement (家装) categories this policy covers; "*" in a rule means these.
    categories: list[Slug] = Field(min_length=1)
    cities: Literal["*"] | Annotated[list[str], Field(min_length=1)] = ANY
    rules: list[EligibilityRule] = Field(min_length=1)
    aliases: Aliases = Field(default_factory=Aliases)

    @model_validator(mode="after")
    def _rules_name_covered_categories(self) -> Eligibility:
        covered = set(self.categories)
        for index, rule in enumerate(self.rules):
            if rule.categories == ANY:
                continue
            stray = [c for c in rule.categories if c not in covered]
            if stray:
                raise schema_problem(
                    f"rules.{index}.categories",
                    f"{stray} not in eligibility.categories {sorted(covered)}",
                )
        return self

    def services_for(self, category: str) -> tuple[str, ...]:
        """Services that qualify an item of ``category`` (slug), in rule order."""
        if category not in self.categories:
            return ()
        found = (
            service
            for rule in self.rules
            if rule.categories == ANY or category in rule.categories
            for service in rule.services
        )
        return tuple(dict.fromkeys(found))

    def judge(
        self, policy_id: str, category: str, services: Sequence[str], city: str | None
    ) -> EligibilityVerdict:
        """Decide whether a case is monitored.

        Steps:
        1. Map the category and services, given as slugs or labels, to slugs (the catalogue's
           labels plus this policy's aliases).
        2. The category must be covered by the policy.
        3. At least one service must be paired with that category by a rule; these are the
           qualifying services, which decide the penalties.
        4. The city must be covered (always, when the policy says ``"*"``).
        """
        slug = normalize_category(category, self.aliases.categories)
        given = tuple(dict.fromkeys(normalize_service(s, self.aliases.services) for s in services))
        if slug not in self.categories:
            return EligibilityVerdict(
                False, f"category {slug!r} is not covered by policy {policy_id}", slug
            )
        allowed = self.services_for(slug)
        qualifying = tuple(s for s in given if s in allowed)
        if not qualifying:
            return EligibilityVerdict(
                False,
                f"no qualifying service for category {slug}: got {list(given)}, "
                f"policy {policy_id} needs one of {list(allowed)}",
                slug,
            )
        city_problem = self._city_problem(policy_id, city)
        if city_problem:
            return EligibilityVerdict(False, city_problem, slug, qualifying)
        return EligibilityVerdict(True, None, slug, qualifying)

    def _city_problem(self, policy_id: str, city: str | None) -> str | None:
        if self.cities == ANY:
            return None
        if city is None or not city.strip():
            # ASSUMPTION: coverage that cannot be established is not assumed; the event
            # should carry the city when the policy lists cities.
            return f"city not given, and policy {policy_id} covers only listed cities"
        if _city_key(city) in {_city_key(c) for c in self.cities}:
            return None
        return f"city {city.strip()!r} is not covered by policy {policy_id}"


def _city_key(city: str) -> str:
    # "杭州市" and "杭州" name the same city; Tmall's pages use both spellings.
    name = city.strip().casefold()
    return name.removesuffix("市") if len(name) > 2 else name
