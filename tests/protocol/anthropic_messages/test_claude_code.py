"""Claude Code's request shapes (tests/protocol/fixtures/claude_code, reconstructed): decoded to
OpenAI chat, and back to Anthropic through the outbound Anthropic adapter with nothing that
Anthropic would need lost (system blocks and cache_control, tools, thinking and signatures,
tool results, metadata, the exact thinking budget)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from polyroute.inbound.anthropic_messages import count_tokens_local, native_count_request, to_chat
from polyroute.inbound.anthropic_messages.content import ERROR_PREFIX
from polyroute.providers.anthropic.request import build_body
from polyroute.providers.base import ProviderCall
from polyroute.secrets import Secret

FIXTURES = Path(__file__).parent.parent / "fixtures" / "claude_code"
MESSAGE_BODIES = ["first_turn", "tool_loop_with_thinking", "quota_check"]
CALL = ProviderCall("anthropic", "claude-sonnet-4-5-20250929", api_key=Secret("sk-ant-cc-test-0123456789"))


def load(name: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / f"{name}.json").read_bytes())


def merged_turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic combines consecutive same-role turns; tool_result blocks lead a user turn;
    a string content is one text block; is_error results carry the gateway's prefix."""
    out: list[dict[str, Any]] = []
    for message in messages:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        if out and out[-1]["role"] == message["role"]:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message["role"], "content": blocks})
    for turn in out:
        turn["content"] = [b for b in turn["content"] if b["type"] == "tool_result"] + [
            b for b in turn["content"] if b["type"] != "tool_result"
        ]
        for block in turn["content"]:
            if block["type"] == "tool_result" and block.get("is_error"):
                block["content"] = ERROR_PREFIX + block["content"]
    return out


def as_blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A string content is one text block to Anthropic."""
    return [
        {**m, "content": [{"type": "text", "text": m["content"]}]} if isinstance(m["content"], str) else m
        for m in messages
    ]


@pytest.mark.parametrize("name", MESSAGE_BODIES)
def test_decodes_and_round_trips_through_the_anthropic_adapter(name: str) -> None:
    original = load(name)
    chat = to_chat(original)
    assert chat["model"] == original["model"]
    assert chat["user"] == original["metadata"]["user_id"]

    sent = build_body(CALL, chat, stream=bool(original.get("stream")))

    assert sent["max_tokens"] == original["max_tokens"]
    assert sent["metadata"] == original["metadata"]
    assert sent.get("system") == original.get("system")  # billing block, cache_control breakpoints
    assert sent.get("tools") == original.get("tools")  # names, schemas, the last tool's breakpoint
    assert sent.get("thinking") == original.get("thinking")  # the exact budget
    assert sent.get("temperature") == original.get("temperature")
    assert as_blocks(sent["messages"]) == merged_turns(original["messages"])


def test_first_turn_mapping() -> None:
    chat = to_chat(load("first_turn"))
    assert len(chat["tools"]) == 16
    assert all(
        tool["type"] == "function" and tool["function"]["parameters"]["type"] == "object"
        for tool in chat["tools"]
    )
    assert chat["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    system = chat["messages"][0]
    assert system["role"] == "system"
    assert [part.get("cache_control") for part in system["content"]] == [None, {"type": "ephemeral"}] + [
        {"type": "ephemeral"}
    ]
    assert chat["messages"][1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert chat["stream_options"] == {"include_usage": True}


def test_tool_loop_mapping() -> None:
    chat = to_chat(load("tool_loop_with_thinking"))
    assert chat["reasoning_effort"] == "high"
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "tool", "user"]
    parallel = chat["messages"][4]
    assert [c["function"]["name"] for c in parallel["tool_calls"]] == ["Bash", "Bash"]
    assert [b["type"] for b in parallel["thinking_blocks"]] == ["thinking", "redacted_thinking"]
    failed = chat["messages"][5]
    assert failed["is_error"] is True
    assert failed["content"].startswith(ERROR_PREFIX + "Exit code 1")


def test_count_tokens_body() -> None:
    body = load("count_tokens")
    assert count_tokens_local(body)["input_tokens"] > 10
    wire = native_count_request(CALL, body)
    assert orjson.loads(wire.body) == {**body, "model": CALL.model}
