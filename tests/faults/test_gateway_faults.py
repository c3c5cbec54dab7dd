"""Faults around the gateway rather than its upstream: a client that hangs up mid-stream, Redis
taken away and given back under a serving gateway, a model worker that vanishes without
deregistering. For each: the client gets an answer or a clear error, the spend log holds exactly
one row per request, and the gateway keeps serving.

Covered elsewhere, not repeated here: PostgreSQL down and back (tests/keys/test_database_outage.py,
a TCP proxy in front of the real server), a restart during a database outage
(tests/keys/test_outage_restart.py), SIGKILL mid-stream and restart, spend replayed from the
journal exactly once (tests/keys/test_kill_journal.py), SIGTERM with a stream in flight
(test_graceful_shutdown.py here), upstream connection faults (test_upstream_faults.py here)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.conftest import MASTER_KEY, OPENAI_KEY
from tests.controller.support import MASTER as CONTROLLER_MASTER
from tests.controller.support import TOKEN_ALL, serving_config, with_token
from tests.fakes.base import Reply
from tests.fakes.fastchat_worker import FakeFastChatWorker
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.observability.test_metrics import Scrape
from tests.serve_process import serve_process
from tests.state.support import FakeClock
from tests.store.tcp_proxy import TcpProxy

MESSAGES = [{"role": "user", "content": "hi"}]
WORDS = [f"w{i}" for i in range(30)]


def _wait_for(condition, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _spend_rows(gateway: GatewayServer, count: int) -> list[dict[str, Any]]:
    """The spend log once it holds `count` rows (batched writes: a bounded wait); never more."""
    admin = {"authorization": f"Bearer {MASTER_KEY}"}
    rows: list[dict[str, Any]] = []

    def enough() -> bool:
        nonlocal rows
        rows = httpx.get(gateway.url + "/spend/logs", headers=admin).json()
        return len(rows) >= count

    _wait_for(enough, f"fewer than {count} spend rows")
    return rows


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


def _config(upstream: FakeOpenAI, **router: Any) -> dict[str, Any]:
    params = {"model": "openai/gpt-4o-mini", "api_base": upstream.url + "/v1", "api_key": OPENAI_KEY}
    quick = {"model": "mock/quick", "mock_response": "quick answer"}
    return {
        "model_list": [
            {"model_name": "gpt", "litellm_params": params},
            {"model_name": "quick", "litellm_params": quick},
        ],
        "general_settings": {"master_key": MASTER_KEY, "proxy_batch_write_at": 0.05},
        "router_settings": {"num_retries": 0, **router},
    }


def test_a_client_that_hangs_up_mid_stream_is_billed_once_for_what_was_produced(upstream, tmp_path):
    gate = threading.Event()  # the upstream holds the rest of the stream until the client has left
    upstream.default = Reply(text=" ".join(WORDS), gate=gate, gate_after=6)
    with GatewayServer(_config(upstream), tmp_path) as gateway:
        try:
            body = {"model": "gpt", "messages": MESSAGES, "stream": True}
            headers = {"authorization": f"Bearer {MASTER_KEY}"}
            received = b""
            with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, headers=headers) as r:
                for piece in r.iter_bytes():
                    received += piece
                    if received.count(b"\n\n") >= 6:
                        break  # then hang up, as a closed browser tab does
            _wait_for(lambda: upstream.cancelled == 1, "the upstream call was not cancelled")
        finally:
            gate.set()
        [row] = _spend_rows(gateway, 1)
        assert row["status"] == "cancelled" and row["model_group"] == "gpt"
        assert row["completion_tokens"] > 0  # what was produced before the client left
        assert gateway.client().chat.completions.create(model="quick", messages=MESSAGES).choices
        rows = _spend_rows(gateway, 2)
        assert len(rows) == 2 and len({r["request_id"] for r in rows}) == 2


def test_redis_down_and_back_requests_keep_flowing_and_sharing_resumes(upstream, tmp_path):
    """A real `polyroute serve` process whose Redis is reached through a proxy the test stops."""
    upstream.default = Reply(text="from upstream")
    with TcpProxy("127.0.0.1", 6379) as proxy:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(_config(upstream, redis_host="127.0.0.1", redis_port=proxy.port)))
        env = {"POLYROUTE_MASTER_KEY": "", "POLYROUTE_DATA_DIR": str(tmp_path / "data")}
        process, port = serve_process(["--config", str(path)], env, timeout_s=90)
        url = f"http://127.0.0.1:{port}"
        admin = {"authorization": f"Bearer {MASTER_KEY}"}
        client = openai.OpenAI(base_url=url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)
        try:

            def scrape() -> Scrape:
                return Scrape(httpx.get(url + "/metrics", headers=admin).text)

            def serve_some(count: int) -> None:
                for i in range(count):
                    answer = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=i % 2 == 1)
                    if i % 2:
                        assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
                    else:
                        assert answer.choices[0].message.content == "from upstream"

            serve_some(4)
            assert scrape().get("polyroute_shared_state_up") == 1
            proxy.stop()  # Redis goes away: listener and open connections both
            serve_some(6)  # served on process-local state meanwhile
            during = scrape()
            assert during.get("polyroute_shared_state_up") == 0
            assert during.get("polyroute_shared_state_fallback_operations_total") > 0
            proxy.start()

            def resumed() -> bool:
                serve_some(1)
                return scrape().get("polyroute_shared_state_up") == 1

            _wait_for(resumed, "sharing through Redis did not resume", timeout_s=60)
            served = len(upstream.requests)

            def all_rows() -> list[dict[str, Any]]:
                return httpx.get(url + "/spend/logs", headers=admin).json()

            _wait_for(lambda: len(all_rows()) >= served, f"fewer than {served} spend rows")
            rows = all_rows()
            assert len(rows) == served and len({r["request_id"] for r in rows}) == served
            assert all(r["status"] == "success" for r in rows)
        finally:
            process.terminate()
            process.wait(60)


@pytest.fixture
def workers() -> Iterator[tuple[FakeFastChatWorker, FakeFastChatWorker]]:
    lost = FakeFastChatWorker(["vicuna"]).start()  # the test stops it: that is the fault
    with FakeFastChatWorker(["vicuna"]) as survivor:
        yield lost, survivor


def test_a_worker_lost_without_deregistering_is_dropped_and_the_other_serves(workers, tmp_path):
    lost, survivor = workers
    lost.script(*[Reply(text="from the lost one")] * 10)
    survivor.default = Reply(text="from the survivor")
    with GatewayServer(serving_config(), tmp_path) as gateway:
        clock = FakeClock(1_000_000.0)
        gateway.state.directory.clock = clock
        controller = with_token(gateway.url, TOKEN_ALL)
        assert lost.register(controller).status_code == 200
        assert survivor.register(controller).status_code == 200
        client = gateway.client()
        lost.stop()  # gone: no deregistration, no more heartbeats, its port refuses
        # Until its registration expires, a request that picks it fails over (no answer was sent).
        for _ in range(4):
            answer = client.chat.completions.create(model="vicuna", messages=MESSAGES)
            assert answer.choices[0].message.content == "from the survivor"
        clock.advance(60)
        assert survivor.heartbeat(controller).json() == {"exist": True}
        clock.advance(31)  # 91 s since the lost one's registration: past FastChat's 90 s expiry

        def dropped() -> bool:
            listed = httpx.post(
                gateway.url + "/get_worker_address",
                json={"model": "vicuna"},
                headers={"authorization": f"Bearer {CONTROLLER_MASTER}"},
            )
            assert listed.status_code == 200, listed.text
            # The registry forgets it at once; the routing table at the directory's next refresh.
            return listed.json()["address"] == survivor.address and not gateway.state.router.table.live(
                lost.address
            )

        _wait_for(dropped, "the lost worker was not dropped")
        for _ in range(6):  # every request goes straight to the survivor now: one attempt each
            raw = client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES)
            assert raw.parse().choices[0].message.content == "from the survivor"
            assert raw.headers["x-polyroute-attempts"] == "1"
            assert raw.headers["x-polyroute-deployment"] == f"worker:{survivor.address}:vicuna"
