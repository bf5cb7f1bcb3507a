"""``GET /v1/reports/{dimension}`` and ``slamon report``: the same figures as the read model,
auth, and every bad parameter refused with its name (a 422, or one line and exit 2)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from slamon.api.app import create_app
from slamon.cli import main as cli_main
from slamon.models.db.reports import FIELDS
from slamon.settings import Settings, get_settings
from tests.support.report_rows import START, make_history

TOKEN = "report-token-0123456789abcdef"
PERIOD = {"since": "2026-11-02", "until": "2026-11-16"}  # dates: midnight in Asia/Shanghai


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    make_history(120).insert(engine)
    return engine


@pytest.fixture
def api(seeded: Engine, db_url: str, tmp_path: Path) -> TestClient:
    settings = Settings(home=tmp_path, database_url=db_url, api_token=TOKEN,
                        api_tokens={"produce-only-token-0123": "produce"})
    return TestClient(create_app(settings))


def get(api: TestClient, path: str, **params: str) -> object:
    return api.get(path, params=params, headers={"Authorization": f"Bearer {TOKEN}"})


def test_the_report_over_http(api: TestClient) -> None:
    response = get(api, "/v1/reports/merchant", **PERIOD, sort="breaches_open", limit="2")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["since"] == "2026-11-02T00:00:00+08:00"
    assert body["until"] == "2026-11-16T00:00:00+08:00"
    assert body["sort"] == "breaches_open" and body["order"] == "desc"
    assert len(body["rows"]) == 2 and body["next_offset"] == 2
    assert list(body["rows"][0]) == list(FIELDS)
    assert body["rows"][0]["breaches_open"] >= body["rows"][1]["breaches_open"]
    everything = get(api, "/v1/reports/merchant", **PERIOD, limit="100").json()
    assert body["totals"] == everything["totals"]
    assert sum(r["cases"] for r in everything["rows"]) == everything["totals"]["cases"] > 0

    one = get(api, "/v1/reports/day", **PERIOD, merchant="M1", order="asc").json()
    assert one["where"] == {"merchant": "M1"}
    keys = [r["key"] for r in one["rows"]]
    assert keys == sorted(keys) and keys[0] >= "2026-11-02"


def test_the_report_needs_the_read_role(api: TestClient) -> None:
    assert api.get("/v1/reports/merchant").status_code == 401
    refused = api.get("/v1/reports/merchant",
                      headers={"Authorization": "Bearer produce-only-token-0123"})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/reports/shop", {}, "dimension"),
        ("/v1/reports/merchant", {"since": "2026-11-26T09:00:00"}, "since"),
        ("/v1/reports/merchant", {"since": "yesterday"}, "since"),
        ("/v1/reports/merchant", {"since": "0001-01-01"}, "since"),
        ("/v1/reports/merchant", {"until": "9999-12-31T00:00:00Z"}, "until"),
        ("/v1/reports/merchant", {"since": "2026-11-10", "until": "2026-11-01"}, "until"),
        ("/v1/reports/merchant", {"since": "2020-01-01", "until": "2026-01-01"}, "until"),
        ("/v1/reports/merchant", {"sort": "drop table"}, "sort"),
        ("/v1/reports/merchant", {"order": "up"}, "order"),
        ("/v1/reports/merchant", {"limit": "0"}, "limit"),
        ("/v1/reports/merchant", {"limit": "ten"}, "limit"),
        ("/v1/reports/merchant", {"limit": "100001"}, "limit"),
        ("/v1/reports/merchant", {"offset": "-1"}, "offset"),
        ("/v1/reports/merchant", {"tz": "Mars/Olympus"}, "tz"),
        ("/v1/reports/merchant", {"sinse": "2026-11-01"}, "sinse"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    api: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    response = get(api, path, **params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["field"] == field
    assert detail["error"].startswith(f"{field}: ")


def test_a_repeated_parameter_is_refused(api: TestClient) -> None:
    response = api.get("/v1/reports/merchant?limit=1&limit=2",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "limit"


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, seeded: Engine, db_url: str,
        tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("SLAMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLAMON_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def report(cli: CliRunner, *args: str) -> object:
    return cli.invoke(cli_main, ["report", "--since", PERIOD["since"], "--until",
                                 PERIOD["until"], *args])


def test_the_report_on_the_command_line(cli: CliRunner, api: TestClient) -> None:
    over_http = get(api, "/v1/reports/merchant", **PERIOD, limit="100").json()
    as_json = report(cli, "--by", "merchant", "--format", "json", "--limit", "100")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == over_http

    as_csv = report(cli, "--by", "merchant", "--format", "csv", "--limit", "100")
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [r["key"] for r in rows] == [r["key"] for r in over_http["rows"]]
    assert [int(r["cases"]) for r in rows] == [r["cases"] for r in over_http["rows"]]

    table = report(cli, "--by", "merchant", "--limit", "2")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].startswith("cases opened 2026-11-02T00:00:00+08:00 to 2026-11-16")
    assert lines[1].split()[:3] == ["MERCHANT", "CASES", "RESP"]
    first = over_http["rows"][0]
    assert lines[2].split()[:2] == [first["key"], str(first["cases"])]
    assert lines[4].startswith(f"all ({over_http['groups']})")
    assert lines[-1] == f"rows 1-2 of {over_http['groups']}; more from --offset 2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "merchant", "--since", "2026-11-26T09:00"],
         "--since: '2026-11-26T09:00' needs a UTC offset"),
        (["--by", "merchant", "--limit", "0"], "--limit: must be between 1 and"),
        (["--by", "merchant", "--sort", "nope"], "--sort: must be one of key, cases"),
        (["--by", "merchant", "--tz", "Nowhere"], "--tz: 'Nowhere' is not a time zone"),
        (["--by", "shop"], "Invalid value for '--by'"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(
    cli: CliRunner, args: list[str], message: str
) -> None:
    result = cli.invoke(cli_main, ["report", *args])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.strip()]
    assert any(message in line for line in errors), result.output
    assert "Traceback" not in result.output
    if not message.startswith("Invalid"):
        assert errors == [f"slamon: {errors[0].removeprefix('slamon: ')}"]


def test_the_start_is_monday(cli: CliRunner) -> None:
    # The seeded history starts on a Monday: one week key per Monday of the period.
    weeks = report(cli, "--by", "week", "--format", "json")
    keys = sorted(r["key"] for r in json.loads(weeks.output)["rows"])
    assert keys == [START.date().isoformat(), "2026-11-09"]
