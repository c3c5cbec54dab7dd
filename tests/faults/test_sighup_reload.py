"""SIGHUP reloads `polyroute serve --workers 2` without dropping a request: uvicorn's supervisor
starts a replacement process (which reads the config file again), waits until it serves, then
stops the old one gracefully (server/shutdown.py: it finishes what it holds and answers with
`Connection: close` meanwhile). A client hammers the gateway throughout with the official SDK,
no retries, keep-alive on: not one request may fail, and the new alias is served after."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import openai
import pytest
import yaml

from tests.serve_process import serve_process

MASTER = "sk-sighup-master-7373"
MESSAGES = [{"role": "user", "content": "hi"}]


def _config(aliases: list[str]) -> dict:
    return {
        "model_list": [
            {"model_name": name, "litellm_params": {"model": f"mock/{name}", "mock_response": f"from {name}"}}
            for name in aliases
        ],
        "general_settings": {"master_key": MASTER},
    }


class OutputReader(threading.Thread):
    """Collects the process's output lines as they come (the supervisor names its children)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.lines: list[str] = []

    def run(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def pids(self, pattern: str) -> list[int]:
        return [int(m.group(1)) for line in list(self.lines) if (m := re.search(pattern, line))]


class Hammer(threading.Thread):
    def __init__(self, client: openai.OpenAI) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.stop = threading.Event()
        self.served = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                answer = self.client.chat.completions.create(model="alpha", messages=MESSAGES)
                assert answer.choices[0].message.content == "from alpha"
                self.served += 1
            except Exception as exc:  # noqa: BLE001  # every failure is reported by the test
                self.failures.append(repr(exc))


def _wait_for(condition, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_sighup_replaces_workers_one_by_one_with_zero_failed_requests(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(["alpha"])))
    env = {"POLYROUTE_MASTER_KEY": "", "POLYROUTE_DATA_DIR": str(tmp_path / "data")}
    process, port = serve_process(["--config", str(path), "--workers", "2"], env, timeout_s=90)
    output = OutputReader(process)
    output.start()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=MASTER, max_retries=0, timeout=30)
    hammer = Hammer(client)
    try:
        _wait_for(lambda: len(output.pids(r"Started server process \[(\d+)\]")) == 2, "two workers")
        old = output.pids(r"Started server process \[(\d+)\]")
        with pytest.raises(openai.NotFoundError):  # not served before the reload
            client.chat.completions.create(model="beta", messages=MESSAGES)
        hammer.start()
        _wait_for(lambda: hammer.served >= 20, "the hammer is not being served")

        path.write_text(yaml.safe_dump(_config(["alpha", "beta"])))
        process.send_signal(signal.SIGHUP)
        _wait_for(lambda: len(output.pids(r"Terminated child process \[(\d+)\]")) == 2, "both replaced")
        assert sorted(output.pids(r"Terminated child process \[(\d+)\]")) == sorted(old)
        _wait_for(lambda: all(_gone(pid) for pid in old), "the old workers did not exit")
        served_at_reload = hammer.served
        _wait_for(lambda: hammer.served >= served_at_reload + 20, "the hammer stopped being served")
    finally:
        hammer.stop.set()
        hammer.join(30)
    try:
        assert hammer.failures == [], hammer.failures[:5]
        assert process.poll() is None  # the supervisor lives on
        # Only new workers are left: every one of them serves the new alias.
        for _ in range(10):
            answer = client.chat.completions.create(model="beta", messages=MESSAGES)
            assert answer.choices[0].message.content == "from beta"
    finally:
        process.terminate()
        process.wait(60)
        output.join(10)
