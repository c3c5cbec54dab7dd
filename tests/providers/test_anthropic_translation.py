"""Anthropic adapter translation, checked against JSON fixtures (tests/providers/fixtures/anthropic),
then end to end against FakeAnthropic over real HTTP.

Fixture placeholders: "<int>" stands for `created`, checked here to be a current Unix time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from polyroute import errors
from polyroute.protocol.sse import SSEDecoder, SSEEvent, encode_event
from polyroute.providers.anthropic.adapter import AnthropicAdapter
from polyroute.providers.base import ProviderCall
from polyroute.secrets import Secret
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Error, Reply, ToolCall

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
KEY = "sk-ant-api03-TESTKEY-0123456789"

adapter = AnthropicAdapter()


def load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def names(folder: str) -> list[str]:
    return sorted(p.stem for p in (FIXTURES / folder).glob("*.json"))


def make_call(model: str = "claude-sonnet-4-5-20250929", **kwargs: Any) -> ProviderCall:
    return ProviderCall("anthropic", model, api_key=Secret(KEY), **kwargs)


def check_created(value: Any) -> None:
    assert isinstance(value, int)
    assert abs(value - time.time()) < 60


# -- requests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", names("requests"))
def test_request_fixture(name: str) -> None:
    case = load(FIXTURES / "requests" / f"{name}.json")
    wire = adapter.chat_request(make_call(**case["call"]), case["openai"], case["stream"])

    assert orjson.loads(wire.body) == case["anthropic"]


def test_request_does_not_mutate_client_body() -> None:
    case = load(FIXTURES / "requests" / "tool_round_trip.json")
    before = orjson.dumps(case["openai"])
    adapter.chat_request(make_call(defaults={"temperature": 1}), case["openai"], False)

    assert orjson.dumps(case["openai"]) == before


def test_url_and_headers() -> None:
    call = make_call(extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    wire = adapter.chat_request(call, {"messages": [{"role": "user", "content": "hi"}]}, False)

    assert wire.method == "POST"
    assert wire.url == "https://api.anthropic.com/v1/messages"
    assert wire.headers == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": KEY,
        "anthropic-beta": "prompt-caching-2024-07-31",
    }


@pytest.mark.parametrize(
    "api_base",
    [
        "https://proxy.example/anthropic",
        "https://proxy.example/anthropic/",
        "https://proxy.example/anthropic/v1",
        "https://proxy.example/anthropic/v1/",
    ],
)
def test_api_base_with_or_without_v1(api_base: str) -> None:
    assert adapter.messages_url(make_call(api_base=api_base)) == "https://proxy.example/anthropic/v1/messages"


def test_version_override_from_extras() -> None:
    call = make_call(extras={"anthropic_version": "2026-10-21"})
    assert adapter.headers(call)["anthropic-version"] == "2026-10-21"


def test_adapter_identity() -> None:
    assert (adapter.name, adapter.env_key, adapter.default_api_base) == (
        "anthropic",
        "ANTHROPIC_API_KEY",
        "https://api.anthropic.com",
    )
    assert adapter.supports == frozenset({"chat"})
    assert adapter.passthrough_stream is False
    for param in (
        "logit_bias",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "seed",
        "service_tier",
    ):
        assert param not in adapter.supported_chat_params
    for param in (
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "user",
        "reasoning_effort",
        "stream",
        "stream_options",
        "metadata",
    ):
        assert param in adapter.supported_chat_params


def _user(content: Any = "hi") -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


@pytest.mark.parametrize(
    ("body", "error_class", "param"),
    [
        ({"messages": _user(), "n": 2}, errors.UnsupportedParamsError, "n"),
        ({"messages": []}, errors.InvalidRequestError, "messages"),
        (
            {
                "messages": _user()
                + [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "t1",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{not json"},
                            }
                        ],
                    }
                ]
            },
            errors.InvalidRequestError,
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            {
                "messages": _user()
                + [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}
                        ],
                    }
                ]
            },
            errors.InvalidRequestError,
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            {"messages": _user() + [{"role": "tool", "content": "x"}]},
            errors.InvalidRequestError,
            "messages[1].tool_call_id",
        ),
        (
            {"messages": [{"role": "function", "content": "x"}]},
            errors.InvalidRequestError,
            "messages[0].role",
        ),
        (
            {"messages": _user([{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}])},
            errors.InvalidRequestError,
            "messages[0].content[0].image_url.url",
        ),
        (
            {"messages": _user([{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}])},
            errors.InvalidRequestError,
            "messages[0].content[0].image_url.url",
        ),
        (
            {"messages": _user([{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}])},
            errors.UnsupportedParamsError,
            "messages[0].content[0]",
        ),
        (
            {"messages": _user([{"type": "file", "file": {"file_id": "file-1"}}])},
            errors.UnsupportedParamsError,
            "messages[0].content[0].file.file_id",
        ),
        (
            {"messages": _user(), "reasoning_effort": "extreme"},
            errors.InvalidRequestError,
            "reasoning_effort",
        ),
        (
            {"messages": _user(), "reasoning_effort": "high", "max_tokens": 4096},
            errors.InvalidRequestError,
            "max_tokens",
        ),
        (
            {"messages": _user(), "max_completion_tokens": 0},
            errors.InvalidRequestError,
            "max_completion_tokens",
        ),
        (
            {"messages": _user(), "tools": [{"type": "function", "function": {"name": "json_tool_call"}}]},
            errors.InvalidRequestError,
            "tools[0].function.name",
        ),
        (
            {
                "messages": _user(),
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": "maybe",
            },
            errors.InvalidRequestError,
            "tool_choice",
        ),
        ({"messages": _user(), "stop": 42}, errors.InvalidRequestError, "stop"),
        (
            {"messages": _user(), "response_format": {"type": "xml"}},
            errors.InvalidRequestError,
            "response_format.type",
        ),
    ],
)
def test_request_refusals_name_the_param(body: dict[str, Any], error_class: type, param: str) -> None:
    with pytest.raises(errors.GatewayError) as caught:
        adapter.chat_request(make_call(), body, False)

    assert type(caught.value) is error_class
    assert caught.value.param == param
    assert caught.value.status == 400


# -- responses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", names("responses"))
def test_response_fixture(name: str) -> None:
    case = load(FIXTURES / "responses" / f"{name}.json")
    result = adapter.chat_response(make_call(), case["anthropic"])

    check_created(result["created"])
    assert {**result, "created": "<int>"} == case["openai"]


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
    ],
)
def test_finish_reason_mapping(stop_reason: str | None, finish_reason: str) -> None:
    data = {
        "id": "msg_1",
        "model": "m",
        "content": [{"type": "text", "text": "x"}],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    assert adapter.chat_response(make_call(), data)["choices"][0]["finish_reason"] == finish_reason


def test_response_without_model_uses_the_deployment_model() -> None:
    data = {"id": "msg_1", "content": [], "stop_reason": "end_turn"}
    result = adapter.chat_response(make_call("claude-deployed"), data)

    assert result["model"] == "claude-deployed"
    assert "usage" not in result


def test_response_without_content_is_an_upstream_error() -> None:
    with pytest.raises(errors.UpstreamError):
        adapter.chat_response(make_call(), {"id": "msg_1", "type": "message"})


# -- streams ------------------------------------------------------------------------------------------


def sse_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(encode_event(e["event"], e["data"]) for e in events)


def translate(raw: bytes, piece: int = 7) -> tuple[Any, list[dict[str, Any]]]:
    """Feed the stream through the real decoder in small pieces, as bytes arrive off a socket."""
    translator = adapter.chat_stream(make_call("claude-fallback-model"), {})
    decoder = SSEDecoder()
    chunks: list[dict[str, Any]] = []
    for i in range(0, len(raw), piece):
        for event in decoder.feed(raw[i : i + piece]):
            chunks.extend(translator.on_event(event))
    for event in decoder.flush():
        chunks.extend(translator.on_event(event))
    chunks.extend(translator.on_end())
    return translator, chunks


@pytest.mark.parametrize("name", names("streams"))
def test_stream_fixture(name: str) -> None:
    case = load(FIXTURES / "streams" / f"{name}.json")
    expected = case["expected"]
    translator, chunks = translate(sse_bytes(case["events"]))

    assert [[c["choices"][0]["delta"], c["choices"][0]["finish_reason"]] for c in chunks] == expected[
        "deltas"
    ]
    created = {c["created"] for c in chunks}
    assert len(created) == 1
    check_created(created.pop())
    for chunk in chunks:
        assert set(chunk) == {"id", "object", "created", "model", "choices"}
        assert chunk["id"] == expected["id"]
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == expected["model"]
        assert len(chunk["choices"]) == 1
        assert chunk["choices"][0]["index"] == 0
        assert chunk["choices"][0]["logprobs"] is None
    assert translator.usage == expected["usage"]


def test_stream_error_event_raises_mapped_error() -> None:
    translator = adapter.chat_stream(make_call(), {})
    start = load(FIXTURES / "streams" / "text.json")["events"][0]
    translator.on_event(SSEEvent("message_start", orjson.dumps(start["data"])))
    payload = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

    with pytest.raises(errors.ServiceUnavailableError) as caught:
        translator.on_event(SSEEvent("error", orjson.dumps(payload)))
    assert caught.value.message == "Overloaded"
    assert caught.value.provider == "anthropic"


def test_stream_error_event_of_other_type() -> None:
    translator = adapter.chat_stream(make_call(), {})
    payload = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}

    with pytest.raises(errors.RateLimitError):
        translator.on_event(SSEEvent("error", orjson.dumps(payload)))


def test_truncated_stream_raises_on_end() -> None:
    events = load(FIXTURES / "streams" / "text.json")["events"]
    translator = adapter.chat_stream(make_call(), {})
    for event in events[:-1]:  # no message_stop
        translator.on_event(SSEEvent(event["event"], orjson.dumps(event["data"])))

    with pytest.raises(errors.UpstreamError) as caught:
        translator.on_end()
    assert caught.value.message == "anthropic stream ended before message_stop"


def test_stream_ignores_unknown_events_and_empty_data() -> None:
    translator = adapter.chat_stream(make_call(), {})

    assert translator.on_event(SSEEvent("some_future_event", b'{"type": "some_future_event"}')) == []
    assert translator.on_event(SSEEvent("ping", b"")) == []
    assert translator.usage is None


def test_stream_event_that_is_not_json_is_an_upstream_error() -> None:
    translator = adapter.chat_stream(make_call(), {})
    with pytest.raises(errors.UpstreamError):
        translator.on_event(SSEEvent("message_start", b'{"type": "message_st'))


# -- errors -------------------------------------------------------------------------------------------

ERROR_CASES = load(FIXTURES / "errors.json")


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c["name"] for c in ERROR_CASES])
def test_error_mapping(case: dict[str, Any]) -> None:
    body = case["raw_body"].encode() if "raw_body" in case else orjson.dumps(case["body"])
    error = adapter.map_error(case["status"], body, httpx.Headers(case.get("headers", {})))
    expect = case["expect"]

    assert type(error) is getattr(errors, expect["class"])
    assert error.status == expect["status"]
    assert error.code == expect["code"]
    assert error.retryable is expect["retryable"]
    assert error.message == expect["message"]
    assert error.retry_after == expect.get("retry_after")
    assert error.provider == "anthropic"


# -- end to end against FakeAnthropic ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def upstream(fake):
    fake.reset()
    return fake


def send(wire) -> httpx.Response:
    return httpx.post(wire.url, content=wire.body, headers=wire.headers, timeout=10)


TOOL_CONVERSATION = load(FIXTURES / "requests" / "tool_round_trip.json")["openai"]


def test_fake_accepts_translated_conversation_and_reply_translates(upstream) -> None:
    upstream.script(Reply(text="Rome is warmer.", prompt_tokens=300, cached_tokens=200, completion_tokens=5))
    call = make_call("claude-test-1", api_base=upstream.url + "/v1")
    body = {
        **TOOL_CONVERSATION,
        "messages": [{"role": "system", "content": "Be brief."}, *TOOL_CONVERSATION["messages"]],
    }
    response = send(adapter.chat_request(call, body, False))

    assert response.status_code == 200
    sent = upstream.requests[-1]
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json["system"] == "Be brief."
    result = adapter.chat_response(call, response.json())
    assert result["id"].startswith("chatcmpl-msg_")
    assert result["model"] == "claude-test-1"
    assert result["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Rome is warmer.",
        "refusal": None,
    }
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["usage"] == {
        "prompt_tokens": 300,
        "completion_tokens": 5,
        "total_tokens": 305,
        "prompt_tokens_details": {"cached_tokens": 200},
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 200,
    }


def test_stream_through_fake(upstream) -> None:
    upstream.script(
        Reply(
            text="Let me look that up.",
            tool_calls=[ToolCall("get_weather", {"city": "Paris", "days": 2}, id="toolu_9")],
            prompt_tokens=40,
            completion_tokens=12,
        )
    )
    call = make_call("claude-test-1", api_base=upstream.url)
    wire = adapter.chat_request(call, {"messages": _user("weather?"), "stream": True}, True)
    with httpx.stream("POST", wire.url, content=wire.body, headers=wire.headers, timeout=10) as response:
        assert response.status_code == 200
        raw = b"".join(response.iter_raw())
    translator, chunks = translate(raw, piece=13)

    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert content == "Let me look that up."
    assert calls[0] == {
        "index": 0,
        "id": "toolu_9",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert "".join(tc["function"]["arguments"] for tc in calls) == '{"city":"Paris","days":2}'
    assert {tc["index"] for tc in calls} == {0}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "tool_calls"
    assert translator.usage["prompt_tokens"] == 40
    assert translator.usage["completion_tokens"] == 12
    assert translator.usage["total_tokens"] == 52


def test_in_stream_error_from_fake(upstream) -> None:
    upstream.script(Reply(text="a b c d", error_after=4))
    wire = adapter.chat_request(make_call(api_base=upstream.url), {"messages": _user()}, True)
    raw = httpx.post(wire.url, content=wire.body, headers=wire.headers, timeout=10).content

    with pytest.raises(errors.ServiceUnavailableError):
        translate(raw)


def test_rate_limit_from_fake(upstream) -> None:
    upstream.script(Error(429, message="slow down", headers={"retry-after": "3"}))
    response = send(adapter.chat_request(make_call(api_base=upstream.url), {"messages": _user()}, False))
    error = adapter.map_error(response.status_code, response.content, response.headers)

    assert type(error) is errors.RateLimitError
    assert error.retry_after == 3.0
    assert error.message == "slow down"


def test_overloaded_from_fake(upstream) -> None:
    upstream.script(Error(529, message="Overloaded"))
    response = send(adapter.chat_request(make_call(api_base=upstream.url), {"messages": _user()}, False))
    error = adapter.map_error(response.status_code, response.content, response.headers)

    assert response.headers["request-id"].startswith("req_")
    assert type(error) is errors.ServiceUnavailableError
    assert error.retryable is True
