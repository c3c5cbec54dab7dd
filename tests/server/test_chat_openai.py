"""Chat completions through the gateway to an OpenAI-compatible upstream, with the openai SDK."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import OPENAI_KEY
from tests.fakes.base import Reply, ToolCall

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


def test_non_stream_relays_answer_and_says_who_served(gateway, fake_openai):
    fake_openai.script(Reply(text="Hello there!", prompt_tokens=12, completion_tokens=3))
    raw = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 12 and completion.usage.completion_tokens == 3
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-polyroute-provider"] == "openai"
    assert raw.headers["x-polyroute-model-group"] == "gpt-4o-mini"
    sent = fake_openai.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.json["messages"] == MESSAGES
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_unknown_fields_pass_through_and_gateway_keys_do_not(gateway, fake_openai):
    gateway.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        seed=7,
        max_completion_tokens=20,
        extra_body={"vendor_knob": {"depth": 2}, "num_retries": 3, "timeout": 30},
    )
    sent = fake_openai.requests[-1].json
    assert sent["vendor_knob"] == {"depth": 2}
    assert sent["seed"] == 7 and sent["max_completion_tokens"] == 20
    assert "num_retries" not in sent and "timeout" not in sent


def test_stream_is_relayed_in_order_with_usage_chunk(gateway, fake_openai):
    fake_openai.script(Reply(text="one two three four", prompt_tokens=5, completion_tokens=4))
    stream = gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 9
    assert fake_openai.requests[-1].json["stream_options"] == {"include_usage": True}


def test_stream_ends_with_done_marker(gateway, fake_openai):
    import httpx

    fake_openai.script(Reply(text="a b"))
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
        headers={"authorization": f"Bearer {gateway.master_key}"},
    ) as response:
        body = response.read()
    assert response.headers["content-type"] == "text/event-stream"
    assert body.endswith(b"data: [DONE]\n\n")
    assert body.count(b"data: ") == 5  # role, "a ", "b", finish, [DONE]


def test_tool_calls_round_trip(gateway, fake_openai):
    fake_openai.script(Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")]))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    completion = gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=tools, tool_choice="auto"
    )
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert fake_openai.requests[-1].json["tools"] == tools


def test_one_upstream_connection_is_reused(gateway, fake_openai):
    client = gateway.client()
    for _ in range(6):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    for _ in range(3):
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert len(fake_openai.requests) == 9
    assert fake_openai.connections == 1


def test_wildcard_route_sends_the_requested_model(gateway, fake_openai):
    completion = gateway.client().chat.completions.create(model="fake-openai/gpt-4.1-nano", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert fake_openai.requests[-1].json["model"] == "gpt-4.1-nano"


def test_azure_uses_deployment_url_api_version_and_api_key_header(gateway, fake_openai):
    fake_openai.script(Reply(text="from azure"))
    completion = gateway.client().chat.completions.create(model="azure-gpt", messages=MESSAGES)
    assert completion.choices[0].message.content == "from azure"
    sent = fake_openai.requests[-1]
    assert sent.path == "/openai/deployments/my-gpt-deployment/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == OPENAI_KEY and "authorization" not in sent.headers


def test_legacy_completions_and_embeddings_pass_through(gateway, fake_openai):
    client = gateway.client()
    fake_openai.script(Reply(text="once upon"))
    completion = client.completions.create(model="gpt-4o-mini", prompt="Tell me", max_tokens=5)
    assert completion.choices[0].text == "once upon"
    assert fake_openai.requests[-1].path == "/v1/completions"
    vectors = client.embeddings.create(model="gpt-4o-mini", input=["a", "b"], dimensions=4)
    assert [len(d.embedding) for d in vectors.data] == [4, 4]
    assert fake_openai.requests[-1].path == "/v1/embeddings"


def test_models_list_and_retrieve(gateway):
    client = gateway.client()
    names = {m.id for m in client.models.list().data}
    assert {"gpt-4o-mini", "azure-gpt", "claude", "gemini-flash", "mock-gpt"} <= names
    assert client.models.retrieve("claude").owned_by == "anthropic"
    assert client.models.retrieve("fake-openai/anything").id == "fake-openai/anything"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
