"""Native pass-through to Anthropic deployments: native_request / native_count_request sent over
real HTTP to FakeAnthropic, and AnthropicNativeUsage reading its answers and streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from polyroute import errors
from polyroute.inbound.anthropic_messages import MESSAGES, native_count_request, native_request
from polyroute.protocol.sse import SSEDecoder, SSEEvent
from polyroute.providers.base import ProviderCall, WireRequest
from polyroute.secrets import Secret
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Reply

KEY = "sk-ant-native-test-key-0123456789"
BODY = {
    "model": "claude-gateway-alias",
    "max_tokens": 64,
    "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as upstream:
        yield upstream


def call_for(fake: FakeAnthropic, **kwargs: Any) -> ProviderCall:
    return ProviderCall(
        "anthropic", "claude-sonnet-4-5-20250929", api_base=fake.url, api_key=Secret(KEY), **kwargs
    )


def send(wire: WireRequest) -> httpx.Response:
    return httpx.post(wire.url, headers=wire.headers, content=wire.body, timeout=30)


def test_body_passes_with_model_replaced_and_gateway_keys_removed(fake: FakeAnthropic) -> None:
    fake.reset()
    body = {**BODY, "fallbacks": ["gpt-4o"], "num_retries": 1, "top_k": 5}
    wire = native_request(call_for(fake), body, stream=False, beta="prompt-caching-2024-07-31")
    response = send(wire)
    assert response.status_code == 200
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.json == {**BODY, "model": "claude-sonnet-4-5-20250929", "top_k": 5}
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    usage = MESSAGES.native_usage().answer_usage(response.json())
    assert usage is not None and usage["prompt_tokens"] == 11 and usage["completion_tokens"] == 7


def test_raw_bytes_go_unchanged_when_nothing_must_change(fake: FakeAnthropic) -> None:
    raw = (
        b'{"model": "claude-sonnet-4-5-20250929",  "max_tokens": 8, '
        b'"messages": [{"role": "user", "content": "x"}]}'
    )
    wire = native_request(call_for(fake), orjson.loads(raw), stream=False, raw=raw)
    assert wire.body is raw
    # a different model, or a stream flag to set, re-encodes
    changed = native_request(call_for(fake), {**orjson.loads(raw), "model": "alias"}, stream=False, raw=raw)
    assert orjson.loads(changed.body)["model"] == "claude-sonnet-4-5-20250929"
    streamed = native_request(call_for(fake), orjson.loads(raw), stream=True, raw=raw)
    assert orjson.loads(streamed.body)["stream"] is True


def test_deployment_defaults_fill_only_missing_anthropic_fields(fake: FakeAnthropic) -> None:
    call = call_for(fake, defaults={"temperature": 0.1, "max_tokens": 999, "presence_penalty": 1.0})
    sent = orjson.loads(native_request(call, BODY, stream=False).body)
    assert sent["temperature"] == 0.1
    assert sent["max_tokens"] == 64  # the client's
    assert "presence_penalty" not in sent  # not an Anthropic field


def test_beta_flags_merge_with_the_deployments(fake: FakeAnthropic) -> None:
    call = call_for(fake, extra_headers={"anthropic-beta": "context-1m-2025-08-07"})
    wire = native_request(
        call, BODY, stream=False, beta="context-1m-2025-08-07, interleaved-thinking-2025-05-14"
    )
    assert wire.headers["anthropic-beta"] == "context-1m-2025-08-07,interleaved-thinking-2025-05-14"
    assert "anthropic-beta" not in native_request(call_for(fake), BODY, stream=False).headers


def stream_usage(fake: FakeAnthropic, reply: Reply) -> tuple[Any, list[SSEEvent]]:
    fake.reset()
    fake.script(reply)
    wire = native_request(call_for(fake), BODY, stream=True)
    tracker = MESSAGES.native_usage()
    seen: list[SSEEvent] = []
    decoder = SSEDecoder()
    with httpx.stream("POST", wire.url, headers=wire.headers, content=wire.body, timeout=30) as response:
        assert response.status_code == 200
        for piece in response.iter_raw():
            for event in decoder.feed(piece):
                seen.append(event)
                tracker.on_event(event)
    return tracker, seen


def test_stream_usage_and_end_marker(fake: FakeAnthropic) -> None:
    tracker, seen = stream_usage(
        fake, Reply(text="one two three", prompt_tokens=40, cached_tokens=30, completion_tokens=9)
    )
    assert seen[0].event == "message_start" and seen[-1].event == "message_stop"
    assert tracker.done
    assert tracker.usage == {
        "prompt_tokens": 40,
        "completion_tokens": 9,
        "total_tokens": 49,
        "prompt_tokens_details": {"cached_tokens": 30},
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 30,
    }


def test_stream_error_event_raises_the_mapped_error(fake: FakeAnthropic) -> None:
    with pytest.raises(errors.ServiceUnavailableError):
        stream_usage(fake, Reply(text="a b c d e f", error_after=3))


def test_usage_before_the_end_is_message_starts() -> None:
    tracker = MESSAGES.native_usage()
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}
    tracker.on_event(SSEEvent("message_start", orjson.dumps(start)))
    tracker.on_event(SSEEvent("ping", b'{"type":"ping"}'))
    assert not tracker.done
    assert tracker.usage is not None and tracker.usage["prompt_tokens"] == 5
    with pytest.raises(errors.UpstreamMalformedError):
        tracker.on_event(SSEEvent("content_block_delta", b"{not json"))


def test_count_tokens_request(fake: FakeAnthropic) -> None:
    fake.reset()
    body = {**BODY, "tools": [{"name": "f", "input_schema": {"type": "object"}}], "stream": True}
    wire = native_count_request(call_for(fake), body, beta="token-counting-2024-11-01")
    response = send(wire)
    assert response.status_code == 200
    assert response.json()["input_tokens"] >= 1
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages/count_tokens"
    # count_tokens refuses max_tokens and stream: only the fields it takes go
    assert sent.json == {
        "model": "claude-sonnet-4-5-20250929",
        "system": BODY["system"],
        "messages": BODY["messages"],
        "tools": body["tools"],
    }
    assert sent.headers["anthropic-beta"] == "token-counting-2024-11-01"


def test_unsigned_thinking_from_another_provider_is_left_out(fake: FakeAnthropic) -> None:
    history = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "from gpt-oss", "signature": ""},
                {"type": "thinking", "thinking": "from claude", "signature": "EqQB"},
                {"type": "text", "text": "a"},
            ],
        },
        {"role": "user", "content": "q2"},
    ]
    body = {**BODY, "messages": history}
    raw = orjson.dumps({**body, "model": "claude-sonnet-4-5-20250929"})
    wire = native_request(call_for(fake), orjson.loads(raw), stream=False, raw=raw)
    sent = orjson.loads(wire.body)
    assert sent["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "from claude", "signature": "EqQB"},
        {"type": "text", "text": "a"},
    ]
    assert sent["messages"][0] == history[0] and sent["messages"][2] == history[2]
    assert body["messages"][1]["content"][0]["signature"] == ""  # the client's body is untouched
