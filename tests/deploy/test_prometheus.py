"""Prometheus alert rules and the compose stack's scrape config, checked and unit-tested by promtool."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.support import COMPOSE, DEPLOY, METRIC_NAME, exposed_metrics, require_binary

RULES = DEPLOY / "prometheus" / "alerts.yml"


def test_every_alert_watches_a_metric_the_gateway_exposes() -> None:
    exposed = exposed_metrics()
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert len(rules) >= 8
    for rule in rules:
        for name in METRIC_NAME.findall(rule["expr"]):
            assert name in exposed, f"{rule['alert']}: {name} is not in observability/metrics.py"


def test_promtool_checks_the_rules() -> None:
    promtool = require_binary("promtool")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_fire_on_their_series() -> None:
    promtool = require_binary("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=RULES.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_the_scrape_config(tmp_path) -> None:
    """The compose file mounts alerts.yml and writes the key file; here both are put in place."""
    promtool = require_binary("promtool")
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    job = config["scrape_configs"][0]
    assert job["static_configs"][0]["targets"] == ["gateway-1:4000", "gateway-2:4000"]
    key_file = tmp_path / "master-key"
    key_file.write_text("sk-test")
    assert job["authorization"]["credentials_file"] == "/tmp/master-key"
    job["authorization"]["credentials_file"] = str(key_file)
    config["rule_files"] = [str(RULES)]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
