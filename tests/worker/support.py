"""Runs `polyroute worker` as a user would: a real process, stopped with SIGINT (Ctrl-C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

POLYROUTE = [sys.executable, "-m", "polyroute"]


class WorkerProcess:
    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self) -> WorkerProcess:
        self.process = subprocess.Popen(
            [*POLYROUTE, "worker", *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return self

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError("worker exited early:\n" + self.stop())
            try:
                if predicate():
                    return
            except Exception:  # noqa: BLE001  # not up yet
                pass
            time.sleep(0.1)
        raise AssertionError("worker condition not reached:\n" + self.stop())

    def stop(self, sig: int = signal.SIGINT) -> str:
        """Ctrl-C (or `sig`, e.g. SIGTERM as a service manager sends), as a user stops it; returns
        everything it printed."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(sig)
            try:
                self.output, _ = self.process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.output, _ = self.process.communicate()
        return self.output

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
