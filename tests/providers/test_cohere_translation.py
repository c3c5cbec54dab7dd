"""Cohere adapter translation, checked against JSON fixtures (tests/providers/fixtures/cohere):
OpenAI chat -> v2 chat body, v2 answers and stream events -> OpenAI, embed and rerank both
ways, and each documented error status -> the gateway's error class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from polyroute import errors
from polyroute.protocol.framing import BoundedSSEDecoder
from polyroute.providers.base import ProviderCall
from polyroute.providers.cohere.adapter import CohereAdapter
from polyroute.secrets import Secret
from tests.fakes.cohere import encode

FIXTURES = Path(__file__).parent / "fixtures" / "cohere"
adapter = CohereAdapter()


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def call(model: str = "command-a-03-2025", **kwargs: Any) -> ProviderCall:
    return ProviderCall("cohere", model, api_key=Secret("co-test-key-0123"), **kwargs)


def test_chat_request_with_tools_images_and_renamed_params():
    case = load("request_tools.json")
    wire = adapter.chat_request(call(), case["openai"], stream=True)
    assert wire.url == "https://api.cohere.com/v2/chat"
    assert wire.headers["authorization"] == "Bearer co-test-key-0123"
    assert wire.headers["accept"] == "text/event-stream"
    assert orjson.loads(wire.body) == case["cohere"]


@pytest.mark.parametrize("base", ["http://h:1", "http://h:1/", "http://h:1/v2", "http://h:1/v1"])
def test_api_base_with_or_without_a_version(base):
    assert adapter.chat_request(
        call(api_base=base), {"messages": [{"role": "user", "content": "x"}]}, False
    ).url == ("http://h:1/v2/chat")


@pytest.mark.parametrize(("choice", "expected"), [("auto", None), ("required", "REQUIRED"), ("none", "NONE")])
def test_tool_choice(choice, expected):
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": choice,
    }
    assert orjson.loads(adapter.chat_request(call(), body, False).body).get("tool_choice") == expected


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content"),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "tool_choice",
        ),
    ],
)
def test_untranslatable_requests_name_the_field(body, param):
    with pytest.raises(errors.InvalidRequestError) as caught:
        adapter.chat_request(call(), body, False)
    assert caught.value.param == param


def test_tool_call_answer():
    case = load("response_tool_call.json")
    out = adapter.chat_response(call(), case["cohere"])
    assert isinstance(out["created"], int)
    assert {**out, "created": "<int>"} == case["openai"]


def test_text_answer_and_finish_reasons():
    data = {
        "id": "x",
        "finish_reason": "MAX_TOKENS",
        "message": {
            "role": "assistant",
            "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}],
        },
        "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 2}},
    }
    out = adapter.chat_response(call(), data)
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Hello"}
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"]["total_tokens"] == 5  # billed units when tokens are absent


def _stream(raw: bytes, piece: int) -> tuple[list[dict[str, Any]], Any]:
    decoder, translator = BoundedSSEDecoder(), adapter.chat_stream(call(), {})
    chunks: list[dict[str, Any]] = []
    for start in range(0, len(raw), piece):
        for event in decoder.feed(raw[start : start + piece]):
            chunks += translator.on_event(event)
    for event in decoder.flush():
        chunks += translator.on_event(event)
    chunks += translator.on_end()
    return chunks, translator


@pytest.mark.parametrize("piece", [1, 7, 1 << 20])
def test_stream_with_text_plan_and_two_tool_calls(piece):
    expected = load("stream_tool_call.expected.json")
    chunks, translator = _stream((FIXTURES / "stream_tool_call.sse").read_bytes(), piece)
    assert [[c["choices"][0]["delta"], c["choices"][0]["finish_reason"]] for c in chunks] == expected[
        "deltas"
    ]
    assert {c["id"] for c in chunks} == {expected["id"]}
    assert translator.usage == expected["usage"]


def test_stream_cut_before_message_end_is_an_upstream_error():
    raw = (FIXTURES / "stream_tool_call.sse").read_bytes()
    cut = raw[: raw.index(b"event: message-end")]
    with pytest.raises(errors.UpstreamError):
        _stream(cut, 1 << 20)


def test_stream_message_end_with_error_raises():
    event = (
        b'event: message-end\ndata: {"type":"message-end","delta":{"finish_reason":"ERROR",'
        b'"error":"internal server error"}}\n\n'
    )
    with pytest.raises(errors.UpstreamError, match="internal server error"):
        _stream(event, 1 << 20)


def test_embeddings_both_ways():
    case = load("embed_rerank.json")["embed"]
    wire = adapter.embeddings_request(call("embed-v4.0"), case["openai"])
    assert wire.url.endswith("/v2/embed") and orjson.loads(wire.body) == case["cohere_request"]
    assert adapter.embeddings_response(call("embed-v4.0"), case["cohere_answer"]) == case["openai_answer"]


def test_embeddings_refuse_token_arrays():
    with pytest.raises(errors.InvalidRequestError) as caught:
        adapter.embeddings_request(call("embed-v4.0"), {"input": [[1, 2, 3]]})
    assert caught.value.param == "input"


def test_rerank_both_ways():
    case = load("embed_rerank.json")["rerank"]
    wire = adapter.rerank_request(call("rerank-v3.5"), case["litellm"])
    assert wire.url.endswith("/v2/rerank") and orjson.loads(wire.body) == case["cohere_request"]
    assert (
        adapter.rerank_response(call("rerank-v3.5"), case["cohere_answer"], case["litellm"])
        == case["litellm_answer"]
    )


def test_rerank_result_naming_no_document_is_an_upstream_error():
    with pytest.raises(errors.UpstreamError):
        adapter.rerank_response(
            call(), {"results": [{"index": 5, "relevance_score": 1}]}, {"documents": ["a"]}
        )


@pytest.mark.parametrize("case", load("errors.json")["cases"], ids=lambda c: f"{c['status']}-{c['error']}")
def test_documented_errors(case):
    body = case["raw"].encode() if "raw" in case else orjson.dumps(case["body"])
    error = adapter.map_error(case["status"], body, case.get("headers", {}))
    assert type(error) is getattr(errors, case["error"])
    if case.get("body"):
        assert error.message == case["body"]["message"]
    assert error.retry_after == case.get("retry_after")


def test_thinking_becomes_reasoning_content():
    data = {
        "id": "r",
        "finish_reason": "COMPLETE",
        "message": {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "Two plus two."}, {"type": "text", "text": "4"}],
        },
    }
    assert adapter.chat_response(call(), data)["choices"][0]["message"] == {
        "role": "assistant",
        "content": "4",
        "reasoning_content": "Two plus two.",
    }
    events = b"".join(
        encode(event)
        for event in (
            {"id": "r", "type": "message-start", "delta": {"message": {"role": "assistant"}}},
            {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "Hm."}}}},
            {"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": "4"}}}},
            {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}},
        )
    )
    chunks, _ = _stream(events, 1 << 20)
    assert [c["choices"][0]["delta"] for c in chunks[1:3]] == [{"reasoning_content": "Hm."}, {"content": "4"}]
