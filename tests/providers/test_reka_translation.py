"""Reka adapter translation from fixtures (tests/providers/fixtures/reka): the chat body in the
shapes of Reka's SDK, answers, SSE events whose content is the whole text so far, and FastAPI
error bodies."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from polyroute import errors
from polyroute.protocol.framing import BoundedSSEDecoder
from polyroute.providers.base import ProviderCall
from polyroute.providers.reka.adapter import RekaAdapter
from polyroute.secrets import Secret

FIXTURES = Path(__file__).parent / "fixtures" / "reka"
adapter = RekaAdapter()


def call(model: str = "reka-flash") -> ProviderCall:
    return ProviderCall("reka", model, api_key=Secret("reka-key"))


def test_request_with_images_tools_and_search():
    case = orjson.loads((FIXTURES / "request_tools.json").read_bytes())
    wire = adapter.chat_request(call(case["model"]), case["openai"], stream=False)
    assert wire.url == "https://api.reka.ai/v1/chat" and wire.headers["x-api-key"] == "reka-key"
    assert orjson.loads(wire.body) == case["reka"]


def test_answer_with_tool_calls():
    data = {
        "id": "a1",
        "model": "reka-core",
        "responses": [
            {
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"id": "t9", "name": "lookup", "parameters": {"q": "x"}}],
                },
            }
        ],
        "usage": {"input_tokens": 30, "output_tokens": 5},
    }
    out = adapter.chat_response(call(), data)
    (choice,) = out["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {"id": "t9", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}'}}
    ]
    assert out["usage"] == {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35}


@pytest.mark.parametrize("piece", [1, 13, 1 << 20])
def test_stream_of_whole_texts_becomes_deltas(piece):
    raw = (FIXTURES / "stream.sse").read_bytes()
    decoder, translator = BoundedSSEDecoder(), adapter.chat_stream(call(), {})
    chunks = []
    for start in range(0, len(raw), piece):
        for event in decoder.feed(raw[start : start + piece]):
            chunks += translator.on_event(event)
    chunks += translator.on_end()
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks]
    assert deltas == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "The"}, None),
        ({"content": " cat"}, None),
        ({"content": " sat."}, None),
        ({}, "length"),  # Reka's "context": the context window ran out
    ]
    assert translator.usage == {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


def test_stream_without_a_finish_reason_was_cut():
    raw = (FIXTURES / "stream.sse").read_bytes().split(b"\n\n")[0] + b"\n\n"
    translator = adapter.chat_stream(call(), {})
    for event in BoundedSSEDecoder().feed(raw):
        translator.on_event(event)
    with pytest.raises(errors.UpstreamError):
        translator.on_end()


@pytest.mark.parametrize(
    ("status", "body", "cls", "param"),
    [
        (401, {"detail": "Invalid API key"}, errors.AuthenticationError, None),
        (
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "top_k"],
                        "msg": "Input should be a valid integer",
                        "type": "int_parsing",
                    }
                ]
            },
            errors.UnprocessableEntityError,
            "top_k",
        ),
        (429, {"detail": "Rate limit exceeded"}, errors.RateLimitError, None),
        (500, {"detail": "Internal server error"}, errors.UpstreamError, None),
    ],
)
def test_errors(status, body, cls, param):
    error = adapter.map_error(status, orjson.dumps(body), {})
    assert type(error) is cls and error.param == param
