"""The systemd units: `systemd-analyze verify` accepts them, and each keeps the hardening options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.support import DEPLOY, require_binary

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
HARDENING = (
    "NoNewPrivileges=true",
    "ProtectSystem=strict",
    "PrivateTmp=true",
    "ProtectKernelTunables=true",
    "ProtectControlGroups=true",
    "RestrictSUIDSGID=true",
    "CapabilityBoundingSet=\n",
    "SystemCallFilter=@system-service",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "User=polyroute",
    "KillSignal=SIGTERM",
)


def test_the_three_units_are_shipped() -> None:
    assert [unit.name for unit in UNITS] == [
        "polyroute-gateway.service",
        "polyroute-ui.service",
        "polyroute-worker@.service",
    ]


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_hardening_options(unit: Path) -> None:
    text = unit.read_text()
    for option in HARDENING:
        assert option in text, f"{unit.name}: {option.strip()}"
    assert "ExecStart=/opt/polyroute/.venv/bin/polyroute " in text


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    """The ExecStart binary must exist for verify to pass: it points at this checkout's polyroute."""
    analyze = require_binary("systemd-analyze")
    polyroute = Path(sys.executable).with_name("polyroute")
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/polyroute/.venv/bin/polyroute", str(polyroute)))
    result = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
