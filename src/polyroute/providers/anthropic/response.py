"""Anthropic message -> OpenAI `chat.completion`, and the stop-reason and usage mappings the
stream translator shares.

Thinking blocks (signed, redacted) also ride along in the message's `thinking_blocks` (LiteLLM's
field), so a client can send them back; a matched stop sequence is named in the choice's
`stop_reason`, as vLLM does.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from polyroute.errors import UpstreamError
from polyroute.providers.anthropic.structured import JSON_TOOL_NAME

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None, structured: bool = False) -> str:
    """OpenAI's finish_reason. A structured-output tool call is the answer itself: "stop"."""
    reason = FINISH_REASONS.get(stop_reason or "", "stop")
    if structured and reason == "tool_calls":
        return "stop"
    return reason


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage from Anthropic's, whose input_tokens exclude cache reads and writes."""
    input_tokens = _count(usage.get("input_tokens"))
    cache_creation = _count(usage.get("cache_creation_input_tokens"))
    cache_read = _count(usage.get("cache_read_input_tokens"))
    output_tokens = _count(usage.get("output_tokens"))
    prompt_tokens = input_tokens + cache_creation + cache_read
    out: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": prompt_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens": cache_read},
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
    }
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("thinking_tokens"), int):
        out["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return out


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def to_openai_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    """The OpenAI chat.completion for one Anthropic `message` object."""
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise UpstreamError("anthropic returned a message without content", provider="anthropic")
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    structured = False
    for block in data["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
            thinking_blocks.append(
                {
                    "type": "thinking",
                    "thinking": block.get("thinking") or "",
                    "signature": block.get("signature"),
                }
            )
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.get("data")})
        elif kind == "tool_use" and block.get("name") == JSON_TOOL_NAME:
            structured = True
            texts.append(orjson.dumps(block.get("input") or {}).decode())
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
        # Server tool blocks and results have no OpenAI counterpart.
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        # LiteLLM's field: the signed blocks a client sends back on its next turn (messages.py).
        message["thinking_blocks"] = thinking_blocks
    response: dict[str, Any] = {
        "id": "chatcmpl-" + str(data.get("id") or ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("model") or model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(data.get("stop_reason"), structured and not tool_calls),
                "logprobs": None,
            }
        ],
    }
    if data.get("stop_reason") == "stop_sequence" and isinstance(data.get("stop_sequence"), str):
        # Which stop string matched, where vLLM puts it (OpenAI's own answers do not say).
        response["choices"][0]["stop_reason"] = data["stop_sequence"]
    if isinstance(data.get("usage"), dict):
        response["usage"] = openai_usage(data["usage"])
    return response
