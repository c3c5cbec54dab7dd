"""Gemini adapter translation, checked against JSON fixtures (tests/providers/fixtures/gemini).

Fixture values the adapter cannot know in advance are placeholders checked for shape here:
"<int>" (created), "<call_id>" (synthesized tool-call ids), "<chatcmpl-random>" (no responseId).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from polyroute import errors
from polyroute.protocol.sse import SSEDecoder, SSEEvent
from polyroute.providers.base import ProviderCall
from polyroute.providers.gemini.adapter import GeminiAdapter
from polyroute.providers.gemini.errors import parse_duration
from polyroute.providers.gemini.request import clean_schema
from polyroute.secrets import Secret

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"
CALL_ID = re.compile(r"^call_[0-9a-f]{24}$")
RANDOM_COMPLETION_ID = re.compile(r"^chatcmpl-[0-9a-f]{24}$")

adapter = GeminiAdapter()


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def call(model: str = "gemini-2.0-flash", **kwargs: Any) -> ProviderCall:
    return ProviderCall("gemini", model, api_key=Secret("AIzaSyTEST-key-0123456789"), **kwargs)


def normalize(value: Any, seen_created: set[int] | None = None) -> Any:
    """Replace the unpredictable values with the fixtures' placeholders, checking their shape."""
    if isinstance(value, list):
        return [normalize(v, seen_created) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "created":
            assert isinstance(item, int) and item > 1_600_000_000
            if seen_created is not None:
                seen_created.add(item)
            out[key] = "<int>"
        elif key == "id" and isinstance(item, str) and item.startswith("call_"):
            assert CALL_ID.match(item), item
            out[key] = "<call_id>"
        elif key == "id" and isinstance(item, str) and RANDOM_COMPLETION_ID.match(item):
            out[key] = "<chatcmpl-random>"
        else:
            out[key] = normalize(item, seen_created)
    return out


# ---- requests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("request_*.json")))
def test_request_fixture(name: str) -> None:
    case = load(name)
    wire = adapter.chat_request(call(), case["openai"], stream=False)
    assert orjson.loads(wire.body) == case["gemini"]


def test_request_url_headers_and_stream_url() -> None:
    body = {"model": "alias", "messages": [{"role": "user", "content": "hi"}]}
    wire = adapter.chat_request(call(extra_headers={"x-trace": "t1"}), body, stream=False)
    assert wire.method == "POST"
    assert (
        wire.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    )
    assert wire.headers == {
        "content-type": "application/json",
        "x-goog-api-key": "AIzaSyTEST-key-0123456789",
        "x-trace": "t1",
    }
    stream = adapter.chat_request(call(), body, stream=True)
    assert stream.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    )
    assert orjson.loads(stream.body) == orjson.loads(wire.body)
    assert "AIza" not in stream.url and "key=" not in stream.url


@pytest.mark.parametrize(
    ("api_base", "api_version", "model", "url"),
    [
        (
            "http://127.0.0.1:9000/",
            None,
            "gemini-pro",
            "http://127.0.0.1:9000/v1beta/models/gemini-pro:generateContent",
        ),
        ("https://proxy.example/v1beta", None, "m", "https://proxy.example/v1beta/models/m:generateContent"),
        ("https://proxy.example/v1beta", "v1", "m", "https://proxy.example/v1/models/m:generateContent"),
        (
            None,
            "v1alpha",
            "models/gemini-2.5-pro",
            "https://generativelanguage.googleapis.com/v1alpha/models/gemini-2.5-pro:generateContent",
        ),
    ],
)
def test_request_url_variants(api_base: str | None, api_version: str | None, model: str, url: str) -> None:
    wire = adapter.chat_request(
        call(model, api_base=api_base, api_version=api_version),
        {"messages": [{"role": "user", "content": "hi"}]},
        stream=False,
    )
    assert wire.url == url


def test_request_without_key_sends_no_auth_header() -> None:
    wire = adapter.chat_request(
        ProviderCall("gemini", "m"), {"messages": [{"role": "user", "content": "hi"}]}, stream=False
    )
    assert "x-goog-api-key" not in wire.headers


def test_request_defaults_yield_to_the_request() -> None:
    wire = adapter.chat_request(
        call(defaults={"temperature": 0.1, "max_tokens": 50}),
        {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.9},
        stream=False,
    )
    assert orjson.loads(wire.body)["generationConfig"] == {"temperature": 0.9, "maxOutputTokens": 50}


def test_legacy_function_role_uses_its_name() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": '{"a": 1}'}},
            {"role": "function", "name": "f", "content": "[1, 2]"},
        ]
    }
    contents = orjson.loads(adapter.chat_request(call(), body, stream=False).body)["contents"]
    assert contents[1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
        # A JSON value that is not an object still goes in as text.
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "f", "response": {"content": {"result": "[1, 2]"}}}}],
        },
    ]


@pytest.mark.parametrize(
    ("messages", "extra", "param"),
    [
        (
            [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{not json"}},
                    ],
                },
            ],
            {},
            "messages[1].tool_calls[1].function.arguments",
        ),
        (
            [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "[1]"}},
                    ],
                },
            ],
            {},
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    ],
                },
                {"role": "tool", "tool_call_id": "c9", "content": "r"},
            ],
            {},
            "messages[2].tool_call_id",
        ),
        ([{"role": "system", "content": "only a system prompt"}], {}, "messages"),
        ([], {}, "messages"),
        ([{"role": "critic", "content": "x"}], {}, "messages[0].role"),
        (
            [{"role": "user", "content": [{"type": "video_url", "video_url": "x"}]}],
            {},
            "messages[0].content[0].type",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://h/x.png"}}]}],
            {},
            "messages[0].content[0].image_url.url",
        ),
        ([{"role": "user", "content": "x"}], {"reasoning_effort": "extreme"}, "reasoning_effort"),
        ([{"role": "user", "content": "x"}], {"tool_choice": "sometimes"}, "tool_choice"),
        ([{"role": "user", "content": "x"}], {"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ([{"role": "user", "content": "x"}], {"response_format": {"type": "xml"}}, "response_format"),
    ],
)
def test_request_errors_name_the_param(messages: list, extra: dict, param: str) -> None:
    with pytest.raises(errors.InvalidRequestError) as info:
        adapter.chat_request(call(), {"messages": messages, **extra}, stream=False)
    assert info.value.param == param
    assert info.value.status == 400


def test_clean_schema_keeps_property_names_and_does_not_mutate() -> None:
    schema = {
        "type": "object",
        "$schema": "x",
        "properties": {"additionalProperties": {"type": "string", "strict": True}},
        "anyOf": [{"type": "object", "additionalProperties": True}],
    }
    before = orjson.dumps(schema)
    assert clean_schema(schema) == {
        "type": "object",
        "properties": {"additionalProperties": {"type": "string"}},
        "anyOf": [{"type": "object"}],
    }
    assert orjson.dumps(schema) == before


# ---- responses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("response_*.json")))
def test_response_fixture(name: str) -> None:
    case = load(name)
    result = adapter.chat_response(call(case["model"]), case["gemini"])
    assert normalize(result) == case["openai"]


def test_response_tool_call_ids_are_unique() -> None:
    case = load("response_tool_calls.json")
    calls = adapter.chat_response(call(), case["gemini"])["choices"][0]["message"]["tool_calls"]
    assert len({c["id"] for c in calls}) == 2


def test_response_with_error_object_raises_mapped_error() -> None:
    body = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    with pytest.raises(errors.ServiceUnavailableError) as info:
        adapter.chat_response(call(), body)
    assert info.value.provider == "gemini"


# ---- streams ---------------------------------------------------------------------------------------


def run_stream(raw: bytes, piece: int) -> tuple[list[dict], Any]:
    """Feed a recorded stream through the SSE decoder in `piece`-byte reads, as the network would."""
    translator = adapter.chat_stream(call("gemini-2.0-flash"), {})
    decoder = SSEDecoder()
    chunks: list[dict] = []
    for start in range(0, len(raw), piece):
        for event in decoder.feed(raw[start : start + piece]):
            chunks.extend(translator.on_event(event))
    for event in decoder.flush():
        chunks.extend(translator.on_event(event))
    chunks.extend(translator.on_end())
    return chunks, translator


@pytest.mark.parametrize("name", ["stream_tool_call", "stream_max_tokens"])
@pytest.mark.parametrize("piece", [7, 4096])
def test_stream_fixture(name: str, piece: int) -> None:
    raw = (FIXTURES / f"{name}.sse").read_bytes()
    expected = load(f"{name}.expected.json")
    chunks, translator = run_stream(raw, piece)
    created: set[int] = set()
    assert normalize(chunks, created) == expected["chunks"]
    assert len(created) == 1  # every chunk of one stream carries the same `created`
    assert translator.usage == expected["usage"]


def test_stream_fixture_is_crlf_framed() -> None:
    # Guards the fixture itself: a checkout that rewrote line ends would silently weaken the test.
    assert b"\r\n\r\n" in (FIXTURES / "stream_tool_call.sse").read_bytes()


def frame(payload: dict) -> SSEEvent:
    return SSEEvent(None, orjson.dumps(payload))


def test_stream_error_frame_raises_mapped_error() -> None:
    translator = adapter.chat_stream(call(), {})
    first = translator.on_event(
        frame({"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}, "index": 0}]})
    )
    assert [c["choices"][0]["delta"] for c in first] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
    ]
    with pytest.raises(errors.ServiceUnavailableError) as info:
        translator.on_event(
            frame({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
        )
    assert info.value.message == "The model is overloaded."
    assert info.value.provider == "gemini"


def test_stream_rate_limit_frame_carries_retry_delay() -> None:
    translator = adapter.chat_stream(call(), {})
    error = {
        "code": 429,
        "message": "quota",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}],
    }
    with pytest.raises(errors.RateLimitError) as info:
        translator.on_event(frame({"error": error}))
    assert info.value.retry_after == 3.0


def test_stream_without_finish_reason_is_truncated() -> None:
    translator = adapter.chat_stream(call(), {})
    translator.on_event(
        frame({"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}, "index": 0}]})
    )
    with pytest.raises(errors.UpstreamError) as info:
        translator.on_end()
    assert info.value.message == "gemini stream ended without a finish reason"


def test_stream_of_nothing_is_truncated() -> None:
    with pytest.raises(errors.UpstreamError):
        adapter.chat_stream(call(), {}).on_end()


def test_stream_prompt_blocked() -> None:
    translator = adapter.chat_stream(call(), {})
    chunks = translator.on_event(
        frame(
            {
                "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                "usageMetadata": {"promptTokenCount": 6, "totalTokenCount": 6},
                "responseId": "r1",
            }
        )
    )
    assert [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks] == [
        ({"role": "assistant", "content": ""}, None),
        ({}, "content_filter"),
    ]
    assert chunks[0]["id"] == "chatcmpl-r1"
    assert translator.on_end() == []
    assert translator.usage["prompt_tokens"] == 6 and translator.usage["completion_tokens"] == 0


def test_stream_safety_block_after_text() -> None:
    translator = adapter.chat_stream(call(), {})
    translator.on_event(
        frame({"candidates": [{"content": {"parts": [{"text": "Well"}], "role": "model"}, "index": 0}]})
    )
    last = translator.on_event(frame({"candidates": [{"finishReason": "SAFETY", "index": 0}]}))
    assert [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in last] == [
        ({}, "content_filter")
    ]
    assert translator.on_end() == []


def test_stream_multiple_candidates_and_tool_call_indexes() -> None:
    translator = adapter.chat_stream(call(), {})
    chunks = translator.on_event(
        frame(
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [
                                {"functionCall": {"name": "a", "args": {}}},
                                {"functionCall": {"name": "b", "args": {"x": 1}}},
                            ],
                            "role": "model",
                        },
                        "index": 0,
                        "finishReason": "STOP",
                    },
                    {
                        "content": {"parts": [{"text": "plain"}], "role": "model"},
                        "index": 1,
                        "finishReason": "STOP",
                    },
                ]
            }
        )
    )
    summary = [
        (c["choices"][0]["index"], c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks
    ]
    tool_deltas = [d["tool_calls"][0] for _, d, _ in summary if "tool_calls" in d]
    assert [(t["index"], t["function"]["name"], t["function"]["arguments"]) for t in tool_deltas] == [
        (0, "a", "{}"),
        (1, "b", '{"x":1}'),
    ]
    assert all(CALL_ID.match(t["id"]) and t["type"] == "function" for t in tool_deltas)
    assert [(i, f) for i, _, f in summary if f] == [(0, "tool_calls"), (1, "stop")]
    assert summary[0] == (0, {"role": "assistant", "content": ""}, None)
    assert (1, {"role": "assistant", "content": ""}, None) in summary


def test_stream_non_json_frame_is_an_upstream_error() -> None:
    with pytest.raises(errors.UpstreamError):
        adapter.chat_stream(call(), {}).on_event(SSEEvent(None, b'{"candidates": ['))


# ---- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", load("errors.json"), ids=lambda c: c["name"])
def test_error_fixture(case: dict) -> None:
    body = case["body"]
    raw = body.encode() if isinstance(body, str) else orjson.dumps(body)
    error = adapter.map_error(case["status"], raw, case["headers"])
    expect = case["expect"]
    assert type(error).__name__ == expect["class"]
    assert error.status == expect["status"]
    assert error.code == expect["code"]
    assert error.retry_after == expect["retry_after"]
    assert error.message == expect["message"]
    assert error.provider == "gemini"


def test_rate_limit_error_renders_retry_after_headers() -> None:
    case = next(c for c in load("errors.json") if c["name"] == "rate_limited_fractional")
    error = adapter.map_error(429, orjson.dumps(case["body"]), {})
    assert error.response_headers() == {"retry-after": "2", "retry-after-ms": "1500"}


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("12s", 12.0),
        ("1.5s", 1.5),
        ("0.250s", 0.25),
        ({"seconds": 2, "nanos": 500000000}, 2.5),
        ("12", None),
        (None, None),
    ],
)
def test_parse_duration(value: Any, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


# ---- embeddings ------------------------------------------------------------------------------------


def test_embeddings_fixture() -> None:
    case = load("embeddings.json")
    wire = adapter.embeddings_request(call(case["model"]), case["openai_request"])
    assert (
        wire.url
        == "https://generativelanguage.googleapis.com/v1beta/models/text-embedding-004:batchEmbedContents"
    )
    assert wire.headers["x-goog-api-key"] == "AIzaSyTEST-key-0123456789"
    assert orjson.loads(wire.body) == case["gemini_request"]
    result = adapter.embeddings_response(call(case["model"]), case["gemini_response"], case["openai_request"])
    assert result == case["openai_response"]


def test_embeddings_single_string_and_usage_without_request_body() -> None:
    wire = adapter.embeddings_request(call("models/gemini-embedding-001"), {"input": "abc"})
    assert wire.url.endswith("/v1beta/models/gemini-embedding-001:batchEmbedContents")
    assert orjson.loads(wire.body) == {
        "requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "abc"}]}}]
    }
    result = adapter.embeddings_response(call(), {"embeddings": [{"values": [1.0]}]})
    assert result["usage"] == {"prompt_tokens": 0, "total_tokens": 0}
    assert adapter.embeddings_response(call(), {"embeddings": [{"values": [1.0]}]}, {"input": "abc"})[
        "usage"
    ] == {
        "prompt_tokens": 1,
        "total_tokens": 1,
    }


@pytest.mark.parametrize("value", [[1, 2, 3], [[1, 2], [3]], [], None, ["ok", 5]])
def test_embeddings_refuse_token_arrays(value: Any) -> None:
    with pytest.raises(errors.InvalidRequestError) as info:
        adapter.embeddings_request(call(), {"input": value})
    assert info.value.param == "input"


def test_embeddings_answer_without_embeddings_is_an_upstream_error() -> None:
    with pytest.raises(errors.UpstreamError):
        adapter.embeddings_response(call(), {"unexpected": True})


def test_adapter_declarations() -> None:
    assert adapter.name == "gemini"
    assert adapter.env_key == "GEMINI_API_KEY"
    assert adapter.default_api_base == "https://generativelanguage.googleapis.com"
    assert adapter.supports == frozenset({"chat", "embeddings"})
    assert adapter.passthrough_stream is False
    assert "logit_bias" not in adapter.supported_chat_params
    assert {"tools", "reasoning_effort", "response_format", "n"} <= adapter.supported_chat_params
