"""from_chat: OpenAI chat.completion -> Anthropic message, checked field by field and through the
`anthropic` SDK's own response model (served from loopback)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from polyroute.inbound.anthropic_messages import MESSAGES, anthropic_usage, from_chat
from tests.protocol.anthropic_messages.loopback import Canned, serving

BODY = {"model": "claude-via-gateway", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


def answer(
    message: dict[str, Any], finish: str | None = "stop", usage: Any = None, **choice: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1733350000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **choice}
        ],
    }
    if usage is not None:
        out["usage"] = usage
    return out


def test_text_answer() -> None:
    usage = {
        "prompt_tokens": 30,
        "completion_tokens": 5,
        "total_tokens": 35,
        "prompt_tokens_details": {"cached_tokens": 10},
    }
    message = from_chat(answer({"content": "Hello!", "refusal": None}, usage=usage), BODY)
    assert message["id"].startswith("msg_")
    assert {k: v for k, v in message.items() if k != "id"} == {
        "type": "message",
        "role": "assistant",
        "model": "claude-via-gateway",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 10,
        },
    }


def test_thinking_text_and_tools_in_anthropic_order() -> None:
    msg = {
        "content": "Let me check.",
        "reasoning_content": "Need the weather.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
            },
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{not json"}},
            {"id": "call_3", "type": "function", "function": {"name": "list", "arguments": "[1, 2]"}},
            {"id": "call_4", "type": "function", "function": {"name": "noargs", "arguments": ""}},
        ],
    }
    message = from_chat(answer(msg, "tool_calls"), BODY)
    assert message["content"] == [
        {"type": "thinking", "thinking": "Need the weather.", "signature": ""},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "weather", "input": {}},
        {"type": "tool_use", "id": "call_3", "name": "list", "input": {}},
        {"type": "tool_use", "id": "call_4", "name": "noargs", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"


def test_thinking_blocks_carry_signatures() -> None:
    msg = {
        "content": "Hi",
        "reasoning_content": "hmm",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "hmm", "signature": "EqQBCgIYAhIM"},
            {"type": "redacted_thinking", "data": "EmwKAhgB"},
        ],
    }
    assert from_chat(answer(msg), BODY)["content"][:2] == [
        {"type": "thinking", "thinking": "hmm", "signature": "EqQBCgIYAhIM"},
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
    ]


@pytest.mark.parametrize(
    ("finish", "tools", "expected"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("stop", True, "tool_use"),  # a tool was called: tool_use whatever the upstream says
        ("content_filter", False, "refusal"),
        (None, False, "end_turn"),
        ("length", True, "max_tokens"),  # cut off inside the tool call
    ],
)
def test_stop_reasons(finish: str | None, tools: bool, expected: str) -> None:
    msg: dict[str, Any] = {"content": "x"}
    if tools:
        msg["tool_calls"] = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert from_chat(answer(msg, finish), BODY)["stop_reason"] == expected


def test_stop_sequence_when_the_upstream_names_one_of_the_clients() -> None:
    body = {**BODY, "stop_sequences": ["END"]}
    hit = from_chat(answer({"content": "1 2 3"}, "stop", stop_reason="END"), body)
    assert (hit["stop_reason"], hit["stop_sequence"]) == ("stop_sequence", "END")
    # a stop string the client did not give (or a token id) is not a stop sequence
    other = from_chat(answer({"content": "1 2 3"}, "stop", stop_reason=128009), body)
    assert (other["stop_reason"], other["stop_sequence"]) == ("end_turn", None)


def test_refusal_and_empty_answers() -> None:
    refused = from_chat(answer({"content": None, "refusal": "I can't help with that."}), BODY)
    assert refused["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert refused["stop_reason"] == "refusal"
    empty = from_chat({"choices": []}, BODY)
    assert empty["content"] == []
    assert empty["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_anthropic_message_id_survives_a_round_trip() -> None:
    assert from_chat({**answer({"content": "x"}), "id": "chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL"}, BODY)[
        "id"
    ] == ("msg_01XFDUDYJgAACzvnptvVoYEL")


def test_usage_from_the_anthropic_adapter_shape() -> None:
    # providers/anthropic/response.py openai_usage: prompt_tokens include cache reads and writes
    usage = {
        "prompt_tokens": 1500,
        "completion_tokens": 20,
        "total_tokens": 1520,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "cache_creation_input_tokens": 400,
        "cache_read_input_tokens": 1000,
    }
    assert anthropic_usage(usage) == {
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_creation_input_tokens": 400,
        "cache_read_input_tokens": 1000,
    }


def test_the_sdk_reads_the_message() -> None:
    msg = {
        "content": "Here.",
        "reasoning_content": "think",
        "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"a":[1]}'}}
        ],
    }
    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    wire = orjson.dumps(MESSAGES.from_chat(answer(msg, "tool_calls", usage), BODY))
    with serving(Canned(200, wire)) as (client, _):
        message = client.messages.create(model=BODY["model"], max_tokens=100, messages=BODY["messages"])
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[2].input == {"a": [1]}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 3)
