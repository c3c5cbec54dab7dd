"""The mock provider: offline, deterministic, with scripted latency, errors and stream length."""

from __future__ import annotations

import json
import time

import openai
import pytest

from tests.gateway import GatewayServer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]


@pytest.fixture(scope="module")
def mock_gateway(tmp_path_factory):
    config = {
        "model_list": [
            {"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}},
            {
                "model_name": "flaky",
                "litellm_params": {
                    "model": "mock/flaky",
                    "mock_error_rate": 0.5,
                    "mock_error_status": 503,
                    "mock_seed": 3,
                },
            },
            {
                "model_name": "slow",
                "litellm_params": {"model": "mock/slow", "mock_latency_ms": 200, "mock_stream_chunks": 3},
            },
            {
                "model_name": "fixed",
                "litellm_params": {"model": "mock/fixed", "mock_response": "always this"},
            },
        ]
    }
    config["router_settings"] = {"num_retries": 0}  # show the mock's errors, not the router's recovery
    with GatewayServer(config, tmp_path_factory.mktemp("mock")) as server:
        yield server


def test_replies_are_deterministic(mock_gateway):
    client = mock_gateway.client()
    one = client.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": "ping"}])
    two = client.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": "ping"}])
    assert (
        one.choices[0].message.content == two.choices[0].message.content == "This is a mock response to: ping"
    )
    assert one.id != two.id and one.id.startswith("chatcmpl-")  # OpenAI's ids are unique per response


def test_tool_loop_works_offline(mock_gateway):
    client = mock_gateway.client()
    messages = [{"role": "user", "content": "find cats"}]
    first = client.chat.completions.create(model="mock-gpt", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"q": "mock"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "3 cats"},
    ]
    second = client.chat.completions.create(model="mock-gpt", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "Mock answer from the tool result: 3 cats"


def test_error_rate_is_repeatable_and_real(mock_gateway):
    client = mock_gateway.client()
    outcomes = []
    for _ in range(8):
        try:
            client.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "x"}])
            outcomes.append("ok")
        except openai.InternalServerError as exc:
            assert exc.status_code == 503
            outcomes.append("err")
    assert "ok" in outcomes and "err" in outcomes


def test_latency_and_stream_length(mock_gateway):
    client = mock_gateway.client()
    started = time.monotonic()
    chunks = list(
        client.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "abc def ghi"}], stream=True
        )
    )
    assert time.monotonic() - started >= 0.2
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) == 3


def test_fixed_and_per_request_mock_response(mock_gateway):
    client = mock_gateway.client()
    assert (
        client.chat.completions.create(model="fixed", messages=[{"role": "user", "content": "x"}])
        .choices[0]
        .message.content
        == "always this"
    )
    reply = client.chat.completions.create(
        model="mock-gpt",
        messages=[{"role": "user", "content": "x"}],
        extra_body={"mock_response": "per request"},
    )
    assert reply.choices[0].message.content == "per request"


def test_legacy_completion_is_emulated_over_chat(mock_gateway):
    client = mock_gateway.client()
    completion = client.completions.create(model="mock-gpt", prompt="hello")
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "This is a mock response to: hello"
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="mock-gpt", prompt="hello", stream=True)
        if c.choices
    )
    assert streamed == "This is a mock response to: hello"


def test_embeddings(mock_gateway):
    vectors = mock_gateway.client().embeddings.create(model="mock-gpt", input="hello", dimensions=5)
    assert len(vectors.data[0].embedding) == 5
