"""`python -m polyroute.probe`: the container and Kubernetes health probes, against a real gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.base import free_port
from tests.gateway import GatewayServer

KEY = "sk-probe-master-0123456789"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
        "general_settings": {"master_key": KEY},
    }
    with GatewayServer(config, Path(tmp_path_factory.mktemp("probe"))) as server:
        yield server


def run_probe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("POLYROUTE_MASTER_KEY", "LITELLM_MASTER_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "polyroute.probe", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_liveness_needs_no_key(gateway: GatewayServer) -> None:
    result = run_probe("liveness", "--port", str(gateway.port), env={})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variable", ["POLYROUTE_MASTER_KEY", "LITELLM_MASTER_KEY"])
def test_readiness_with_the_master_key_from_the_environment(gateway: GatewayServer, variable: str) -> None:
    result = run_probe("readiness", "--port", str(gateway.port), env={variable: KEY})
    assert result.returncode == 0, result.stderr


def test_readiness_with_a_wrong_key_fails_without_printing_it(gateway: GatewayServer) -> None:
    wrong = "sk-wrong-key-that-must-not-leak"
    result = run_probe("readiness", "--port", str(gateway.port), env={"POLYROUTE_MASTER_KEY": wrong})
    assert result.returncode == 1
    assert "401" in result.stderr
    assert wrong not in result.stderr + result.stdout


def test_readiness_without_a_key_names_the_variables(gateway: GatewayServer) -> None:
    result = run_probe("readiness", "--port", str(gateway.port), env={})
    assert result.returncode == 1
    assert "POLYROUTE_MASTER_KEY" in result.stderr


def test_nothing_listening_is_unhealthy() -> None:
    result = run_probe("liveness", "--port", str(free_port()), env={})
    assert result.returncode == 1
    assert "ConnectionRefusedError" in result.stderr
