"""Stored answers read back from what a route sent, and served again as JSON or as a stream."""

from __future__ import annotations

import orjson

from polyroute.cache.entry import CachedAnswer, from_sent, stream_body, synthesised_chunks

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def sse(*chunks, done=True) -> bytes:
    out = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
    return out + (b"data: [DONE]\n\n" if done else b"")


def chunk(delta, finish=None):
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def test_json_answer_round_trips() -> None:
    entry = from_sent(orjson.dumps(ANSWER), False, None, 0.5, 10.0)
    assert entry is not None and entry.kind == "json" and entry.answer == ANSWER
    back = CachedAnswer.decode(entry.encode())
    assert back == entry


def test_errors_and_broken_streams_are_not_stored() -> None:
    assert from_sent(b'{"error": {"message": "x"}}', False, None, 0, 0) is None
    assert from_sent(b"not json", False, None, 0, 0) is None
    assert from_sent(sse(chunk({"content": "a"}), done=False), True, None, 0, 0) is None
    assert from_sent(sse(chunk({"content": "a"}), {"error": {"message": "boom"}}), True, None, 0, 0) is None
    assert CachedAnswer.decode(b'{"v": 99}') is None


def test_stream_replays_its_chunks_and_usage_only_when_asked() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    entry = from_sent(
        sse(chunk({"role": "assistant", "content": "hi"}), chunk({}, "stop")), True, usage, 0.1, 0
    )
    assert entry is not None and entry.kind == "stream" and len(entry.chunks) == 2
    without = stream_body(entry, include_usage=False)
    assert without.endswith(b"data: [DONE]\n\n") and b'"usage"' not in without
    with_usage = stream_body(entry, include_usage=True)
    last = orjson.loads(with_usage.split(b"\n\n")[-3][len(b"data: ") :])
    assert last["choices"] == [] and last["usage"] == usage


def test_an_entry_encodes_its_stream_once_per_usage_choice(monkeypatch) -> None:
    """A held entry serves many hits: the SSE bytes are made once (per include_usage) and the
    same bytes served again; an entry decoded again (a replaced one) makes its own."""
    import polyroute.cache.entry as entry_module

    encoded: list[object] = []
    encode = entry_module.encode_data
    monkeypatch.setattr(entry_module, "encode_data", lambda c: encoded.append(c) or encode(c))
    entry = from_sent(
        sse(chunk({"role": "assistant", "content": "hi"}), chunk({}, "stop")), True, None, 0.1, 0
    )
    assert entry is not None
    first = stream_body(entry, include_usage=False)
    assert len(encoded) == 2
    assert stream_body(entry, include_usage=False) is first and len(encoded) == 2
    assert stream_body(entry, include_usage=True) == first  # no usage known: the same events
    again = CachedAnswer.decode(entry.encode())
    assert again is not None and stream_body(again, include_usage=False) == first
    assert len(encoded) == 6
    assert "streamed" not in orjson.loads(entry.encode())  # what is stored stays the same


def test_json_answer_synthesised_as_a_stream() -> None:
    chunks = synthesised_chunks(ANSWER)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "hi there"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    entry = from_sent(orjson.dumps(ANSWER), False, None, 0, 0)
    assert entry.serves(stream=True) and entry.serves(stream=False)
    stream_entry = from_sent(sse(chunk({"content": "a"})), True, None, 0, 0)
    assert stream_entry.serves(stream=True) and not stream_entry.serves(stream=False)


def test_tool_calls_get_their_stream_index() -> None:
    answer = {
        **ANSWER,
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
            }
        ],
    }
    delta = synthesised_chunks(answer)[0]["choices"][0]["delta"]
    assert delta["tool_calls"][0]["index"] == 0 and "content" not in delta


def test_text_completion_synthesis() -> None:
    answer = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [{"text": "abc", "index": 0, "logprobs": None, "finish_reason": "length"}],
    }
    chunks = synthesised_chunks(answer)
    assert chunks[0]["choices"][0]["text"] == "abc" and chunks[-1]["choices"][0]["finish_reason"] == "length"
