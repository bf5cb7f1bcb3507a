"""Policy documents for tests: the shipped files, read as text or as a TOML dict to edit."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

from slamon.models.policy.policy import Policy, shipped_folder


def shipped_text(policy_id: str = "tmall-2022") -> str:
    return (shipped_folder() / f"{policy_id}.toml").read_text("utf-8")


def shipped_document(policy_id: str = "tmall-2022") -> dict[str, Any]:
    return tomllib.loads(shipped_text(policy_id))


def edited_policy(policy_id: str = "tmall-2022", **changes: Any) -> Policy:
    """The shipped policy with top-level keys replaced (dotted keys as ``a__b``)."""
    document = copy.deepcopy(shipped_document(policy_id))
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        node = document
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return Policy.model_validate(document)
