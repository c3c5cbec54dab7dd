"""YandexGPT completion answer -> OpenAI `chat.completion`; statuses and usage for both paths.

The answer is `{"result": {"alternatives": [{"message": {"role", "text" | "toolCallList"},
"status"}], "usage": {"inputTextTokens", "completionTokens", "totalTokens",
"completionTokensDetails": {"reasoningTokens"}}, "modelVersion"}}`; the counts are int64s, so
they arrive as strings. Tool calls carry no id: one is made up per call (`call_<hex>`), which the
client sends back with its result and the request translation matches by name.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

#: alternative status -> OpenAI finish_reason (PARTIAL: not finished yet)
FINISH_REASONS = {
    "ALTERNATIVE_STATUS_FINAL": "stop",
    "ALTERNATIVE_STATUS_TRUNCATED_FINAL": "length",
    "ALTERNATIVE_STATUS_CONTENT_FILTER": "content_filter",
    "ALTERNATIVE_STATUS_TOOL_CALLS": "tool_calls",
}


def first_alternative(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(result, its first alternative); either empty when missing."""
    result = data.get("result") if isinstance(data.get("result"), dict) else {}
    alternatives = result.get("alternatives") if isinstance(result.get("alternatives"), list) else []
    first = alternatives[0] if alternatives and isinstance(alternatives[0], dict) else {}
    return result, first


def to_openai_usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    prompt = _int(usage.get("inputTextTokens"))
    completion = _int(usage.get("completionTokens"))
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    details = usage.get("completionTokensDetails")
    if isinstance(details, dict) and _int(details.get("reasoningTokens")):
        out["completion_tokens_details"] = {"reasoning_tokens": _int(details.get("reasoningTokens"))}
    return out


def tool_calls_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    listed = message.get("toolCallList") if isinstance(message.get("toolCallList"), dict) else {}
    calls = []
    for call in listed.get("toolCalls") or []:
        function = call.get("functionCall") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        calls.append(
            {
                "id": "call_" + secrets.token_hex(12),
                "type": "function",
                "function": {
                    "name": str(function.get("name") or ""),
                    "arguments": orjson.dumps(function.get("arguments") or {}).decode(),
                },
            }
        )
    return calls


def to_chat_completion(data: dict[str, Any], model: str) -> dict[str, Any]:
    result, alternative = first_alternative(data)
    message = alternative.get("message") if isinstance(alternative.get("message"), dict) else {}
    calls = tool_calls_of(message)
    text = message.get("text")
    out_message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        out_message["tool_calls"] = calls
    finish = FINISH_REASONS.get(str(alternative.get("status") or ""), "stop")
    answer: dict[str, Any] = {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": out_message, "finish_reason": finish, "logprobs": None}],
    }
    usage = to_openai_usage(result.get("usage"))
    if usage is not None:
        answer["usage"] = usage
    return answer


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
