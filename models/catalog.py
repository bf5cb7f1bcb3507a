"""The vocabulary of Tmall home-improvement categories and services.

Events may name a category or a service by its Chinese label (as Tmall's own pages do) or by
its slug (as our policies do). This module is the one place that maps one to the other, so
that eligibility rules, events and reports agree on a single spelling: the slug.

Unknown names are kept as they were sent (trimmed): an item outside the catalogue is not an
invalid event, it is a case that is *not monitored*, and the policy says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

CATEGORY_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "building_materials": "家装建材",
        "basic_building_materials": "基础建材",
        "electrical": "电子电工",
        "lighting": "灯具灯饰",
        "storage": "收纳整理",
        "home_appliances": "家电",
        "furniture": "家装家具",
    }
)

SERVICE_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "scheduled_installation": "预约安装",
        "delivery_to_home": "送货入户",
        "delivery_and_installation": "送货入户并安装",
        "three_year_warranty": "三年质保",
    }
)

_CATEGORY_BY_LABEL = {label: slug for slug, label in CATEGORY_LABELS.items()}
_SERVICE_BY_LABEL = {label: slug for slug, label in SERVICE_LABELS.items()}


def _normalize(name: str, by_label: Mapping[str, str], extra: Mapping[str, str] | None) -> str:
    key = name.strip()
    if extra and key in extra:
        return extra[key]
    lowered = key.lower()
    if extra and lowered in extra:
        return extra[lowered]
    return by_label.get(key, lowered if lowered.isascii() else key)


def normalize_category(name: str, extra_aliases: Mapping[str, str] | None = None) -> str:
    """The slug for a category given as a slug or a Chinese label (unknown names pass through)."""
    return _normalize(name, _CATEGORY_BY_LABEL, extra_aliases)


def normalize_service(name: str, extra_aliases: Mapping[str, str] | None = None) -> str:
    """The slug for a service given as a slug or a Chinese label (unknown names pass through)."""
    return _normalize(name, _SERVICE_BY_LABEL, extra_aliases)
