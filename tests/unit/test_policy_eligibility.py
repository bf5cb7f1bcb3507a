"""Eligibility: the category × service table of DOMAIN.md, in slugs and Chinese labels,
city coverage, and the reasons a case is not monitored."""

from __future__ import annotations

import pytest

from slamon.models.policy.eligibility import Eligibility, EligibilityVerdict
from slamon.models.policy.policy import load_policies
from tests.unit.policy_samples import edited_policy, shipped_document

CURRENT = load_policies().get("tmall-2022").eligibility

INSTALL_CATEGORIES = [
    ("building_materials", "家装建材"),
    ("basic_building_materials", "基础建材"),
    ("electrical", "电子电工"),
    ("lighting", "灯具灯饰"),
    ("storage", "收纳整理"),
    ("home_appliances", "家电"),
]
ALL_CATEGORIES = [*INSTALL_CATEGORIES, ("furniture", "家装家具")]
SERVICES = {
    "scheduled_installation": "预约安装",
    "delivery_to_home": "送货入户",
    "delivery_and_installation": "送货入户并安装",
    "three_year_warranty": "三年质保",
}

# The DOMAIN.md table, written out pair by pair.
QUALIFYING = {
    *((c, "scheduled_installation") for c, _ in INSTALL_CATEGORIES),
    ("building_materials", "delivery_to_home"),
    ("furniture", "delivery_and_installation"),
    *((c, "three_year_warranty") for c, _ in ALL_CATEGORIES),
}
PAIRS = [(category, label, service) for category, label in ALL_CATEGORIES for service in SERVICES]


@pytest.mark.parametrize(("category", "label", "service"), PAIRS)
def test_the_domain_table_by_slug_and_by_label(category: str, label: str, service: str) -> None:
    expected = (category, service) in QUALIFYING
    by_slug = CURRENT.judge("tmall-2022", category, [service], None)
    by_label = CURRENT.judge("tmall-2022", label, [SERVICES[service]], None)
    assert by_slug.monitored is expected
    assert by_label == by_slug
    if expected:
        assert by_slug.qualifying_services == (service,)


def test_unknown_category_reason() -> None:
    verdict = CURRENT.judge("tmall-2022", "toys", ["three_year_warranty"], None)
    assert verdict == EligibilityVerdict(
        False, "category 'toys' is not covered by policy tmall-2022", "toys"
    )


def test_no_qualifying_service_reason_lists_what_would_qualify() -> None:
    verdict = CURRENT.judge("tmall-2022", "家装家具", ["预约安装", "送货入户"], None)
    assert not verdict.monitored
    assert verdict.reason == (
        "no qualifying service for category furniture: got ['scheduled_installation', "
        "'delivery_to_home'], policy tmall-2022 needs one of ['delivery_and_installation', "
        "'three_year_warranty']"
    )


def test_no_service_at_all_is_not_monitored() -> None:
    verdict = CURRENT.judge("tmall-2022", "lighting", [], None)
    assert not verdict.monitored
    assert verdict.reason is not None and "got []" in verdict.reason


def test_warranty_qualifies_any_home_improvement_category_alongside_others() -> None:
    verdict = CURRENT.judge(
        "tmall-2022", "furniture", ["scheduled_installation", "three_year_warranty"], None
    )
    assert verdict.monitored
    assert verdict.qualifying_services == ("three_year_warranty",)


def test_services_are_deduplicated_across_spellings() -> None:
    verdict = CURRENT.judge(
        "tmall-2022", " Building_Materials ", ["送货入户", "delivery_to_home", "预约安装"], None
    )
    assert verdict.category == "building_materials"
    assert verdict.qualifying_services == ("delivery_to_home", "scheduled_installation")


def test_policy_aliases_add_to_the_catalogue() -> None:
    verdict = CURRENT.judge("tmall-2022", "家具", ["送装一体"], None)
    assert verdict.monitored
    assert (verdict.category, verdict.qualifying_services) == (
        "furniture",
        ("delivery_and_installation",),
    )
    # The legacy policy declares no aliases: the same words are unknown there.
    legacy = load_policies().get("tmall-legacy").eligibility
    assert not legacy.judge("tmall-legacy", "家具", ["送装一体"], None).monitored


def listed_cities() -> Eligibility:
    return edited_policy(eligibility__cities=["杭州市", "上海", "Beijing"]).eligibility


CITIES = [
    ("杭州", True),
    ("杭州市", True),
    (" 上海市 ", True),
    ("beijing", True),
    ("深圳", False),
]


@pytest.mark.parametrize(("city", "covered"), CITIES)
def test_listed_cities(city: str, covered: bool) -> None:
    verdict = listed_cities().judge("tmall-2022", "furniture", ["三年质保"], city)
    assert verdict.monitored is covered
    if not covered:
        assert verdict.reason == f"city '{city}' is not covered by policy tmall-2022"


def test_a_missing_city_is_not_covered_by_a_list_but_is_by_star() -> None:
    verdict = listed_cities().judge("tmall-2022", "furniture", ["三年质保"], None)
    assert verdict.reason == "city not given, and policy tmall-2022 covers only listed cities"
    assert CURRENT.judge("tmall-2022", "furniture", ["三年质保"], None).monitored


def test_shipped_rules_match_the_document() -> None:
    # services_for must read the rules in the file, not a table of its own.
    document = shipped_document()
    document["eligibility"]["rules"].pop()  # drop the three-year-warranty rule
    trimmed = Eligibility.model_validate(document["eligibility"])
    assert trimmed.services_for("furniture") == ("delivery_and_installation",)
    assert CURRENT.services_for("furniture") == (
        "delivery_and_installation",
        "three_year_warranty",
    )
    assert CURRENT.services_for("toys") == ()
