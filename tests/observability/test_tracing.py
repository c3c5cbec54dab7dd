"""OpenTelemetry traces to a real OTLP/HTTP endpoint on loopback: one server span per request,
a GenAI client span per upstream attempt, the caller's traceparent honoured, no secrets."""

from __future__ import annotations

import time

import pytest

from tests.fakes.base import Error, Reply
from tests.fakes.openai import FakeOpenAI
from tests.fakes.otlp import FakeCollector
from tests.gateway import GatewayServer

KEY = "sk-fake-openai-key-0123456789abcdef"
MASTER = "sk-tracing-master-0123456789"
MESSAGES = [{"role": "user", "content": "a secret prompt that must not be traced"}]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def traced(tmp_path):
    with FakeOpenAI(api_key=KEY) as a, FakeOpenAI(api_key=KEY) as b, FakeCollector() as collector:
        config = {
            "model_list": [
                {
                    "model_name": "gpt",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": a.url + "/v1",
                        "api_key": KEY,
                    },
                    "model_info": {"id": "dep-a"},
                },
                {
                    "model_name": "gpt",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": b.url + "/v1",
                        "api_key": KEY,
                        "order": 2,
                    },
                    "model_info": {"id": "dep-b"},
                },
            ],
            "general_settings": {"master_key": MASTER},
            "litellm_settings": {"callbacks": ["otel"]},
            "router_settings": {"num_retries": 1, "allowed_fails": 0, "cooldown_time": 30},
        }
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        with GatewayServer(config, tmp_path, env=env) as gw:
            assert gw.state.tracing is not None
            yield gw, a, b, collector


def wait_for_spans(collector: FakeCollector, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while len(collector.spans) < count:
        assert time.monotonic() < deadline, collector.spans
        time.sleep(0.05)
    return list(collector.spans)


def test_a_request_gives_a_server_span_and_a_genai_client_span(traced):
    gw, a, _, collector = traced
    a.script(Reply(text="hi", prompt_tokens=9, completion_tokens=2))
    client = gw.client(default_headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    client.chat.completions.create(model="gpt", messages=MESSAGES, temperature=0.3, max_tokens=50)
    spans = wait_for_spans(collector, 2)
    server = next(s for s in spans if s["kind"] == "SPAN_KIND_SERVER")
    attempt = next(s for s in spans if s["kind"] == "SPAN_KIND_CLIENT")
    assert server["name"] == "POST /v1/chat/completions"
    assert server["trace_id"] == TRACE_ID and server["parent_span_id"] == PARENT_ID
    assert server["attributes"]["http.response.status_code"] == 200
    assert server["attributes"]["gen_ai.operation.name"] == "chat"
    assert server["attributes"]["gen_ai.usage.input_tokens"] == 9
    assert server["resource"]["service.name"] == "polyroute"
    assert attempt["name"] == "chat gpt-4o-mini"
    assert attempt["trace_id"] == TRACE_ID and attempt["parent_span_id"] == server["span_id"]
    attributes = attempt["attributes"]
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.temperature"] == 0.3
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.usage.output_tokens"] == 2
    assert attributes["server.address"] == "127.0.0.1" and attributes["server.port"] == a.port
    assert server["start"] <= attempt["start"] <= attempt["end"] <= server["end"]
    raw = repr(spans)
    for secret in (KEY, MASTER, "secret prompt"):
        assert secret not in raw


def test_a_failed_attempt_is_its_own_error_span(traced):
    gw, a, b, collector = traced
    a.script(Error(429, message="slow down"))
    b.script(Reply(text="from b"))
    # Read to the end: a client that closed the stream at once would cancel the second attempt
    # (the gateway notices a lost connection at once), making its span an error too.
    chunks = list(gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "from b"
    spans = wait_for_spans(collector, 3)
    attempts = sorted((s for s in spans if s["kind"] == "SPAN_KIND_CLIENT"), key=lambda s: s["start"])
    assert [s["attributes"]["polyroute.deployment.id"] for s in attempts] == ["dep-a", "dep-b"]
    assert attempts[0]["status"] == "STATUS_CODE_ERROR"
    assert attempts[0]["attributes"]["error.type"] == "rate_limit_error"
    assert attempts[0]["attributes"]["http.response.status_code"] == 429
    assert attempts[1].get("status") != "STATUS_CODE_ERROR"
    server = next(s for s in spans if s["kind"] == "SPAN_KIND_SERVER")
    assert server["attributes"]["polyroute.attempts"] == 2
    assert {s["trace_id"] for s in spans} == {server["trace_id"]}


def test_tracing_is_off_without_configuration(tmp_path):
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}]}
    gw = GatewayServer(config, tmp_path, env={})
    assert gw.state.tracing is None
    disabled = GatewayServer(
        {**config, "litellm_settings": {"callbacks": ["otel"]}}, tmp_path, env={"OTEL_SDK_DISABLED": "true"}
    )
    assert disabled.state.tracing is None


def test_litellm_callbacks_we_do_not_have_are_reported_by_name(tmp_path):
    from polyroute.config.loader import load_config

    path = tmp_path / "c.yaml"
    path.write_text(
        "model_list: [{model_name: m, litellm_params: {model: mock/m}}]\n"
        "litellm_settings: {callbacks: [otel, langfuse], success_callback: [prometheus]}\n"
    )
    config = load_config(path, {})
    assert config.callbacks == {"otel", "langfuse", "prometheus"}
    assert [w for w in config.warnings if "callbacks" in w] == [
        "config key 'litellm_settings.callbacks: langfuse' is not supported yet and is ignored"
    ]
