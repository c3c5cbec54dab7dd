"""`polyroute serve` as a real child process on a free loopback port, for tests that need the
process boundary (CLI flags, --workers, signals, what reaches stderr)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from tests.fakes.base import free_port


def serve_process(
    args: list[str], env: dict[str, str], port: int | None = None, timeout_s: float = 60
) -> tuple[subprocess.Popen[str], int]:
    """Starts the gateway with `args` and `env` (over this process's environment) and returns it
    once /health/liveness answers; a process that exits or never answers fails the test with its
    output."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "polyroute", "serve", "--port", str(port), *args],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/liveness").status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("gateway did not start: " + process.communicate()[0])
