"""The shipped Grafana dashboard: valid JSON, every query on a metric the gateway exposes, valid PromQL."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.deploy.support import COMPOSE, METRIC_NAME, exposed_metrics, require_binary

DASHBOARD = COMPOSE / "grafana" / "dashboards" / "polyroute.json"
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}


def queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_dashboard_is_provisioned_with_the_datasource_its_panels_use() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    datasource = yaml.safe_load((COMPOSE / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    uid = datasource["datasources"][0]["uid"]
    provider = yaml.safe_load((COMPOSE / "grafana/provisioning/dashboards/polyroute.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert panel["targets"], panel["title"]


def test_every_queried_metric_exists_with_the_labels_used() -> None:
    exposed = exposed_metrics()
    for title, expr in queries():
        used = METRIC_NAME.findall(expr)
        if not used:  # Prometheus's own per-target series
            assert 'up{job="polyroute"}' in expr, f"{title!r} queries no polyroute metric"
            continue
        for name in used:
            assert name in exposed, f"{title!r}: {name} is not a metric of observability/metrics.py"
        labels = set(exposed[used[0]]).union(*(exposed[name] for name in used)) | TARGET_LABELS
        for group in re.findall(r"by \(([^)]*)\)", expr):
            for label in (part.strip() for part in group.split(",")):
                assert label in labels, f"{title!r}: no metric in it has the label {label!r}"
        for label in re.findall(r"([a-z_]+)=~?\"", expr):
            assert label in labels, f"{title!r}: no metric in it has the label {label!r}"


def test_the_dashboard_covers_what_the_issue_asks_for() -> None:
    used = {name for _, expr in queries() for name in METRIC_NAME.findall(expr)}
    for needed in (
        "polyroute_requests_total",
        "polyroute_errors_total",
        "polyroute_request_duration_seconds_bucket",
        "polyroute_time_to_first_token_seconds_bucket",
        "polyroute_tokens_total",
        "polyroute_cost_usd_total",
        "polyroute_cooldowns_total",
        "polyroute_deployment_state",
        "polyroute_workers_registered",
        "polyroute_spend_queue_depth",
    ):
        assert needed in used, needed


def test_every_query_is_valid_promql(tmp_path) -> None:
    """promtool parses each query (as a recording rule, Grafana's $__rate_interval set to 5m)."""
    promtool = require_binary("promtool")
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, (_, expr) in enumerate(queries())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("broken", ["polyroute_no_such_metric", "polyroute_requests"])
def test_the_catalogue_rejects_metrics_that_do_not_exist(broken: str) -> None:
    assert broken not in exposed_metrics()
