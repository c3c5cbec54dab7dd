"""AI2 (InferD) translation from fixtures (tests/providers/fixtures/ai2): the request body
FastChat sends, JSON lines of text pieces to OpenAI chunks (a last line without its newline
included), a joined plain answer, and lines that are not results."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from polyroute import errors
from polyroute.protocol.framing import JSONLinesDecoder
from polyroute.providers.ai2.adapter import AI2Adapter
from polyroute.providers.base import ProviderCall
from polyroute.secrets import Secret

FIXTURES = Path(__file__).parent / "fixtures" / "ai2"
adapter = AI2Adapter()


def call(**extras) -> ProviderCall:
    return ProviderCall("ai2", "tulu2-70b", api_key=Secret("ai2-key"), extras=extras)


def test_request_as_fastchat_sends_it():
    case = orjson.loads((FIXTURES / "request.json").read_bytes())
    wire = adapter.chat_request(call(model_id=case["model_id"]), case["openai"], stream=True)
    assert wire.url == "https://inferd.allen.ai/api/v1/infer"
    assert wire.headers["authorization"] == "Bearer ai2-key"
    assert orjson.loads(wire.body) == case["inferd"]


def test_model_id_defaults_to_the_model_name():
    wire = adapter.chat_request(call(), {"messages": [{"role": "user", "content": "x"}]}, False)
    assert orjson.loads(wire.body)["model_id"] == "tulu2-70b"


@pytest.mark.parametrize("piece", [1, 9, 1 << 20])
def test_stream_lines_become_chunks(piece):
    raw = (FIXTURES / "stream.jsonl").read_bytes()
    decoder, translator = JSONLinesDecoder(), adapter.chat_stream(call(), {})
    chunks = []
    for start in range(0, len(raw), piece):
        for event in decoder.feed(raw[start : start + piece]):
            chunks += translator.on_event(event)
    for event in decoder.flush():
        chunks += translator.on_event(event)
    chunks += translator.on_end()
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks]
    assert deltas == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Scar"}, None),
        ({"content": "let"}, None),
        ({"content": "."}, None),
        ({}, "stop"),
    ]


def test_plain_answer_joins_all_lines():
    lines = [orjson.loads(line) for line in (FIXTURES / "stream.jsonl").read_bytes().splitlines()]
    out = adapter.chat_response(call(), {"lines": lines})
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Scarlet."}


@pytest.mark.parametrize(
    "line",
    [b'{"error": {"code": 500, "message": "worker failed"}}', b'{"result": {}}', b"[1, 2]"],
)
def test_a_line_that_is_not_a_result_fails(line):
    translator = adapter.chat_stream(call(), {})
    with pytest.raises(errors.UpstreamError):
        for event in JSONLinesDecoder().feed(line + b"\n"):
            translator.on_event(event)
