"""Errors raised while loading or choosing an SLA policy, worded for the person who wrote it.

A policy file is written by hand, so a validation error must point at the place in the
file (``tmall-2022.toml: metrics.response.hours: Input should be greater than 0``), not at
pydantic's internal names for union members or discriminator tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

_SCHEMA_PROBLEM = "policy_schema"


class PolicyError(ValueError):
    """A policy file or a policy choice is wrong; ``str()`` is one line a user can act on."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        prefix = f"{source}: " if source else ""
        super().__init__("; ".join(f"{prefix}{problem}" for problem in self.problems))


class UnknownPolicyError(PolicyError, LookupError):
    """A policy id that no loaded file defines."""

    def __init__(self, policy_id: str, known: Iterable[str]) -> None:
        self.policy_id = policy_id
        names = ", ".join(sorted(known)) or "none"
        super().__init__("", [f"unknown policy {policy_id!r}; known policies: {names}"])


class NoPolicyInForceError(PolicyError, LookupError):
    """No policy had taken effect yet at the instant a case was opened."""


def schema_problem(where: str, message: str) -> PydanticCustomError:
    """An error for a model validator that names a place below the model, without
    pydantic's "Value error, " prefix: ``rules.2.categories: ...``."""
    return PydanticCustomError(
        _SCHEMA_PROBLEM, "{where}: {message}", {"where": where, "message": message}
    )


def validation_problems(error: ValidationError, document: Any) -> list[str]:
    """One ``dotted.path: message`` line per distinct place in the file.

    Steps:
    1. For each pydantic error, walk its ``loc`` through the raw document, keeping only the
       parts that are real keys or list indices; the rest are pydantic's labels for union
       members (``list[...]``, ``literal['*']``) or discriminator tags (``price_rate``),
       which mean nothing to the author of the file.
    2. A ``schema_problem`` raised by a model validator carries the rest of its path; it
       is appended to the model's own.
    3. Join the messages found at the same path (a value that fits no member of a union
       produces one error per member) so each place is reported once, in file order.
    """
    by_path: dict[str, list[str]] = {}
    for detail in error.errors(include_url=False):
        path = _document_path(detail["loc"], document)
        message = detail["msg"]
        context = detail.get("ctx") or {}
        if detail["type"] == _SCHEMA_PROBLEM:
            path = ".".join(p for p in (path, context["where"]) if p)
            message = context["message"]
        messages = by_path.setdefault(path, [])
        if message not in messages:
            messages.append(message)
    return [
        f"{path}: {' or '.join(messages)}" if path else " or ".join(messages)
        for path, messages in by_path.items()
    ]


def _document_path(loc: Sequence[int | str], document: Any) -> str:
    parts: list[str] = []
    node = document
    last = len(loc) - 1
    for index, part in enumerate(loc):
        if _has(node, part):
            node = node[part]
            parts.append(str(part))
        elif index == last and isinstance(node, dict) and str(part).isidentifier():
            # A required key the file lacks: name it, it is what the author must add.
            # (Pydantic's labels have brackets, and its discriminator tags are never last.)
            parts.append(str(part))
    return ".".join(parts)


def _has(node: Any, part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
