"""FakeAnthropic driven by the official `anthropic` SDK: if the SDK parses it, the fake is faithful."""

from __future__ import annotations

import anthropic
import httpx
import orjson
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Error, Reply, ToolCall

MODEL = "claude-test-1"
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def client(fake):
    fake.reset()
    with anthropic.Anthropic(api_key="sk-ant-test-key", base_url=fake.url, max_retries=0) as sdk:
        yield sdk


def raw_post(fake, body, headers=None, path="/v1/messages"):
    base = {
        "x-api-key": "sk-ant-test-key",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }
    if headers is not None:
        base = headers
    return httpx.post(fake.url + path, content=orjson.dumps(body), headers=base, timeout=10)


# -- non-stream ------------------------------------------------------------------------------------


def test_text_message(fake, client):
    message = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)

    assert message.type == "message"
    assert message.role == "assistant"
    assert message.id.startswith("msg_01")
    assert message.model == MODEL
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello from the fake upstream."
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens == 11
    assert message.usage.output_tokens == 7
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0
    assert message._request_id.startswith("req_")
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages"
    # anthropic 2.x sends its key as a bearer token and API version 2026-10-21.
    assert sent.headers["authorization"] == "Bearer sk-ant-test-key"
    assert sent.headers["anthropic-version"] == "2026-10-21"
    assert sent.json == {"model": MODEL, "max_tokens": 64, "messages": HELLO}


def test_cached_tokens_are_cache_reads_outside_input_tokens(fake, client):
    fake.script(Reply(text="ok", prompt_tokens=100, cached_tokens=60, completion_tokens=3, model="claude-x"))
    message = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)

    assert message.model == "claude-x"
    assert message.usage.input_tokens == 40
    assert message.usage.cache_read_input_tokens == 60
    assert message.usage.output_tokens == 3


def test_tool_use_message(fake, client):
    fake.script(Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_01abc")]))
    message = client.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=HELLO,
        tools=[
            {
                "name": "get_weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
    )

    assert message.stop_reason == "tool_use"
    assert len(message.content) == 1
    block = message.content[0]
    assert (block.type, block.id, block.name, block.input) == (
        "tool_use",
        "toolu_01abc",
        "get_weather",
        {"city": "Paris"},
    )


def test_finish_and_thinking_from_reply(fake, client):
    fake.script(Reply(text="Paris", finish="max_tokens", extra={"thinking": "Capital of France."}))
    message = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)

    assert message.stop_reason == "max_tokens"
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Capital of France."
    assert message.content[0].signature


# -- streams ------------------------------------------------------------------------------------------


def test_raw_stream_event_order(fake, client):
    fake.script(Reply(text="one two three"))
    events = list(client.messages.create(model=MODEL, max_tokens=64, messages=HELLO, stream=True))

    # The SDK skips `ping`; the rest arrive in the documented order.
    assert [event.type for event in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert [event.delta.text for event in events[2:5]] == ["one ", "two ", "three"]
    assert events[0].message.content == []
    assert events[0].message.stop_reason is None
    assert events[6].delta.stop_reason == "end_turn"
    assert events[6].usage.output_tokens == 7
    assert events[6].usage.input_tokens == 11


def test_stream_wire_framing_has_event_names_ping_and_no_done(fake):
    response = raw_post(fake, {"model": MODEL, "max_tokens": 8, "messages": HELLO, "stream": True})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    frames = response.text.split("\n\n")
    assert frames[-1] == ""
    assert frames[0].startswith("event: message_start\ndata: {")
    assert frames[1] == 'event: ping\ndata: {"type":"ping"}'
    assert frames[-2] == 'event: message_stop\ndata: {"type":"message_stop"}'
    assert "[DONE]" not in response.text
    for frame in frames[:-1]:
        name, data = frame.split("\n")
        assert orjson.loads(data.removeprefix("data: "))["type"] == name.removeprefix("event: ")


def test_stream_helper_accumulates_text_and_tool_call(fake, client):
    fake.script(
        Reply(
            text="Let me check.",
            tool_calls=[ToolCall("get_weather", {"city": "Paris", "days": 3}, id="toolu_01x")],
        )
    )
    with client.messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == "Let me check."
    assert [block.type for block in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"city": "Paris", "days": 3}
    assert final.content[1].id == "toolu_01x"
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 7
    assert final.usage.input_tokens == 11


def test_in_stream_error_event_raises(fake, client):
    fake.script(Reply(text="a b c d e", error_after=3))
    with pytest.raises(anthropic.APIStatusError) as caught:
        list(client.messages.create(model=MODEL, max_tokens=64, messages=HELLO, stream=True))

    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (402, anthropic.PaymentRequiredError, "billing_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (413, anthropic.ContentTooLargeError, "request_too_large"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_error_status_maps_to_sdk_exception(fake, client, status, exception, error_type):
    fake.script(
        Error(status, message="scripted failure", headers={"retry-after": "7"} if status == 429 else {})
    )
    with pytest.raises(exception) as caught:
        client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)

    err = caught.value
    assert type(err) is exception
    assert err.status_code == status
    assert err.body["type"] == "error"
    assert err.body["error"] == {"type": error_type, "message": "scripted failure"}
    assert err.body["request_id"] == err.request_id
    assert err.request_id.startswith("req_")
    if status == 429:
        assert err.response.headers["retry-after"] == "7"


def test_missing_api_key_is_401(fake):
    response = raw_post(
        fake, {"model": MODEL, "max_tokens": 8, "messages": HELLO}, {"anthropic-version": "2023-06-01"}
    )

    assert response.status_code == 401
    assert response.json()["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    assert response.headers["request-id"] == response.json()["request_id"]


def test_x_api_key_and_2023_version_are_accepted(fake):
    response = raw_post(fake, {"model": MODEL, "max_tokens": 8, "messages": HELLO})

    assert response.status_code == 200
    assert response.json()["content"] == [{"type": "text", "text": "Hello from the fake upstream."}]


def test_unknown_version_is_400(fake):
    headers = {"x-api-key": "k", "anthropic-version": "2024-13-01"}
    response = raw_post(fake, {"model": MODEL, "max_tokens": 8, "messages": HELLO}, headers)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "anthropic-version: unknown version '2024-13-01'"


def test_missing_version_header_is_400(fake):
    response = raw_post(fake, {"model": MODEL, "max_tokens": 8, "messages": HELLO}, {"x-api-key": "k"})

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"] == "anthropic-version: header is required"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": MODEL, "messages": HELLO}, "max_tokens: Field required"),
        (
            {"model": MODEL, "max_tokens": 8, "messages": [{"role": "assistant", "content": "hi"}]},
            'messages: first message must use the "user" role',
        ),
        (
            {"model": MODEL, "max_tokens": 8, "messages": HELLO + HELLO},
            'messages: roles must alternate between "user" and "assistant", '
            'but found multiple "user" roles in a row',
        ),
        (
            {"model": MODEL, "max_tokens": 8, "messages": [{"role": "system", "content": "x"}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
    ],
)
def test_invalid_requests_are_400(fake, client, body, message):
    response = raw_post(fake, body)

    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}


def test_tool_use_without_tool_result_is_400(fake, client):
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}]},
        {"role": "user", "content": "well?"},
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model=MODEL, max_tokens=8, messages=messages)

    assert caught.value.body["error"]["message"].startswith(
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1."
    )


def test_lenient_mode_accepts_consecutive_turns():
    with FakeAnthropic(strict_turns=False) as server:
        response = raw_post(server, {"model": MODEL, "max_tokens": 8, "messages": HELLO + HELLO})
    assert response.status_code == 200


def test_malformed_reply_is_200_and_not_json(fake, client):
    fake.script(Reply(malformed=True))
    response = raw_post(fake, {"model": MODEL, "max_tokens": 8, "messages": HELLO})

    assert response.status_code == 200
    with pytest.raises(ValueError):
        orjson.loads(response.content)


def test_ttfb_is_honoured_for_non_stream(fake):
    fake.reset()
    fake.script(Reply(ttfb=2.0))
    with anthropic.Anthropic(api_key="k", base_url=fake.url, max_retries=0, timeout=0.3) as sdk:
        with pytest.raises(anthropic.APITimeoutError):
            sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO)


def test_count_tokens(fake, client):
    result = client.messages.count_tokens(model=MODEL, messages=HELLO)

    assert result.input_tokens == len(fake.requests[-1].body) // 4
    assert fake.requests[-1].path == "/v1/messages/count_tokens"
