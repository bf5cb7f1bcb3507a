"""SLA policies as data: the schema of a policy file, the loader, and the set of policies.

A policy is a TOML file (``models/policy/shipped/*.toml`` ship with the package; users add their
own through ``SLAMON_POLICY``). It says which cases are monitored, which deadlines they get
on which clock, and what a breach costs. Every number lives in the file; code holds none.

A case is judged by the policy in force when it was opened: the one with the latest
``effective_from`` not after ``opened_at``.
"""

from __future__ import annotations

import bisect
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from slamon.models.calendar.spec import CalendarSpec
from slamon.models.case_state import DeadlineKind
from slamon.models.payout import PolicyPayout
from slamon.models.policy.eligibility import Eligibility
from slamon.models.policy.errors import (
    NoPolicyInForceError,
    PolicyError,
    UnknownPolicyError,
    schema_problem,
    validation_problems,
)
from slamon.models.policy.penalty import ByServicePenalty, PenaltyRule

__all__ = [
    "Clock",
    "Metric",
    "NoPolicyInForceError",
    "Policy",
    "PolicyError",
    "PolicySet",
    "UnknownPolicyError",
    "load_policies",
    "load_policy_file",
    "parse_policy",
    "shipped_folder",
]

Clock = Literal["business_hours", "window_only", "wall_clock"]
PolicyId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
_MICROSECONDS_PER_HOUR = 3_600_000_000


class Metric(BaseModel):
    """One promise of the policy: a duration on a clock, and its price.

    Which events keep it follows from its name, a deadline kind the case state machine knows
    (:mod:`slamon.models.case_state`): ``response`` is kept by a solution (``help.responded``,
    or a ``help.resolved`` without one before it), ``resolution`` by ``help.resolved``.

    Clocks: ``business_hours`` counts only the calendar's open time; ``wall_clock`` counts
    real elapsed time; ``window_only`` gives a wall-clock deadline to cases opened while the
    calendar is open and no deadline at all to the others.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hours: Decimal = Field(gt=0)
    clock: Clock
    penalty: PenaltyRule

    @field_validator("hours")
    @classmethod
    def _whole_microseconds(cls, hours: Decimal) -> Decimal:
        if (hours * _MICROSECONDS_PER_HOUR) % 1:
            raise ValueError("must be a whole number of microseconds")
        return hours

    @property
    def duration(self) -> timedelta:
        return timedelta(microseconds=int(self.hours * _MICROSECONDS_PER_HOUR))


class Policy(BaseModel):
    """One dated version of the SLA rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: PolicyId
    # A date means midnight of that date in the calendar's zone.
    effective_from: datetime | date
    description: str
    calendar: CalendarSpec
    eligibility: Eligibility
    metrics: dict[DeadlineKind, Metric] = Field(min_length=1)
    # Late events: a breach is decided only this long after the deadline, by event time.
    grace_seconds: int = Field(60, ge=0)
    # A case is "at risk" once this share of a metric's time (on its own clock) is used.
    at_risk_ratio: Decimal = Field(gt=0, le=1)
    # The payout guard's per-compensation and per-account limits for this policy's penalties
    # (slamon.models.payout); unset, SLAMON_PAYOUT_MAX_* apply.
    payout: PolicyPayout | None = None

    @field_validator("effective_from", mode="before")
    @classmethod
    def _date_or_aware(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
            except ValueError:
                raise ValueError("must be a date or an ISO datetime with offset") from None
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(
                "a datetime needs an offset (2022-01-01T00:00:00+08:00), or give a date"
            )
        if not isinstance(value, date):
            raise ValueError("must be a date or a datetime with offset")
        return value

    @model_validator(mode="after")
    def _penalties_name_eligible_services(self) -> Policy:
        # A typo in a penalty table would silently price a service at nothing.
        eligible = {s for rule in self.eligibility.rules for s in rule.services}
        for name, metric in self.metrics.items():
            if isinstance(metric.penalty, ByServicePenalty):
                for service in metric.penalty.services:
                    if service not in eligible:
                        raise schema_problem(
                            f"metrics.{name}.penalty.services.{service}",
                            f"no eligibility rule names this service (known: {sorted(eligible)})",
                        )
        return self

    @model_validator(mode="after")
    def _business_clocks_need_open_hours(self) -> Policy:
        # Otherwise every case would fail at planning time ("never open") instead of the
        # file failing once, here.
        spec = self.calendar
        opens = any(spec.weekly.values()) or bool(spec.workdays and spec.workday_hours)
        if spec.mode == "business" and not opens:
            for name, metric in self.metrics.items():
                if metric.clock != "wall_clock":
                    raise schema_problem(
                        "calendar.weekly",
                        f"no open hours, but metrics.{name} runs on the {metric.clock} clock",
                    )
        return self

    @property
    def effective_at(self) -> datetime:
        """The instant the policy takes effect (aware)."""
        if isinstance(self.effective_from, datetime):
            return self.effective_from
        # Midnight may fall in a DST gap in some zones; zoneinfo then reads it with the
        # offset before the gap, a few minutes/hours later in real time: fine for a policy.
        return datetime.combine(self.effective_from, time(), tzinfo=ZoneInfo(self.calendar.tz))


class PolicySet:
    """The loaded policies, ordered by the instant they take effect."""

    def __init__(self, policies: Iterable[Policy], default_id: str | None = None) -> None:
        self._by_start = sorted(policies, key=lambda p: p.effective_at)
        if not self._by_start:
            raise PolicyError("", ["no policies loaded"])
        self._by_id = {p.id: p for p in self._by_start}
        self._starts = [p.effective_at for p in self._by_start]
        self._fallback = self.get(default_id) if default_id is not None else None

    def __iter__(self) -> Iterator[Policy]:
        return iter(self._by_start)

    def __len__(self) -> int:
        return len(self._by_start)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self._by_start)

    def get(self, policy_id: str) -> Policy:
        try:
            return self._by_id[policy_id]
        except KeyError:
            raise UnknownPolicyError(policy_id, self._by_id) from None

    def in_force_at(self, instant: datetime) -> Policy:
        """The policy with the latest ``effective_from`` not after ``instant``."""
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"instant {instant.isoformat()} must carry a UTC offset")
        index = bisect.bisect_right(self._starts, instant)
        if index == 0:
            first = self._by_start[0]
            raise NoPolicyInForceError(
                "",
                [
                    f"no policy in force at {instant.isoformat()}; the earliest, {first.id}, "
                    f"takes effect at {first.effective_at.isoformat()}"
                ],
            )
        return self._by_start[index - 1]

    @property
    def fallback(self) -> Policy | None:
        """The configured default, used for cases opened before any policy took effect."""
        return self._fallback

    @property
    def default(self) -> Policy:
        """The configured default, else the newest policy (the one new cases get)."""
        return self._fallback or self._by_start[-1]


def parse_policy(text: str, source: str) -> Policy:
    """Validate one policy file's text; errors name ``source`` and the path in the file."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, [f"invalid TOML: {exc}"]) from None
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(source, validation_problems(exc, document)) from None


def load_policy_file(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), [f"cannot read: {exc}"]) from None
    return parse_policy(text, str(path))


def load_policies(extra: Sequence[Path] = (), default: str | None = None) -> PolicySet:
    """The shipped policies plus the user's files (a path may be a file or a directory).

    Steps:
    1. Read every shipped ``models/policy/shipped/*.toml``, then each extra path: a file as is, a
       directory's ``*.toml`` in name order.
    2. Validate each; the first bad file stops loading with its path-named errors.
    3. Refuse two files with the same id, or two policies taking effect at the same
       instant (which one is in force would be a coin toss), naming both files.
    4. ``default`` (``SLAMON_DEFAULT_POLICY``) must be a loaded id.
    """
    loaded: list[tuple[str, Policy]] = [
        (item.name, parse_policy(item.read_text(encoding="utf-8"), item.name))
        for item in _shipped_files()
    ]
    for path in _user_files(extra):
        loaded.append((str(path), load_policy_file(path)))
    _refuse_clashes(loaded)
    return PolicySet((policy for _, policy in loaded), default_id=default)


def shipped_folder() -> Traversable:
    """Where the policies that ship with slamon live (inside the installed package)."""
    return resources.files("slamon.models.policy") / "shipped"


def _shipped_files() -> list[Traversable]:
    return sorted(
        (item for item in shipped_folder().iterdir() if item.name.endswith(".toml")),
        key=lambda item: item.name,
    )


def _user_files(extra: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in extra:
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise PolicyError(str(path), ["directory holds no *.toml policy files"])
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise PolicyError(str(path), ["no such policy file or directory"])
    return files


def _refuse_clashes(loaded: Sequence[tuple[str, Policy]]) -> None:
    by_id: dict[str, str] = {}
    by_start: dict[datetime, tuple[str, str]] = {}
    for source, policy in loaded:
        if policy.id in by_id:
            raise PolicyError(
                source, [f"policy id {policy.id!r} is already defined in {by_id[policy.id]}"]
            )
        by_id[policy.id] = source
        start = policy.effective_at
        if start in by_start:
            other_source, other_id = by_start[start]
            raise PolicyError(
                source,
                [
                    f"policy {policy.id!r} takes effect at {start.isoformat()}, "
                    f"the same instant as {other_id!r} in {other_source}"
                ],
            )
        by_start[start] = (source, policy.id)
