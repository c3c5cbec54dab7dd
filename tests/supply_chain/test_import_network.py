"""Importing polyroute (every module) and every runtime dependency touches no network."""

from __future__ import annotations

import json
import os
import pkgutil
import re
import subprocess
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import polyroute

PROBE = Path(__file__).with_name("import_probe.py")
# Runs the CLI when imported (python -m polyroute), and the probes' own entry point.
NOT_IMPORTED = {"polyroute.__main__"}


def project_modules() -> list[str]:
    found = pkgutil.walk_packages(polyroute.__path__, prefix="polyroute.")
    return sorted({m.name for m in found} - NOT_IMPORTED)


def dependency_modules() -> list[str]:
    """Top-level import names of polyroute's runtime (non-extra) dependencies."""
    wanted = set()
    for requirement in requires("polyroute") or []:
        if "extra ==" in requirement:
            continue
        wanted.add(re.split(r"[\s\[<>=!;~]", requirement, maxsplit=1)[0].lower().replace("_", "-"))
    return sorted(
        module
        for module, dists in packages_distributions().items()
        if not module.startswith("_") and any(d.lower().replace("_", "-") in wanted for d in dists)
    )


def run_probe(modules: list[str], pythonpath: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY") and not k.endswith("_proxy")}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    result = subprocess.run(
        [sys.executable, str(PROBE), *modules], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_everything_makes_no_network_call() -> None:
    modules = dependency_modules() + project_modules()
    assert "fastapi" in modules and "polyroute.server.app" in modules
    report = run_probe(modules)
    assert report["network"] == []
    assert report["errors"] == {}, report["errors"]
    assert report["imported"] == len(modules)


def test_the_probe_sees_an_import_that_connects(tmp_path: Path) -> None:
    (tmp_path / "phones_home.py").write_text(
        "import socket\ntry:\n    socket.create_connection(('198.51.100.1', 443), timeout=1)\n"
        "except OSError:\n    pass\n"
    )
    report = run_probe(["phones_home"], pythonpath=str(tmp_path))
    assert report["network"] == ["create_connection(('198.51.100.1', 443),)"]
