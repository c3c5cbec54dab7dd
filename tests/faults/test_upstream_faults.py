"""Upstream faults through the TCP fault proxy (tests/fakes/fault_proxy.py): the gateway talks to
the fake OpenAI upstream only through the proxy, which resets, stalls, slices or refuses the
connection. For each, the client (the official SDK) gets an answer or a clear error, the gateway
keeps serving, and the spend log holds exactly one row per request, with tokens exactly when
the request produced tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, OPENAI_KEY
from tests.fakes.base import Reply
from tests.fakes.fault_proxy import Fault, FaultProxy
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer

TEXT = " ".join(f"word{i}" for i in range(40))  # 40 stream events of ~200 bytes
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    fake.default = Reply(text=TEXT)
    yield fake
    fake.stop()


def gateway_through(proxy: FaultProxy, tmp_path, direct: FakeOpenAI | None = None) -> GatewayServer:
    """A gateway whose model `gpt` is reached through `proxy`; with `direct`, a second deployment
    of the group reaches that fake without the proxy (for fail-over)."""
    params = {"model": "openai/gpt-4o-mini", "api_key": OPENAI_KEY}
    model_list = [{"model_name": "gpt", "model_info": {"id": "via-proxy"},
                   "litellm_params": {**params, "api_base": proxy.url + "/v1", "order": 1}}]
    if direct is not None:  # LiteLLM's `order`: the proxied deployment is always tried first
        model_list.append({"model_name": "gpt", "model_info": {"id": "direct"},
                           "litellm_params": {**params, "api_base": direct.url + "/v1", "order": 2}})
    config = {
        "model_list": model_list,
        "general_settings": {"master_key": MASTER_KEY, "proxy_batch_write_at": 0.05},
        "router_settings": {"num_retries": 0, "stream_timeout": 2.0, "stream_idle_timeout": 1.0,
                            "timeout": 10, "disable_cooldowns": True},
    }
    if direct is not None:  # one failure cools the first tier down: the retry moves to the next
        config["router_settings"].update(num_retries=1, disable_cooldowns=False, allowed_fails=0)
    return GatewayServer(config, tmp_path).start()


def spend_rows(gateway: GatewayServer, count: int) -> list[dict[str, Any]]:
    """The spend log once `count` rows are in (written in batches: bounded wait)."""
    deadline = time.monotonic() + 10
    while True:
        rows = httpx.get(gateway.url + "/spend/logs", headers={"authorization": f"Bearer {MASTER_KEY}"})
        rows = rows.json()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def read_stream(client: openai.OpenAI) -> tuple[str, Exception | None]:
    text, error = [], None
    try:
        for chunk in client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True):
            if chunk.choices:
                text.append(chunk.choices[0].delta.content or "")
    except (openai.APIError, httpx.HTTPError) as exc:
        error = exc
    return "".join(text), error


def assert_still_serving(gateway: GatewayServer, proxy: FaultProxy) -> None:
    proxy.fault = Fault()
    answer = gateway.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert answer.choices[0].message.content == TEXT


def test_one_byte_slices_relay_the_stream_intact(upstream, tmp_path):
    with FaultProxy(upstream.port) as proxy:
        proxy.fault = Fault(slice=1)
        gateway = gateway_through(proxy, tmp_path)
        try:
            text, error = read_stream(gateway.client())
            assert error is None and text == TEXT
            assert proxy.connections >= 1
            rows = spend_rows(gateway, 1)
            assert len(rows) == 1 and rows[0]["completion_tokens"] > 0
        finally:
            gateway.stop()


def test_latency_under_the_idle_timeout_delays_but_breaks_nothing(upstream, tmp_path):
    """Every 300-byte piece 20 ms late (a slow link): well inside the 1 s idle timeout."""
    with FaultProxy(upstream.port) as proxy:
        proxy.fault = Fault(latency=0.02, slice=300)
        gateway = gateway_through(proxy, tmp_path)
        try:
            text, error = read_stream(gateway.client())
            assert error is None and text == TEXT
            assert gateway.client().chat.completions.create(model="gpt", messages=MESSAGES).choices[
                0
            ].message.content == TEXT
            assert len(spend_rows(gateway, 2)) == 2
            assert proxy.connections >= 1  # through the proxy, not around it
        finally:
            gateway.stop()


@pytest.mark.parametrize(
    "fault",
    [Fault(reset_after=1500), Fault(stall_after=1500), Fault(half_close_after=1500)],
    ids=["reset", "stall", "half-close"],
)
def test_a_stream_broken_mid_body_ends_with_an_error_and_is_billed_once(upstream, tmp_path, fault):
    """Past the first bytes the gateway cannot retry: the client gets what came and then an
    error event (the SDK raises it), never a silent cut; the tokens that came are billed."""
    with FaultProxy(upstream.port) as proxy:
        proxy.fault = fault
        gateway = gateway_through(proxy, tmp_path)
        try:
            text, error = read_stream(gateway.client())
            assert isinstance(error, openai.APIError), (text, error)
            assert text and TEXT.startswith(text) and text != TEXT
            rows = spend_rows(gateway, 1)
            assert len(rows) == 1 and rows[0]["completion_tokens"] > 0, rows
            assert_still_serving(gateway, proxy)
            assert len(spend_rows(gateway, 2)) == 2
        finally:
            gateway.stop()


def test_no_first_byte_after_the_headers_is_a_timeout_error_without_tokens(upstream, tmp_path):
    with FaultProxy(upstream.port) as proxy:
        proxy.fault = Fault(stall_after_headers=True)
        gateway = gateway_through(proxy, tmp_path)
        try:
            with pytest.raises(openai.APIStatusError) as raised:
                gateway.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
            assert raised.value.status_code in (408, 504)
            rows = spend_rows(gateway, 1)
            assert all(not row["completion_tokens"] for row in rows) and len(rows) <= 1
            assert_still_serving(gateway, proxy)
        finally:
            gateway.stop()


def test_a_refused_upstream_fails_over_to_the_next_deployment(upstream, tmp_path):
    with FaultProxy(upstream.port) as proxy:
        proxy.fault = Fault(refuse=True)
        gateway = gateway_through(proxy, tmp_path, direct=upstream)
        try:
            text, error = read_stream(gateway.client())
            assert error is None and text == TEXT
            assert proxy.connections >= 1  # the proxied deployment was tried first, and refused
            rows = spend_rows(gateway, 1)
            assert len(rows) == 1 and rows[0]["model_id"] == "direct"
        finally:
            gateway.stop()


def test_malformed_sse_with_usage_is_an_error_event_not_a_cut(upstream, tmp_path):
    """An event the pass-through relay parses (it holds "usage") that is not JSON: an orjson
    exception escaped the relay before, cutting the stream without a word."""
    upstream.default = Reply(raw_events=[
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        b'[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n',
        b'data: {"usage": {"prompt_tokens": 3, "completion_tok\n\n',
        b"data: [DONE]\n\n",
    ])
    with FaultProxy(upstream.port) as proxy:
        gateway = gateway_through(proxy, tmp_path)
        try:
            text, error = read_stream(gateway.client())
            assert text == "Hi" and isinstance(error, openai.APIError)
            assert "not a JSON data event" in str(error)  # the relay's malformed-event error
            assert len(spend_rows(gateway, 1)) == 1
        finally:
            gateway.stop()


def test_html_with_200_is_a_clear_502(upstream, tmp_path):
    upstream.default = Reply(raw_body=b"<html><body>502 Bad Gateway (a captive portal)</body></html>")
    with FaultProxy(upstream.port) as proxy:
        gateway = gateway_through(proxy, tmp_path)
        try:
            with pytest.raises(openai.APIStatusError) as raised:
                gateway.client().chat.completions.create(model="gpt", messages=MESSAGES)
            assert raised.value.status_code == 502
            assert "not valid JSON" in raised.value.message
            rows = spend_rows(gateway, 1)
            assert all(not row["completion_tokens"] for row in rows) and len(rows) <= 1
        finally:
            gateway.stop()
