"""`kill -9` loses no completed request's spend: a real `polyroute serve` process answers N
requests (answers and streams) and one stream is cut off mid-way; the process is killed with
SIGKILL before its batched writer ran (proxy_batch_write_at is 10 minutes), restarted, and the
database then holds exactly N + 1 rows (the cut stream billed for what it produced), and the
key's spend is their sum. A second restart adds nothing (each row is inserted once)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from tests.fakes.base import Reply
from tests.fakes.openai import FakeOpenAI
from tests.keys.conftest import MOCK_PRICES, Admin
from tests.observability.test_metrics import Scrape
from tests.serve_process import serve_process
from tests.store.databases import pg_database_sync

MASTER = "sk-kill-journal-master-4242"
MESSAGES = [{"role": "user", "content": "hi"}]
UPSTREAM_KEY = "sk-fake-openai-key-0123456789abcdef"
ANSWERS = 12
STREAMS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "postgresql":
        with pg_database_sync() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'kill.db'}"


@pytest.fixture
def slow_upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY) as fake:
        yield fake


def _config(tmp_path: Path, database_url: str, upstream_url: str) -> Path:
    config = {
        "model_list": [
            {
                "model_name": "priced-mock",
                "litellm_params": {"model": "mock/priced", "mock_response": "a fixed answer of some words"},
                "model_info": MOCK_PRICES,
            },
            {
                "model_name": "slow",
                "litellm_params": {
                    "model": "openai/slow",
                    "api_base": upstream_url + "/v1",
                    "api_key": UPSTREAM_KEY,
                },
                "model_info": MOCK_PRICES,
            },
        ],
        "general_settings": {"master_key": MASTER, "database_url": database_url, "proxy_batch_write_at": 600},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start(config: Path, data_dir: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    env = {"POLYROUTE_MASTER_KEY": "", "POLYROUTE_DATA_DIR": str(data_dir)}
    process, port = serve_process(["--config", str(config)], env, port=port, timeout_s=90)
    return process, f"http://127.0.0.1:{port}"


def _journal_holds(data_dir: Path, text: bytes) -> bool:
    return any(text in segment.read_bytes() for segment in (data_dir / "spend-journal").rglob("*.jsonl"))


def _wait_for(condition, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_sigkill_loses_no_completed_requests_spend(tmp_path, database_url, slow_upstream) -> None:
    config, data_dir = _config(tmp_path, database_url, slow_upstream.url), tmp_path / "data"
    process, url = _start(config, data_dir)
    try:
        key = Admin(url, MASTER).new_key()["key"]
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)
        cost = 0.0
        for _ in range(ANSWERS):
            raw = client.chat.completions.with_raw_response.create(model="priced-mock", messages=MESSAGES)
            cost += float(raw.headers["x-polyroute-response-cost"])
        for _ in range(STREAMS):
            stream = client.chat.completions.create(model="priced-mock", messages=MESSAGES, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        # One stream still running when the process dies: 40 pieces, 0.1 s apart.
        slow_upstream.script(Reply(text=" ".join(["word"] * 40), chunk_delay=0.1))
        cut = client.chat.completions.create(model="slow", messages=MESSAGES, stream=True)
        next(iter(cut))
        _wait_for(lambda: _journal_holds(data_dir, b"stream_interrupted"), "no progress row was journaled")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(15)
    assert process.returncode == -signal.SIGKILL

    for restart in range(2):  # the second start must find nothing left to add
        process, url = _start(config, data_dir)
        try:
            admin = Admin(url, MASTER)
            replayed = Scrape(admin.http.get("/metrics").text).get(
                "polyroute_spend_journal_rows_total", outcome="replayed"
            )
            assert replayed == (ANSWERS + STREAMS + 1 if restart == 0 else 0)
            rows = admin.wait_for_logs(ANSWERS + STREAMS + 1)
            assert len(rows) == ANSWERS + STREAMS + 1
            [interrupted] = [r for r in rows if r.get("model_group") == "slow"]
            assert interrupted["status"] == "failure" and interrupted["completion_tokens"] > 0
            info = admin.ok("GET", "/key/info", key=key)["info"]
            billed = sum(r["spend"] for r in rows)
            assert info["spend"] == pytest.approx(billed)
            assert billed == pytest.approx(cost + STREAMS * cost / ANSWERS + interrupted["spend"])
            _wait_for(lambda: not _journal_holds(data_dir, b"request_id"), "the journal was not emptied")
        finally:
            process.terminate()
            process.wait(15)
