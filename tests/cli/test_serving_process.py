"""`polyroute serve` replaces itself with its serving process: the same process (id, command line,
streams), serving without the command line's modules (typer, click's copy), and what it does
before the exec (the config check, the schema migration, its log lines) still done once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from polyroute.server import process as serving
from tests.fakes.base import free_port


def wait_for_liveness(process: subprocess.Popen[bytes], port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/liveness").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the gateway did not start")


def import_runs(output: str) -> list[set[str]]:
    """The modules each interpreter imported, from `-X importtime` lines (PYTHONPROFILEIMPORTTIME):
    every interpreter starts its lines with the same header."""
    runs: list[set[str]] = []
    for line in output.splitlines():
        if line.startswith("import time: self [us]"):
            runs.append(set())
        elif line.startswith("import time:") and runs:
            runs[-1].add(line.rsplit("|", 1)[1].strip())
    return runs


@pytest.mark.skipif(not serving.can_exec(), reason="exec keeps the process only on POSIX")
def test_serve_execs_into_a_serving_process_without_the_cli(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "output.txt"
    env = {**os.environ, "POLYROUTE_DATA_DIR": str(tmp_path / "data"), "PYTHONPROFILEIMPORTTIME": "1"}
    with log.open("w") as sink:  # a file: thousands of import lines would fill a pipe nobody reads yet
        process = subprocess.Popen(
            [sys.executable, "-m", "polyroute", "serve", "--port", str(port), "--log-format", "json"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_liveness(process, port)
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"polyroute" in cmdline and b"serve" in cmdline, cmdline  # `ps` still says polyroute serve
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert answer.status_code == 200, answer.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    output = log.read_text()
    assert process.returncode in (0, -signal.SIGTERM), output[-3000:]

    runs = import_runs(output)
    assert len(runs) == 2, f"expected the command's interpreter and the serving one: {len(runs)}"
    command, server = runs
    assert "typer" in command and "polyroute.cli.serve" in command
    assert "polyroute.server.app" in server and "uvicorn" in server
    assert not {name for name in server if name == "typer" or name.startswith(("typer.", "polyroute.cli"))}
    # The exec kept the process: uvicorn names the id the test started, and the command's own
    # lines (written before the exec) are there once.
    assert f"Started server process [{process.pid}]" in output
    assert output.count("polyroute serving 2 deployments") == 1
    assert "Application startup complete" in output


def test_the_marker_names_one_process_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process started by the serving one (the migration child, a worker) inherits the
    environment: the marker holds the serving process's id, so no child takes it for its own."""
    monkeypatch.setenv(serving.SERVING_ENV, str(os.getpid()))
    assert serving.is_serving_process()
    monkeypatch.setenv(serving.SERVING_ENV, str(os.getpid() + 1))
    assert not serving.is_serving_process()
    monkeypatch.delenv(serving.SERVING_ENV)
    assert not serving.is_serving_process()
