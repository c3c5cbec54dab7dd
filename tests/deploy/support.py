"""Paths and the metric catalogue shared by the deployment-artefact tests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from polyroute.observability.metrics import GAUGES, GatewayMetrics, Histogram

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose"

METRIC_NAME = re.compile(r"\bpolyroute_[a-z0-9_]+\b")


def exposed_metrics() -> dict[str, tuple[str, ...]]:
    """Every polyroute_* series name /metrics can expose, with its label names."""
    names: dict[str, tuple[str, ...]] = {spec.name: spec.labelnames for spec in GAUGES}
    for family in GatewayMetrics().families():
        if isinstance(family, Histogram):
            for suffix in ("_bucket", "_sum", "_count"):
                extra = ("le",) if suffix == "_bucket" else ()
                names[family.name + suffix] = family.labelnames + extra
        else:
            names[family.name] = family.labelnames
    return names


def require_binary(name: str) -> str:
    """The binary's path; the test skips (saying so) only where it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed here (scripts/test installs it with apt where it can)")
    return path
