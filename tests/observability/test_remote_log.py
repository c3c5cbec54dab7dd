"""REMOTE_LOGGER_URL through real HTTP: one record per model request reaches a loopback sink; a
sink that is down or stuck never fails or holds up a request, and what it loses is counted."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from polyroute.observability.remote_log import (
    RemoteLogConfigError,
    RemoteLogShipper,
    display_url,
    remote_log_settings,
)
from tests.fakes.base import Reply, free_port
from tests.fakes.log_sink import LogSink
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.observability.test_metrics import scrape

KEY = "sk-fake-openai-key-0123456789abcdef"
MASTER = "sk-metrics-master-0123456789"  # the one tests.observability.test_metrics.scrape sends
PROMPT = "a private prompt that must never be shipped"
MESSAGES = [{"role": "user", "content": PROMPT}]


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached"
        time.sleep(0.02)


def fates(gw: GatewayServer) -> dict[str, float]:
    metrics = scrape(gw)
    out = {
        f: metrics.get("polyroute_remote_log_records_total", outcome=f)
        for f in ("shipped", "failed", "dropped")
    }
    out["queued"] = metrics.get("polyroute_remote_log_queue_depth")
    return out


@pytest.fixture(scope="module")
def upstream():
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def gateway(upstream: FakeOpenAI, tmp_path, url: str, **env: str) -> GatewayServer:
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": upstream.url + "/v1",
                    "api_key": KEY,
                },
                "model_info": {"id": "dep-gpt"},
            }
        ],
        "general_settings": {"master_key": MASTER},
    }
    return GatewayServer(config, tmp_path, env={"REMOTE_LOGGER_URL": url, **env})


def test_each_request_ships_one_record_without_prompt_or_key(upstream, tmp_path):
    upstream.reset()
    with LogSink() as sink, gateway(upstream, tmp_path, sink.endpoint) as gw:
        upstream.script(Reply(text="hi", prompt_tokens=9, completion_tokens=2))
        response = httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "gpt", "messages": MESSAGES},
            headers={"authorization": f"Bearer {MASTER}"},
        )
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        list(gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
        records = wait_for(lambda: len(sink.records) >= 2 and list(sink.records), what="two records")
        assert len(records) == 2
        first = next(r for r in records if r["request_id"] == request_id)
        assert first["type"] == "polyroute.request"
        assert first["model"] == "gpt" and first["model_group"] == "gpt"
        assert first["deployment"] == "dep-gpt" and first["provider"] == "openai"
        assert first["upstream_model"] == "gpt-4o-mini"
        assert first["status"] == "success" and first["http_status"] == 200
        assert first["prompt_tokens"] == 9 and first["completion_tokens"] == 2 and first["total_tokens"] == 11
        assert first["latency_ms"] >= 0 and first["cost_usd"] >= 0 and first["stream"] is False
        assert float(response.headers["x-polyroute-response-cost"]) == pytest.approx(first["cost_usd"])
        streamed = next(r for r in records if r["request_id"] != request_id)
        assert streamed["stream"] is True and streamed["ttft_ms"] is not None
        # FastChat's sinks take flat objects: no nested values.
        assert all(not isinstance(v, dict | list) for r in records for v in r.values())
        raw = b"".join(r.body for r in sink.requests)
        for forbidden in (KEY, MASTER, PROMPT, "hi there"):
            assert forbidden.encode() not in raw
        assert wait_for(lambda: fates(gw)["shipped"] == 2, what="shipped == 2")


def test_a_sink_that_is_down_fails_no_request_and_is_counted(upstream, tmp_path):
    upstream.reset()
    url = f"http://127.0.0.1:{free_port()}/log"  # nothing listens there
    with gateway(upstream, tmp_path, url) as gw:
        client = gw.client()
        for _ in range(5):
            assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices
        wait_for(lambda: fates(gw)["failed"] == 5, what="failed == 5")
        assert fates(gw)["shipped"] == 0


def test_a_stuck_sink_delays_no_request_and_overflow_is_dropped(upstream, tmp_path):
    """The sink holds every POST until released; a request path that waited for it would hang
    until the client's timeout. With 4 senders and a queue of 2, later records are dropped."""
    upstream.reset()
    with (
        LogSink() as sink,
        gateway(upstream, tmp_path, sink.endpoint, POLYROUTE_REMOTE_LOGGER_QUEUE_SIZE="2") as gw,
    ):
        sink.hold()
        client = gw.client(timeout=10)
        for n in range(12):
            assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices
            if n == 3:
                wait_for(lambda: sink.held == 4, what="4 POSTs held by the sink")
        during = fates(gw)
        assert during["queued"] == 2
        assert during["dropped"] == 12 - 4 - 2
        assert during["shipped"] == 0
        sink.release()
        wait_for(lambda: fates(gw)["shipped"] == 6, what="the held and queued records shipped")
        assert fates(gw)["dropped"] == 6 and fates(gw)["queued"] == 0
        assert len(sink.records) == 6


def test_an_erring_sink_is_counted_as_failed(upstream, tmp_path):
    upstream.reset()
    with LogSink() as sink, gateway(upstream, tmp_path, sink.endpoint) as gw:
        sink.status = 503
        for _ in range(3):
            assert gw.client().chat.completions.create(model="gpt", messages=MESSAGES).choices
        wait_for(lambda: fates(gw)["failed"] == 3, what="failed == 3")


async def test_stop_flushes_what_is_queued():
    with LogSink() as sink:
        shipper = RemoteLogShipper(sink.endpoint, queue_size=100)
        for n in range(7):
            shipper.submit({"request_id": f"r{n}", "model": "m"})
        await shipper.start()
        await shipper.stop()
        assert sorted(r["request_id"] for r in sink.records) == [f"r{n}" for n in range(7)]
        assert (shipper.shipped, shipper.failed, shipper.dropped) == (7, 0, 0)
        shipper.submit({"request_id": "late"})  # after shutdown: counted, not kept
        assert shipper.dropped == 1 and shipper.queue_depth() == 0


async def test_stop_gives_up_on_a_stuck_sink_and_counts_the_rest():
    with LogSink() as sink:
        sink.hold()
        shipper = RemoteLogShipper(sink.endpoint, queue_size=100, senders=1, timeout_s=30)
        await shipper.start()
        for n in range(3):
            shipper.submit({"request_id": f"r{n}"})
        await shipper.stop(timeout_s=0.2)
        sink.release()
        assert shipper.shipped == 0
        assert shipper.failed + shipper.dropped == 3 and shipper.dropped == 2
        await asyncio.sleep(0)


def test_only_http_and_https_urls_are_taken():
    assert remote_log_settings({}) is None
    assert remote_log_settings({"REMOTE_LOGGER_URL": "https://logs.example.com/in"})[0].startswith("https://")
    for bad in (
        "ftp://logs.example.com/x",
        "file:///etc/passwd",
        "logs.example.com/x",
        "http:///nohost",
        "http://h:99999/",
    ):
        with pytest.raises(RemoteLogConfigError):
            remote_log_settings({"REMOTE_LOGGER_URL": bad})
    with pytest.raises(RemoteLogConfigError):
        remote_log_settings({"REMOTE_LOGGER_URL": "http://h/", "POLYROUTE_REMOTE_LOGGER_QUEUE_SIZE": "0"})
    # A token in the URL is never shown in the log line that names the sink.
    assert (
        display_url("https://user:pw@logs.example.com:8443/in?token=abc")
        == "https://logs.example.com:8443/in"
    )
