"""deploy/grafana and deploy/prometheus: the dashboard and the alert rules operators load.

Every metric they name must exist in the code's registries (so a renamed metric breaks this test,
not a dashboard in production); the rules are checked and unit-tested with promtool, and every
dashboard query is parsed by promtool too (as a recording rule of a throwaway rule file).
"""
from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from fusebox.aggregator import metrics as aggregator_metrics
from fusebox.api.metrics import ApiMetrics
from tests.deploy.tools import DEPLOY, tool

DASHBOARD = DEPLOY / "grafana" / "fusebox.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yaml"
METRIC_NAME = re.compile(r"\b(fusebox_[a-z0-9_]+)")
# The seed's monitoring list and the alerts operators asked for, as the metrics that carry them.
DASHBOARD_MUST_SHOW = {
    "breakers by state": "fusebox_breakers",
    "transitions": "fusebox_aggregator_circuit_transitions_total",
    "dead letters": "fusebox_aggregator_dead_letters_total",
    "consumer lag": "fusebox_aggregator_consumer_lag",
    "WebSocket connections": "fusebox_api_ws_connections",
    "config changes": "fusebox_api_config_changes_total",
    "resets": "fusebox_api_resets_total",
    "API dependency breakers": "fusebox_api_dependency_breaker_open",
}
ALERTS_MUST_COVER = {
    "FuseboxBreakerOpenTooLong": "fusebox_service_circuit_state",
    "FuseboxDeadLettersGrowing": "fusebox_aggregator_dead_letters_total",
    "FuseboxConsumerLagHigh": "fusebox_aggregator_consumer_lag",
    "FuseboxApiDependencyBreakerOpen": "fusebox_api_dependency_breaker_open",
}
SAMPLE_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
                   "summary": ("_sum", "_count", "")}


def exported_names() -> set[str]:
    """Every sample name the aggregator and the API can export."""
    names = set()
    for registry in (aggregator_metrics.REGISTRY, ApiMetrics().registry):
        for family in registry.collect():
            names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type])
    return names


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query in the dashboard and its template variables."""
    board = dashboard()
    queries = [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            inner = re.fullmatch(r"label_values\((.+), *\w+\)", variable["definition"]).group(1)
            queries.append((f"${variable['name']}", inner))
    return queries


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def as_promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced by what they expand to."""
    return expr.replace("$__rate_interval", "1m").replace("$service", ".*")


def test_every_metric_the_dashboard_and_the_alerts_name_is_exported_by_the_code():
    exported = exported_names()
    used = {(f"panel {title!r}", name) for title, expr in dashboard_queries() for name in METRIC_NAME.findall(expr)}
    used |= {(f"alert {rule['alert']}", name) for rule in alert_rules() for name in METRIC_NAME.findall(rule["expr"])}
    assert used, "no metric found"
    missing = sorted((where, name) for where, name in used if name not in exported)
    assert not missing, f"not in the code's metric registries: {missing}"


def test_the_dashboard_shows_the_monitoring_list():
    shown = {name for _, expr in dashboard_queries() for name in METRIC_NAME.findall(expr)}
    for what, metric in DASHBOARD_MUST_SHOW.items():
        assert metric in shown, f"the dashboard does not show {what} ({metric})"


def test_the_dashboard_is_an_importable_grafana_dashboard():
    board = dashboard()
    assert board["uid"] == "fusebox" and board["title"] and isinstance(board["schemaVersion"], int)
    panels = board["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"] and panel["description"], panel["title"]
            refs = [target["refId"] for target in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]
    variables = {variable["name"] for variable in board["templating"]["list"]}
    for _, expr in dashboard_queries():
        for used in re.findall(r"\$(\w+)", expr):
            assert used in variables or used.startswith("__"), f"undefined variable ${used}"


def test_the_alert_rules_are_complete_and_cover_what_operators_asked_for():
    rules = alert_rules()
    by_name = {rule["alert"]: rule for rule in rules}
    assert len(by_name) == len(rules), "alert names repeat"
    for name, metric in ALERTS_MUST_COVER.items():
        assert name in by_name and metric in by_name[name]["expr"], name
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


def test_promtool_accepts_the_alert_rules():
    done = subprocess.run([str(tool("promtool")), "check", "rules", str(ALERTS)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout + done.stderr


def test_the_alerts_fire_on_the_series_that_should_raise_them_and_only_those():
    done = subprocess.run([str(tool("promtool")), "test", "rules", ALERT_TESTS.name], cwd=ALERT_TESTS.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {test["alertname"] for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
              for test in case["alert_rule_test"]}
    assert tested == {rule["alert"] for rule in alert_rules()}, "every alert has a unit test"


def test_promtool_parses_every_dashboard_query(tmp_path):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"fusebox:dashboard:query_{index}", "expr": as_promql(expr)}
        for index, (_, expr) in enumerate(dashboard_queries())]}]}
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([str(tool("promtool")), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("bad", ["fusebox_no_such_metric_total", "fusebox_api_ws_connections_total"])
def test_a_name_the_code_does_not_export_is_caught(bad):
    assert bad not in exported_names()
