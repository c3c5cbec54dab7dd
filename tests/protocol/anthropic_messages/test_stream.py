"""The Messages stream encoder: OpenAI chunk sequences (tests/protocol/fixtures/openai_streams) in,
Anthropic SSE out, parsed by the `anthropic` SDK's own stream reader from a loopback server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from polyroute.inbound.anthropic_messages import MESSAGES
from polyroute.protocol.sse import SSEDecoder
from tests.protocol.anthropic_messages.loopback import serving, sse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai_streams"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / f"{name}.json").read_bytes())


def encode(case: dict[str, Any], batch: int) -> bytes:
    encoder = MESSAGES.stream_encoder(case["body"], "req_test")
    chunks = case["chunks"]
    out = b"".join(encoder.chunks(chunks[i : i + batch]) for i in range(0, len(chunks), batch))
    return out + encoder.finish(case["usage"])


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    decoder = SSEDecoder()
    parsed = decoder.feed(raw)
    assert not decoder.pending  # every event ends with a blank line
    return [(event.event or "", event.json()) for event in parsed]


def check_sequence(seq: list[tuple[str, dict[str, Any]]]) -> None:
    """Anthropic's grammar: start, ping, blocks one at a time with indices 0.., delta, stop."""
    names = [name for name, _ in seq]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    open_index = None
    next_index = 0
    for name, data in seq:
        assert data["type"] == name
        if name == "content_block_start":
            assert open_index is None
            assert data["index"] == next_index
            open_index, next_index = data["index"], next_index + 1
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
    assert open_index is None


@pytest.mark.parametrize("name", NAMES)
def test_fixture_through_the_sdk(name: str) -> None:
    case = load(name)
    raw = encode(case, batch=len(case["chunks"]))
    seq = events(raw)
    check_sequence(seq)
    # the same chunks fed one at a time give the same events (ids aside)
    assert [s[0] for s in events(encode(case, batch=1))] == [s[0] for s in seq]

    body, expected = case["body"], case["expected"]
    with serving(sse(raw)) as (client, _):
        with client.messages.stream(
            model=body["model"], max_tokens=body["max_tokens"], messages=body["messages"]
        ) as stream:
            message = stream.get_final_message()
    assert message.model == body["model"]
    assert message.id.startswith("msg_")
    assert len(message.content) == len(expected["content"])
    assert [
        {key: getattr(block, key) for key in want}
        for block, want in zip(message.content, expected["content"], strict=True)
    ] == expected["content"]
    assert message.stop_reason == expected["stop_reason"]
    assert message.stop_sequence == expected["stop_sequence"]
    usage = message.usage
    assert {key: getattr(usage, key) for key in expected["usage"]} == expected["usage"]


def test_text_stream_exact_bytes() -> None:
    encoder = MESSAGES.stream_encoder({"model": "claude-x", "max_tokens": 5, "messages": []}, "req_1")
    chunk = {"id": "chatcmpl-msg_01AbC", "object": "chat.completion.chunk", "choices": []}
    first = encoder.chunks(
        [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]}]
    )
    last = encoder.chunks([{**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}])
    end = encoder.finish({"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4})
    assert first + last + end == (
        b"event: message_start\n"
        b'data: {"type":"message_start","message":{"id":"msg_01AbC","type":"message","role":"assistant",'
        b'"model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,'
        b'"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}\n\n'
        b'event: ping\ndata: {"type":"ping"}\n\n'
        b"event: content_block_start\n"
        b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
        b"event: content_block_delta\n"
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n'
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b"event: message_delta\n"
        b'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
        b'"usage":{"input_tokens":3,"output_tokens":1,"cache_creation_input_tokens":0,'
        b'"cache_read_input_tokens":0}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )


def test_usage_in_first_chunk_goes_into_message_start() -> None:
    encoder = MESSAGES.stream_encoder({"model": "m"}, "r")
    usage = {"prompt_tokens": 50, "completion_tokens": 0, "prompt_tokens_details": {"cached_tokens": 20}}
    out = encoder.chunks([{"id": "x", "choices": [{"index": 0, "delta": {"content": "a"}}], "usage": usage}])
    start = events(out)[0][1]
    assert start["message"]["usage"]["input_tokens"] == 30
    assert start["message"]["usage"]["cache_read_input_tokens"] == 20


def test_empty_stream_still_completes() -> None:
    encoder = MESSAGES.stream_encoder({"model": "m"}, "r")
    seq = events(encoder.finish(None))
    check_sequence(seq)
    assert seq[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 0},
    }
    assert encoder.finish(None) == b""  # finishing twice writes nothing more
    assert encoder.chunks([{"id": "x", "choices": [{"index": 0, "delta": {"content": "late"}}]}]) == b""


def test_redacted_thinking_and_kind_switches_open_new_blocks() -> None:
    encoder = MESSAGES.stream_encoder({"model": "m"}, "r")
    deltas = [
        {"reasoning_content": "a"},
        {"thinking_blocks": [{"type": "redacted_thinking", "data": "EmwKAhgB"}]},
        {"content": "b"},
        {"reasoning_content": "c"},
        {"content": "d"},
    ]
    out = encoder.chunks(
        [{"id": "x", "choices": [{"index": 0, "delta": d}]} for d in deltas]
    ) + encoder.finish(None)
    seq = events(out)
    check_sequence(seq)
    starts = [data["content_block"]["type"] for name, data in seq if name == "content_block_start"]
    assert starts == ["thinking", "redacted_thinking", "text", "thinking", "text"]


def test_interleaved_tool_fragments_reach_their_block() -> None:
    """Documented deviation: a late fragment for an earlier tool call goes to that block's index."""
    encoder = MESSAGES.stream_encoder({"model": "m"}, "r")
    calls = [
        [{"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x":'}}],
        [{"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"y":2}'}}],
        [{"index": 0, "function": {"arguments": "1}"}}],
    ]
    out = encoder.chunks([{"id": "x", "choices": [{"index": 0, "delta": {"tool_calls": c}}]} for c in calls])
    out += encoder.finish(None)
    with serving(sse(out)) as (client, _):
        with client.messages.stream(
            model="m", max_tokens=9, messages=[{"role": "user", "content": "q"}]
        ) as s:
            message = s.get_final_message()
    assert [(b.id, b.input) for b in message.content] == [("a", {"x": 1}), ("b", {"y": 2})]
    assert message.stop_reason == "tool_use"


def test_refusal_and_vllm_reasoning_deltas() -> None:
    encoder = MESSAGES.stream_encoder({"model": "m"}, "r")
    deltas = [{"reasoning": "hmm"}, {"content": None, "refusal": "I can't"}, {"refusal": " help."}]
    chunks = [{"id": "x", "choices": [{"index": 0, "delta": d}]} for d in deltas]
    chunks.append({"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    seq = events(encoder.chunks(chunks) + encoder.finish(None))
    check_sequence(seq)
    texts = [
        d["delta"].get("text") or d["delta"].get("thinking") for n, d in seq if n == "content_block_delta"
    ]
    assert texts == ["hmm", "I can't", " help."]
    assert seq[-2][1]["delta"]["stop_reason"] == "refusal"
