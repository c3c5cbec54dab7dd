"""The same conversation, with a tool call and its result, through every provider: equivalent
OpenAI-shaped results, streamed and not, through the official openai SDK."""

from __future__ import annotations

import json

import openai
import pytest

from tests import api_providers
from tests.conftest import MATRIX_MODELS as PROVIDER_MODELS
from tests.fakes.base import Error, Reply, ToolCall

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
QUESTION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
]


def _fake(request, provider):
    return request.getfixturevalue(PROVIDER_MODELS[provider][1])


def _collect_stream(stream):
    """Reassembles an SDK stream: text, tool calls by index, finish reason, usage, chunk count."""
    text, calls, finish, usage, count = "", {}, None, None, 0
    for chunk in stream:
        count += 1
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            text += delta.content or ""
            for call in delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                if call.function and call.function.name:
                    slot["name"] += call.function.name
                if call.function and call.function.arguments:
                    slot["arguments"] += call.function.arguments
            finish = choice.finish_reason or finish
    return text, [calls[i] for i in sorted(calls)], finish, usage, count


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
def test_tool_conversation_non_stream(request, gateway, provider):
    if provider in api_providers.NO_TOOLS:
        pytest.skip(f"{provider} has no tool calling")
    model, _ = PROVIDER_MODELS[provider]
    fake = _fake(request, provider)
    fake.script(
        Reply(
            text=None,
            tool_calls=[ToolCall("get_weather", {"city": "Paris"})],
            prompt_tokens=20,
            completion_tokens=6,
        ),
        Reply(text="Sunny, 21 C.", prompt_tokens=30, completion_tokens=5),
    )
    client = gateway.client()
    first = client.chat.completions.create(model=model, messages=QUESTION, tools=TOOLS, tool_choice="auto")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (20, 6)

    follow_up = [
        *QUESTION,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21, "sky": "sunny"}'},
    ]
    second = client.chat.completions.create(model=model, messages=follow_up, tools=TOOLS)
    assert second.choices[0].message.content == "Sunny, 21 C."
    assert second.choices[0].finish_reason == "stop"
    assert second.usage.total_tokens == 35
    # The upstream got the tool result in its own format (the fakes reject malformed turns).
    assert len(fake.requests) == 2
    assert "21" in fake.requests[-1].body.decode()


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
def test_tool_conversation_stream(request, gateway, provider):
    if provider in api_providers.NO_TOOLS:
        pytest.skip(f"{provider} has no tool calling")
    model, _ = PROVIDER_MODELS[provider]
    fake = _fake(request, provider)
    fake.script(
        Reply(
            text=None,
            tool_calls=[ToolCall("get_weather", {"city": "Paris"})],
            prompt_tokens=20,
            completion_tokens=6,
        ),
        Reply(text="Sunny and warm in Paris today.", prompt_tokens=30, completion_tokens=7),
    )
    client = gateway.client()
    options = {"include_usage": True}
    text, calls, finish, usage, _ = _collect_stream(
        client.chat.completions.create(
            model=model, messages=QUESTION, tools=TOOLS, stream=True, stream_options=options
        )
    )
    assert text == "" and finish == "tool_calls"
    assert [c["name"] for c in calls] == ["get_weather"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert (usage.prompt_tokens, usage.completion_tokens) == (20, 6)

    follow_up = [
        *QUESTION,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": calls[0]["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": calls[0]["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
    ]
    text, calls, finish, usage, count = _collect_stream(
        client.chat.completions.create(
            model=model, messages=follow_up, tools=TOOLS, stream=True, stream_options=options
        )
    )
    assert text == "Sunny and warm in Paris today."
    assert finish == "stop" and calls == []
    assert usage.total_tokens == 37
    assert count >= 4  # relayed in pieces, not buffered into one chunk


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
def test_text_parts_image_and_sampling_params(request, gateway, provider):
    if provider in api_providers.TEXT_ONLY:
        pytest.skip(f"{provider} takes no images (its own tests check the refusal)")
    model, _ = PROVIDER_MODELS[provider]
    fake = _fake(request, provider)
    fake.script(Reply(text="A red dot."))
    image = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
        "z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    )
    reply = gateway.client().chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            }
        ],
        temperature=0.3,
        top_p=0.9,
        max_tokens=50,
        stop=["END"],
    )
    assert reply.choices[0].message.content == "A red dot."
    sent = fake.requests[-1].body.decode()
    assert "iVBORw0KGgo" in sent and "What is this?" in sent and "END" in sent


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
def test_provider_errors_reach_the_client_as_openai_errors(request, gateway, provider):
    model, _ = PROVIDER_MODELS[provider]
    fake = _fake(request, provider)
    fake.script(Error(429, headers={"retry-after": "3"}), Error(400, message="bad thing"), Error(500))
    client = gateway.client()
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model=model, messages=QUESTION)
    assert limited.value.response.headers["retry-after"] == "3"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=model, messages=QUESTION)
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model=model, messages=QUESTION)
    assert failed.value.status_code == 502


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
def test_mid_stream_failure_raises_for_every_provider(request, gateway, provider):
    model, _ = PROVIDER_MODELS[provider]
    fake = _fake(request, provider)
    fake.script(Reply(text="one two three four five six", drop_after=3))
    with pytest.raises(openai.APIError):
        list(gateway.client().chat.completions.create(model=model, messages=QUESTION, stream=True))


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
def test_legacy_completion_on_every_provider(request, gateway, provider):
    model, _ = PROVIDER_MODELS[provider]
    _fake(request, provider).script(Reply(text="the end"))
    completion = gateway.client().completions.create(model=model, prompt="Finish the story:", max_tokens=10)
    assert completion.choices[0].text == "the end"
    assert completion.object == "text_completion"


def test_gemini_embeddings(gateway, fake_gemini):
    vectors = gateway.client().embeddings.create(model="gemini-flash", input=["alpha", "beta"])
    assert len(vectors.data) == 2 and vectors.data[1].index == 1
    assert vectors.usage.prompt_tokens > 0
    assert fake_gemini.requests[-1].path.endswith(":batchEmbedContents")


def test_anthropic_has_no_embeddings(gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().embeddings.create(model="claude", input="x")
    assert caught.value.code == "unsupported_model"


def test_drop_params_and_unsupported_param_error(gateway, fake_anthropic):
    client = gateway.client()
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude", messages=QUESTION, logit_bias={"1": 5})
    assert caught.value.param == "logit_bias"
    assert fake_anthropic.requests == []
    reply = client.chat.completions.create(
        model="claude", messages=QUESTION, logit_bias={"1": 5}, extra_body={"drop_params": True}
    )
    assert reply.choices[0].message.content
    assert "logit_bias" not in fake_anthropic.requests[-1].json
