"""SIGTERM with a stream in flight, against a real `polyroute serve` process (server/shutdown.py).

The fake upstream holds the stream after its first events until the test opens a gate, so each
step is a condition the test waits on: the stream is running, readiness says 503, the process
still serves new requests, the stream completes (or, past the grace period, ends with an error
event), the process exits, and the database holds exactly one spend row per request, written by
the shutdown's last flush (the batched writer's interval is 10 minutes)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.fakes.base import Reply
from tests.fakes.openai import FakeOpenAI
from tests.serve_process import serve_process

MASTER = "sk-graceful-master-5151"
UPSTREAM_KEY = "sk-fake-openai-key-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hi"}]
WORDS = [f"w{i}" for i in range(12)]
TEXT = " ".join(WORDS)


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY) as fake:
        yield fake


def _start(tmp_path: Path, upstream: FakeOpenAI, grace_s: float) -> tuple[subprocess.Popen[str], str]:
    slow = {"model": "openai/slow", "api_base": upstream.url + "/v1", "api_key": UPSTREAM_KEY}
    quick = {"model": "mock/quick", "mock_response": "quick answer"}
    config = {
        "model_list": [
            {"model_name": "slow", "litellm_params": slow},
            {"model_name": "quick", "litellm_params": quick},
        ],
        "general_settings": {"master_key": MASTER, "proxy_batch_write_at": 600},
        "router_settings": {"num_retries": 0},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"POLYROUTE_MASTER_KEY": "", "POLYROUTE_DATA_DIR": str(tmp_path / "data")}
    args = ["--config", str(path), "--timeout-graceful-shutdown", str(grace_s)]
    process, port = serve_process(args, env, timeout_s=90)
    return process, f"http://127.0.0.1:{port}"


def _wait_for(condition, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _readiness(url: str) -> httpx.Response:
    return httpx.get(url + "/health/readiness", headers={"authorization": f"Bearer {MASTER}"}, timeout=10)


def _spend_rows(tmp_path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(tmp_path / "data" / "polyroute.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM polyroute_spend_logs")]


class StreamReader(threading.Thread):
    """Reads one stream with the official SDK in a thread; `first` is set at its first text."""

    def __init__(self, client: openai.OpenAI) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.first = threading.Event()
        self.text: list[str] = []
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            stream = self.client.chat.completions.create(model="slow", messages=MESSAGES, stream=True)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    self.text.append(chunk.choices[0].delta.content)
                    self.first.set()
        except (openai.APIError, httpx.HTTPError) as exc:
            self.error = exc
        finally:
            self.first.set()


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=0, timeout=60)


def test_sigterm_drains_a_stream_to_its_end_then_flushes_spend_and_exits(tmp_path, upstream):
    gate = threading.Event()
    upstream.default = Reply(text=TEXT, gate=gate, gate_after=3)
    process, url = _start(tmp_path, upstream, grace_s=60)
    try:
        assert _readiness(url).status_code == 200
        reader = StreamReader(_client(url))
        reader.start()
        assert reader.first.wait(30) and reader.error is None
        # One process cannot reload in place: SIGHUP is logged and ignored (its default action
        # would end the process at once, cutting the stream).
        process.send_signal(signal.SIGHUP)
        assert _readiness(url).status_code == 200

        process.send_signal(signal.SIGTERM)
        _wait_for(lambda: _readiness(url).status_code == 503, "readiness did not turn 503")
        refusal = _readiness(url)
        assert refusal.json()["error"]["code"] == "shutting_down"
        assert refusal.headers["retry-after"] == "1"
        # Still listening and serving while it drains: a request routed here meanwhile succeeds.
        quick = _client(url).chat.completions.create(model="quick", messages=MESSAGES)
        assert quick.choices[0].message.content == "quick answer"
        assert process.poll() is None and reader.is_alive()

        gate.set()
        reader.join(30)
        assert reader.error is None and "".join(reader.text) == TEXT
        output, _ = process.communicate(timeout=60)
    finally:
        gate.set()
        if process.poll() is None:
            process.kill()
            process.communicate()
    # uvicorn ends the process by the SIGTERM it was sent, once shut down (a clean stop for
    # systemd and Kubernetes); a crash or a kill would show another status.
    assert process.returncode == -signal.SIGTERM, output
    assert "readiness is now 503" in output and "SIGHUP ignored" in output
    rows = _spend_rows(tmp_path)
    assert sorted(r["model_group"] for r in rows) == ["quick", "slow"]
    assert len({r["request_id"] for r in rows}) == 2
    [slow] = [r for r in rows if r["model_group"] == "slow"]
    assert slow["status"] == "success" and slow["completion_tokens"] > 0


def test_a_stream_still_running_after_the_grace_period_ends_with_an_error_event(tmp_path, upstream):
    gate = threading.Event()  # never opened: the upstream holds the stream past the grace
    upstream.default = Reply(text=TEXT, gate=gate, gate_after=3)
    process, url = _start(tmp_path, upstream, grace_s=1)
    try:
        reader = StreamReader(_client(url))
        reader.start()
        assert reader.first.wait(30) and reader.error is None
        process.send_signal(signal.SIGTERM)
        reader.join(60)
        assert not reader.is_alive()
        output, _ = process.communicate(timeout=60)
    finally:
        gate.set()
        if process.poll() is None:
            process.kill()
            process.communicate()
    # What came is kept; then an OpenAI error event, which the SDK raises: never a silent cut.
    assert "".join(reader.text) == " ".join(WORDS[:2]) + " "  # the role chunk, then two words
    assert isinstance(reader.error, openai.APIError), reader.error
    assert "shutting down" in str(reader.error)
    assert process.returncode == -signal.SIGTERM, output
    assert "end with a shutting_down error" in output
    [row] = _spend_rows(tmp_path)  # billed once, for what it produced
    assert row["model_group"] == "slow" and row["status"] == "failure"
    assert row["error_code"] == "shutting_down" and row["completion_tokens"] > 0
