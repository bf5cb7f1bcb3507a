"""Loading policy files: the shipped set, user files, and errors that name the place in the file."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from slamon.models.policy.policy import (
    NoPolicyInForceError,
    PolicyError,
    PolicySet,
    UnknownPolicyError,
    load_policies,
    parse_policy,
)
from tests.unit.policy_samples import edited_policy, shipped_document, shipped_text

SHANGHAI = ZoneInfo("Asia/Shanghai")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def renamed(text: str, policy_id: str, effective_from: str) -> str:
    """A shipped policy under another id and start date."""
    text = text.replace('id = "tmall-2022"', f'id = "{policy_id}"', 1)
    return text.replace("effective_from = 2022-01-01", f"effective_from = {effective_from}", 1)


def problems(text: str, source: str = "tmall-2022.toml") -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source)
    return str(caught.value)


# -- the shipped policies ---------------------------------------------------------------------


def test_shipped_policies_load_with_their_numbers() -> None:
    policies = load_policies()
    assert policies.ids == ("tmall-legacy", "tmall-2022")
    current = policies.get("tmall-2022")
    assert current.metrics["response"].duration.total_seconds() == 3600
    assert current.metrics["response"].clock == "business_hours"
    assert current.metrics["resolution"].duration.total_seconds() == 48 * 3600
    assert current.metrics["resolution"].clock == "wall_clock"
    assert current.grace_seconds == 60
    assert policies.get("tmall-legacy").metrics["resolution"].duration.total_seconds() == 86400


def test_the_default_is_the_newest_policy_unless_configured() -> None:
    assert load_policies().default.id == "tmall-2022"
    configured = load_policies(default="tmall-legacy")
    assert configured.default.id == "tmall-legacy"
    assert configured.fallback is not None and configured.fallback.id == "tmall-legacy"
    assert load_policies().fallback is None


def test_a_date_takes_effect_at_midnight_in_the_calendar_zone() -> None:
    policy = load_policies().get("tmall-2022")
    assert policy.effective_from == date(2022, 1, 1)
    assert policy.effective_at == datetime(2022, 1, 1, tzinfo=SHANGHAI)


# -- choosing the policy in force -------------------------------------------------------------

IN_FORCE = [
    ("2021-12-31T23:59:59.999999+08:00", "tmall-legacy"),
    ("2022-01-01T00:00:00+08:00", "tmall-2022"),
    # 2021-12-31T16:00Z is midnight in Shanghai: the zone of the instant does not matter.
    ("2021-12-31T15:59:59+00:00", "tmall-legacy"),
    ("2021-12-31T16:00:00+00:00", "tmall-2022"),
    ("2019-01-01T00:00:00+08:00", "tmall-legacy"),
    ("2026-11-26T10:00:00+08:00", "tmall-2022"),
]


@pytest.mark.parametrize(("opened_at", "expected"), IN_FORCE)
def test_the_policy_in_force_is_the_latest_started(opened_at: str, expected: str) -> None:
    assert load_policies().in_force_at(datetime.fromisoformat(opened_at)).id == expected


def test_before_every_policy_there_is_none_in_force() -> None:
    with pytest.raises(NoPolicyInForceError, match="earliest, tmall-legacy, takes effect at 2019"):
        load_policies().in_force_at(datetime(2018, 12, 31, 23, 59, tzinfo=SHANGHAI))


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        load_policies().in_force_at(datetime(2026, 1, 1))


def test_an_unknown_id_lists_the_known_ones() -> None:
    with pytest.raises(UnknownPolicyError) as caught:
        load_policies().get("tmall-2099")
    assert str(caught.value) == (
        "unknown policy 'tmall-2099'; known policies: tmall-2022, tmall-legacy"
    )
    with pytest.raises(UnknownPolicyError, match="tmall-2099"):
        load_policies(default="tmall-2099")


def test_an_aware_datetime_start_is_kept_as_is(tmp_path: Path) -> None:
    text = renamed(shipped_text(), "acme-2026", "2026-07-01T12:00:00+02:00")
    policies = load_policies([write(tmp_path, "acme.toml", text)])
    assert policies.in_force_at(datetime(2026, 7, 1, 17, 59, tzinfo=SHANGHAI)).id == "tmall-2022"
    assert policies.in_force_at(datetime(2026, 7, 1, 18, 0, tzinfo=SHANGHAI)).id == "acme-2026"


# -- user files -------------------------------------------------------------------------------


def test_user_files_and_directories_join_the_shipped_set(tmp_path: Path) -> None:
    single = write(tmp_path, "one.toml", renamed(shipped_text(), "acme-one", "2030-01-01"))
    folder = tmp_path / "more"
    folder.mkdir()
    write(folder, "b.toml", renamed(shipped_text(), "acme-b", "2032-01-01"))
    write(folder, "a.toml", renamed(shipped_text(), "acme-a", "2031-01-01"))
    write(folder, "notes.txt", "not a policy")
    policies = load_policies([single, folder])
    assert policies.ids == ("tmall-legacy", "tmall-2022", "acme-one", "acme-a", "acme-b")
    assert policies.default.id == "acme-b"


def test_a_duplicate_id_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "first.toml", renamed(shipped_text(), "acme", "2030-01-01"))
    second = write(tmp_path, "second.toml", renamed(shipped_text(), "acme", "2031-01-01"))
    with pytest.raises(PolicyError) as caught:
        load_policies([first, second])
    assert str(caught.value) == f"{second}: policy id 'acme' is already defined in {first}"


def test_reusing_a_shipped_id_names_the_shipped_file(tmp_path: Path) -> None:
    copy = write(tmp_path, "mine.toml", renamed(shipped_text(), "tmall-2022", "2030-01-01"))
    with pytest.raises(PolicyError, match=r"'tmall-2022' is already defined in tmall-2022\.toml"):
        load_policies([copy])


def test_two_policies_starting_at_the_same_instant_are_refused(tmp_path: Path) -> None:
    # Same instant written in another zone: 2022-01-01T00:00+08:00.
    text = renamed(shipped_text(), "acme", "2021-12-31T16:00:00Z")
    with pytest.raises(PolicyError, match=r"same instant as 'tmall-2022' in tmall-2022\.toml"):
        load_policies([write(tmp_path, "acme.toml", text)])


def test_a_missing_path_or_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file or directory"):
        load_policies([tmp_path / "absent.toml"])
    with pytest.raises(PolicyError, match=r"holds no \*\.toml policy files"):
        load_policies([tmp_path])


def test_an_empty_set_is_refused() -> None:
    with pytest.raises(PolicyError, match="no policies loaded"):
        PolicySet([])


# -- validation errors name the place in the file ---------------------------------------------


def test_bad_toml_names_the_file_and_the_line() -> None:
    message = problems('id = "x"\nhours = = 1\n', "broken.toml")
    assert message.startswith("broken.toml: invalid TOML: ")
    assert "line 2" in message


ERRORS = [
    pytest.param(
        ("[metrics.response]\nhours = 1\n", "[metrics.response]\nhours = 0\n"),
        "tmall-2022.toml: metrics.response.hours: Input should be greater than 0",
        id="hours-not-positive",
    ),
    pytest.param(
        ('clock = "business_hours"', 'clock = "business"'),
        "tmall-2022.toml: metrics.response.clock: Input should be 'business_hours', "
        "'window_only' or 'wall_clock'",
        id="unknown-clock",
    ),
    pytest.param(
        ("scheduled_installation = 10000", "scheduled_installation = 100.5"),
        "tmall-2022.toml: metrics.resolution.penalty.services.scheduled_installation: "
        "Input should be a valid integer",
        id="fractional-points",
    ),
    pytest.param(
        ('{ rule = "fixed", points = 5000 }', '{ rule = "fixed", points = 50.5 }'),
        "tmall-2022.toml: metrics.response.penalty.points: Input should be a valid integer",
        id="tag-is-not-in-the-path",
    ),
    pytest.param(
        ("points_per_yuan = 15, cap = 100000", "points_per_yuan = 15, cap = -1"),
        "tmall-2022.toml: metrics.resolution.penalty.services.three_year_warranty.cap: "
        "Input should be greater than or equal to 0",
        id="negative-cap-under-a-tag",
    ),
    pytest.param(
        ('{ rule = "fixed", points = 5000 }', '{ rule = "fixd", points = 5000 }'),
        "tmall-2022.toml: metrics.response.penalty: Input tag 'fixd' found using 'rule' does "
        "not match any of the expected tags: 'fixed', 'price_rate', 'by_service'",
        id="unknown-rule",
    ),
    pytest.param(
        ('cities = "*"', "cities = 7"),
        "tmall-2022.toml: eligibility.cities: Input should be '*' or Input should be a valid list",
        id="union-reported-once",
    ),
    pytest.param(
        ("at_risk_ratio = 0.75", "at_risk_ratio = 1.5"),
        "tmall-2022.toml: at_risk_ratio: Input should be less than or equal to 1",
        id="ratio-above-one",
    ),
    pytest.param(
        ('clock = "business_hours"\n', ""),
        "tmall-2022.toml: metrics.response.clock: Field required",
        id="missing-key-is-named",
    ),
    pytest.param(
        ("[metrics.response]", "[metrics.first_reply]"),
        "tmall-2022.toml: metrics.first_reply: Input should be 'response' or 'resolution'",
        id="a-metric-the-state-machine-cannot-meet",
    ),
    pytest.param(
        ("grace_seconds = 60", "grace_seconds = 60\ngrace = 5"),
        "tmall-2022.toml: grace: Extra inputs are not permitted",
        id="unknown-key",
    ),
    pytest.param(
        ('tz = "Asia/Shanghai"', 'tz = "Asia/Shangai"'),
        "tmall-2022.toml: calendar.tz: Value error, 'Asia/Shangai' is not an IANA time zone "
        "name (e.g. 'Asia/Shanghai')",
        id="calendar-error",
    ),
    pytest.param(
        ("effective_from = 2022-01-01", "effective_from = 2022-01-01T00:00:00"),
        "tmall-2022.toml: effective_from: Value error, a datetime needs an offset "
        "(2022-01-01T00:00:00+08:00), or give a date",
        id="naive-start",
    ),
    pytest.param(
        ('categories = ["furniture"]', 'categories = ["furniture", "toys"]'),
        "tmall-2022.toml: eligibility.rules.2.categories: ['toys'] not in "
        "eligibility.categories ['basic_building_materials', 'building_materials', "
        "'electrical', 'furniture', 'home_appliances', 'lighting', 'storage']",
        id="rule-outside-covered-categories",
    ),
    pytest.param(
        ("delivery_to_home = 30000", "delivery_to_hom = 30000"),
        "tmall-2022.toml: metrics.resolution.penalty.services.delivery_to_hom: no eligibility "
        "rule names this service (known: ['delivery_and_installation', 'delivery_to_home', "
        "'scheduled_installation', 'three_year_warranty'])",
        id="penalty-for-unknown-service",
    ),
    pytest.param(
        ("hours = 48", "hours = 0.0000000001"),
        "tmall-2022.toml: metrics.resolution.hours: Value error, must be a whole number of "
        "microseconds",
        id="sub-microsecond-hours",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), ERRORS)
def test_errors_name_the_path_in_the_file(edit: tuple[str, str], expected: str) -> None:
    old, new = edit
    text = shipped_text()
    assert old in text, "the edit must apply to the shipped file"
    assert problems(text.replace(old, new, 1)) == expected


def test_a_business_clock_needs_a_calendar_that_opens() -> None:
    never_open = re.sub(r"^(mon|tue|wed|thu|fri|sat|sun) = .*\n", "", shipped_text(), flags=re.M)
    assert problems(never_open) == (
        "tmall-2022.toml: calendar.weekly: no open hours, but metrics.response runs on the "
        "business_hours clock"
    )
    closed = {"tz": "Asia/Shanghai", "weekly": {"mon": []}}
    # Wall-clock metrics only: a closed calendar is harmless.
    resolution_only = edited_policy(
        calendar=closed, metrics={"resolution": shipped_document()["metrics"]["resolution"]}
    )
    assert list(resolution_only.metrics) == ["resolution"]


def test_every_problem_is_reported_on_one_line() -> None:
    text = shipped_text().replace("grace_seconds = 60", "grace_seconds = -1", 1)
    text = text.replace("at_risk_ratio = 0.75", "at_risk_ratio = 0", 1)
    message = problems(text)
    assert "\n" not in message
    assert message == (
        "tmall-2022.toml: grace_seconds: Input should be greater than or equal to 0; "
        "tmall-2022.toml: at_risk_ratio: Input should be greater than 0"
    )


def test_a_policy_can_be_edited_as_data() -> None:
    # The helper other tests use must itself apply the edit.
    policy = edited_policy(grace_seconds=5, at_risk_ratio="0.5")
    assert (policy.grace_seconds, str(policy.at_risk_ratio)) == (5, "0.5")
