"""Cohere v2 chat answer -> OpenAI `chat.completion`; finish reasons and usage for both paths.

Cohere's answer: `{"id", "finish_reason", "message": {"role", "content": [{"type": "text",
"text"}], "tool_plan", "tool_calls": [...]}, "usage": {"billed_units": {...}, "tokens":
{"input_tokens", "output_tokens"}}}`. `tokens` are what the model read and wrote (the prompt
with Cohere's own template included); `billed_units` is what Cohere charges. OpenAI usage
reports `tokens` when present, as LiteLLM does, else the billed units. A reasoning model's
`thinking` parts, or else the tool plan (the model's reasoning before it calls tools), become
`reasoning_content`.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

#: Cohere finish_reason -> OpenAI finish_reason
FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "stop",
    "TIMEOUT": "stop",
}


def map_finish_reason(reason: Any) -> str:
    return FINISH_REASONS.get(str(reason or ""), "stop")


def completion_id(cohere_id: Any) -> str:
    return "chatcmpl-" + (str(cohere_id) if cohere_id else secrets.token_hex(12))


def to_openai_usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    counts = usage.get("tokens") if isinstance(usage.get("tokens"), dict) else usage.get("billed_units")
    if not isinstance(counts, dict):
        return None
    prompt = int(counts.get("input_tokens") or 0)
    completion = int(counts.get("output_tokens") or 0)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    cached = usage.get("cached_tokens")
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": int(cached)}
    return out


def to_chat_completion(data: dict[str, Any], model: str) -> dict[str, Any]:
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    text = "".join(
        str(part.get("text") or "")
        for part in message.get("content") or []
        if isinstance(part, dict) and part.get("type") == "text"
    )
    calls = [_tool_call(call) for call in message.get("tool_calls") or [] if isinstance(call, dict)]
    out_message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        out_message["tool_calls"] = calls
    thinking = "".join(
        str(part.get("thinking") or "")
        for part in message.get("content") or []
        if isinstance(part, dict) and part.get("type") == "thinking"
    )
    reasoning = thinking or str(message.get("tool_plan") or "")
    if reasoning:
        out_message["reasoning_content"] = reasoning
    finish = map_finish_reason(data.get("finish_reason"))
    if calls and finish == "stop":
        finish = "tool_calls"
    result: dict[str, Any] = {
        "id": completion_id(data.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": out_message, "finish_reason": finish, "logprobs": None}],
    }
    usage = to_openai_usage(data.get("usage"))
    if usage is not None:
        result["usage"] = usage
    return result


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    return {
        "id": str(call.get("id") or "call_" + secrets.token_hex(12)),
        "type": "function",
        "function": {
            "name": str(function.get("name") or ""),
            "arguments": str(function.get("arguments") or "{}"),
        },
    }
