"""Properties: to_chat refuses anything malformed with an InvalidRequestError naming a field and
never fails otherwise; from_chat and the stream encoder survive any upstream dict."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyroute.errors import InvalidRequestError
from polyroute.inbound.anthropic_messages import count_tokens_local, from_chat, to_chat
from polyroute.inbound.anthropic_messages.stream import MessagesStreamEncoder
from polyroute.protocol.sse import SSEDecoder

KEYS = st.sampled_from(
    [
        "model",
        "max_tokens",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "stop_sequences",
        "metadata",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "role",
        "content",
        "type",
        "text",
        "source",
        "data",
        "media_type",
        "url",
        "id",
        "name",
        "input",
        "tool_use_id",
        "is_error",
        "signature",
        "input_schema",
        "budget_tokens",
        "user_id",
        "cache_control",
        "disable_parallel_tool_use",
        "x",
        "choices",
        "delta",
        "message",
        "tool_calls",
        "function",
        "arguments",
        "index",
        "finish_reason",
        "usage",
        "prompt_tokens",
        "completion_tokens",
        "reasoning_content",
        "thinking_blocks",
        "refusal",
    ]
)
WORDS = st.sampled_from(
    [
        "user",
        "assistant",
        "text",
        "image",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "document",
        "base64",
        "url",
        "enabled",
        "auto",
        "any",
        "tool",
        "none",
        "stop",
        "length",
        "tool_calls",
        "custom",
        "server_tool_use",
        "",
    ]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8) | WORDS
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


def valid_body() -> st.SearchStrategy[dict[str, Any]]:
    block = st.fixed_dictionaries(
        {"type": WORDS}, optional={k: JSON for k in ("text", "id", "name", "input", "source", "content")}
    )
    message = st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant"]),
            "content": st.text(min_size=1, max_size=6) | st.lists(block, max_size=4),
        }
    )
    return st.fixed_dictionaries(
        {
            "model": st.just("m"),
            "max_tokens": st.integers(1, 10**6),
            "messages": st.lists(message, min_size=1, max_size=4),
        },
        optional={"system": JSON, "tools": JSON, "tool_choice": JSON, "thinking": JSON, "metadata": JSON},
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, st.dictionaries(KEYS, JSON, max_size=8), valid_body()))
def test_to_chat_only_raises_invalid_request(body: Any) -> None:
    for count in (False, True):
        try:
            chat = to_chat(body, count_tokens=count)
        except InvalidRequestError as error:
            assert error.param
            assert error.message.startswith(error.param + ": ")
            continue
        orjson.dumps(chat)  # whatever passes is JSON the pipeline can send
        if count:
            assert count_tokens_local(body)["input_tokens"] >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, JSON, max_size=6), st.dictionaries(KEYS, JSON, max_size=4))
def test_from_chat_survives_any_answer(answer: dict[str, Any], body: dict[str, Any]) -> None:
    message = from_chat(answer, body)
    assert message["type"] == "message"
    assert all(
        block["type"] in ("thinking", "redacted_thinking", "text", "tool_use") for block in message["content"]
    )
    assert isinstance(message["usage"]["input_tokens"], int)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(KEYS, JSON, max_size=6), max_size=6), JSON)
def test_stream_encoder_survives_any_chunks(chunks: list[dict[str, Any]], usage: Any) -> None:
    encoder = MessagesStreamEncoder({"model": "m"}, "req")
    out = encoder.chunks(chunks) + encoder.finish(usage if isinstance(usage, dict) else None)
    events = SSEDecoder().feed(out)
    kinds = [event.event for event in events]
    assert kinds[:2] == ["message_start", "ping"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop")
    for event in events:
        assert event.json()["type"] == event.event


PIECE = st.text(min_size=1, max_size=5)
DELTA = st.one_of(
    st.tuples(st.just("reasoning_content"), PIECE),
    st.tuples(st.just("content"), PIECE),
    st.tuples(st.just("tool"), st.tuples(st.booleans(), PIECE)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(DELTA, max_size=25), st.lists(st.integers(1, 4), min_size=1, max_size=5))
def test_stream_encoder_keeps_every_piece_in_order(deltas: list[Any], batches: list[int]) -> None:
    """Whatever the order of reasoning, text and (sequential) tool-call fragments, and however
    the chunks are batched, the events follow Anthropic's grammar and carry every piece."""
    chunks: list[dict[str, Any]] = []
    started: set[int] = set()
    want_text = want_thinking = ""
    want_args: dict[int, str] = {}
    last_kind = None
    for kind, value in deltas:
        if kind == "tool":
            new_call, fragment = value
            # a fragment continues the call streaming right before it, or starts the next call
            index = len(started) if new_call or last_kind != "tool" else len(started) - 1
            call: dict[str, Any] = {"index": index, "function": {"arguments": fragment}}
            if index not in started:
                started.add(index)
                call.update(id=f"call_{index}", type="function")
                call["function"]["name"] = f"tool_{index}"
            want_args[index] = want_args.get(index, "") + fragment
            delta: dict[str, Any] = {"tool_calls": [call]}
        else:
            delta = {kind: value}
            if kind == "content":
                want_text += value
            else:
                want_thinking += value
        chunks.append({"id": "c", "choices": [{"index": 0, "delta": delta}]})
        last_kind = kind
    encoder = MessagesStreamEncoder({"model": "m"}, "r")
    out = bytearray()
    position = 0
    for size in batches * (len(chunks) + 1):
        if position >= len(chunks):
            break
        out += encoder.chunks(chunks[position : position + size])
        position += size
    out += encoder.finish({"prompt_tokens": 3, "completion_tokens": 2})

    events = [(e.event, e.json()) for e in SSEDecoder().feed(bytes(out))]
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta", "message_stop"]
    text = thinking = ""
    args: dict[int, str] = {}
    kinds: dict[int, str] = {}
    open_index = None
    for name, data in events:
        if name == "content_block_start":
            assert open_index is None
            open_index = data["index"]
            kinds[open_index] = data["content_block"]["type"]
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        elif name == "content_block_delta":
            assert data["index"] == open_index
            delta = data["delta"]
            if delta["type"] == "text_delta":
                text += delta["text"]
            elif delta["type"] == "thinking_delta":
                thinking += delta["thinking"]
            else:
                args[data["index"]] = args.get(data["index"], "") + delta["partial_json"]
    assert (text, thinking) == (want_text, want_thinking)
    assert list(args.values()) == [want_args[i] for i in sorted(want_args)]
    assert [k for k in kinds.values() if k == "tool_use"] == ["tool_use"] * len(want_args)
    stop = events[-2][1]["delta"]["stop_reason"]
    assert stop == ("tool_use" if want_args else "end_turn")
