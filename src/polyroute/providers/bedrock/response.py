"""Bedrock Converse answer -> OpenAI `chat.completion`.

Converse answers `{"output": {"message": {"role": "assistant", "content": [...]}}, "stopReason",
"usage": {"inputTokens", "outputTokens", "totalTokens", "cacheReadInputTokens",
"cacheWriteInputTokens"}, "metrics": {"latencyMs"}}`; content blocks are `text`, `toolUse`
(`toolUseId`, `name`, `input` object) and `reasoningContent` (`reasoningText.text`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from polyroute.errors import UpstreamError

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def map_finish_reason(reason: Any) -> str:
    return FINISH_REASONS.get(str(reason), "stop")


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def to_openai_usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("inputTokens") or 0)
    cached = int(usage.get("cacheReadInputTokens") or 0)
    written = int(usage.get("cacheWriteInputTokens") or 0)
    completion = int(usage.get("outputTokens") or 0)
    # Bedrock counts cached and cache-written tokens apart from inputTokens; OpenAI's
    # prompt_tokens includes cached ones (prompt_tokens_details.cached_tokens says how many).
    prompt_total = prompt + cached + written
    result: dict[str, Any] = {
        "prompt_tokens": prompt_total,
        "completion_tokens": completion,
        "total_tokens": prompt_total + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    if written:
        result["cache_creation_input_tokens"] = written
    return result


def to_chat_completion(data: dict[str, Any], model: str) -> dict[str, Any]:
    message = (data.get("output") or {}).get("message") if isinstance(data.get("output"), dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise UpstreamError("bedrock returned an answer without output.message.content", provider="bedrock")
    text, reasoning, calls = [], [], []
    for block in message["content"]:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            text.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            calls.append(tool_call(block["toolUse"]))
        elif isinstance(block.get("reasoningContent"), dict):
            reasoning_text = (block["reasoningContent"].get("reasoningText") or {}).get("text")
            if reasoning_text:
                reasoning.append(str(reasoning_text))
    content = "".join(text) if text or not calls else None
    out_message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        out_message["tool_calls"] = calls
    if reasoning:
        out_message["reasoning_content"] = "".join(reasoning)
    result: dict[str, Any] = {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": out_message,
                "finish_reason": map_finish_reason(data.get("stopReason")),
                "logprobs": None,
            }
        ],
    }
    usage = to_openai_usage(data.get("usage"))
    if usage is not None:
        result["usage"] = usage
    return result


def tool_call(use: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(use.get("toolUseId") or ""),
        "type": "function",
        "function": {
            "name": str(use.get("name") or ""),
            "arguments": orjson.dumps(use.get("input") or {}).decode(),
        },
    }
