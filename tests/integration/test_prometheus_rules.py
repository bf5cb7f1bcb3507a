"""The shipped Prometheus alert rules and Grafana dashboard (deploy/): valid for promtool, the
alerts unit-tested by ``promtool test rules``, and every series they read is one that a real
``/metrics`` scrape exports (a renamed metric would otherwise leave an alert silently dead)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from slamon.api.broker_gauges import BrokerProbe
from slamon.api.metrics import render_metrics
from tests.support.prometheus import promtool

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "slamon.json"
SERIES = re.compile(r"\b(slamon_[a-z0-9_]+)")


def alert_expressions() -> dict[str, str]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return {r["alert"]: r["expr"] for g in document["groups"] for r in g["rules"]}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_rules_pass_promtool_check() -> None:
    checked = promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 13 rules found" in checked.stdout


def test_alerts_pass_their_unit_tests() -> None:
    tested = promtool("test", "rules", "tests/alerts_test.yml", cwd=PROMETHEUS)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test() -> None:
    tests = yaml.safe_load((PROMETHEUS / "tests" / "alerts_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == set(alert_expressions())


def test_the_example_scrape_config_is_valid() -> None:
    checked = promtool("check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_queries_are_promql(tmp_path: Path) -> None:
    # promtool parses PromQL when it checks rules: each panel query as a recording rule.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, expr in enumerate(dashboard_expressions())
    ]}]}
    (tmp_path / "dashboard_rules.yml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    checked = promtool("check", "rules", "dashboard_rules.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"


def test_rules_and_dashboard_read_only_exported_series(engine: Engine, redis_url: str) -> None:
    payload, _ = render_metrics(engine, broker=BrokerProbe(lambda: redis_url))
    exported = {
        sample.name
        for family in text_string_to_metric_families(payload.decode())
        for sample in family.samples
    }
    read = {
        name
        for expr in [*alert_expressions().values(), *dashboard_expressions()]
        for name in SERIES.findall(expr)
    }
    assert read, "no slamon series found in the rules and dashboard"
    assert read - exported == set()
