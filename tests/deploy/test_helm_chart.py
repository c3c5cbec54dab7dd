"""The Helm chart, without helm: no helm binary can be installed here (it is on none of PyPI, Debian
or npm, and Go's module proxy is out of reach), so `helm lint`/`helm template` do not run. Instead:
Chart.yaml's fields, values.yaml against the chart's own values.schema.json (which helm also applies
at install and lint), every `.Values` path a template reads exists in values.yaml, the template
blocks balance, the CLI options the manifests pass exist on the `polyroute` commands, and the
probes, autoscaler, budget and ServiceMonitor say what docs/deploy.md says they do."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import typer.main
import yaml

from polyroute.cli.main import app
from tests.deploy.support import DEPLOY, exposed_metrics

CHART = DEPLOY / "helm" / "polyroute"
TEMPLATES = sorted((CHART / "templates").glob("*.yaml")) + [CHART / "templates" / "_helpers.tpl"]


def values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def template(name: str) -> str:
    return (CHART / "templates" / name).read_text()


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == CHART.name
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    assert chart["type"] == "application"


def test_values_match_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(values(), schema)


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("config", "general_settings", "master_key"), "sk-literal-key-in-values"),
        (("image", "digest"), "latest"),
        (("gateway", "workers"), 0),
        (("podSecurityContext", "runAsNonRoot"), False),
        (("secrets", "apiKey"), "sk-x"),
    ],
)
def test_the_schema_refuses_bad_values(path: tuple[str, ...], bad: object) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    broken = copy.deepcopy(values())
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_every_values_path_a_template_reads_exists(path: Path) -> None:
    known = values()
    for reference in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", path.read_text()):
        node = known
        for key in reference.strip(".").split("."):
            missing = f"{path.name}: .Values{reference} is not in values.yaml"
            assert isinstance(node, dict) and key in node, missing
            node = node[key]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_template_blocks_balance(path: Path) -> None:
    text = path.read_text()
    assert "{{" not in re.sub(r"\{\{.*?\}\}", "", text), f"{path.name}: an action is not closed on its line"
    opened = len(re.findall(r"\{\{-?\s*(?:if|range|with|define)\b", text))
    closed = len(re.findall(r"\{\{-?\s*end\s*-?\}\}", text))
    assert opened == closed, f"{path.name}: {opened} blocks opened, {closed} closed"


def options(command: str) -> set[str]:
    group = typer.main.get_command(app)
    found = group.commands.get(command)  # type: ignore[attr-defined]
    if found is None:
        pytest.skip(f"`polyroute {command}` is not in this build")
    return {opt for param in found.params for opt in param.opts}


@pytest.mark.parametrize(
    ("name", "command"), [("gateway-deployment.yaml", "serve"), ("worker.yaml", "worker"), ("ui.yaml", "ui")]
)
def test_the_manifests_pass_options_the_commands_have(name: str, command: str) -> None:
    text = template(name)
    args = text[text.index("args:") : text.index("ports:")]
    assert f"- {command}\n" in args
    accepted = options(command)
    for option in re.findall(r"- (--[a-z-]+)=", args):
        assert option in accepted, f"{name}: polyroute {command} has no {option}"


def test_gateway_probes_do_not_put_the_master_key_in_the_manifest() -> None:
    text = template("gateway-deployment.yaml")
    assert "httpGet: {path: /health/liveliness, port: http}" in text
    readiness = text[text.index("readinessProbe:") : text.index("lifecycle:")]
    assert '["python", "-m", "polyroute.probe", "readiness"' in readiness
    assert "Authorization" not in text
    assert "secretKeyRef:" in text and "key: {{ .Values.secrets.masterKeyKey }}" in text


def test_autoscaler_budget_and_service_monitor() -> None:
    hpa = template("hpa.yaml")
    assert "apiVersion: autoscaling/v2" in hpa and "name: cpu" in hpa and "type: Pods" in hpa
    assert values()["autoscaling"]["inFlight"]["metricName"] in exposed_metrics()
    pdb = template("pdb.yaml")
    assert "apiVersion: policy/v1" in pdb and "kind: PodDisruptionBudget" in pdb
    monitor = template("servicemonitor.yaml")
    assert "apiVersion: monitoring.coreos.com/v1" in monitor and "path: /metrics" in monitor
    assert "credentials:" in monitor and "name: {{ .Values.secrets.existingSecret }}" in monitor


def test_optional_components_are_off_by_default() -> None:
    assert values()["ui"]["enabled"] is False and values()["worker"]["enabled"] is False
    assert template("ui.yaml").startswith("{{- if .Values.ui.enabled }}")
    assert template("worker.yaml").startswith("{{- if .Values.worker.enabled }}")
