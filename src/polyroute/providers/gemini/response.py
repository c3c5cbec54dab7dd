"""Gemini `GenerateContentResponse` -> OpenAI `chat.completion`, and usage -> OpenAI usage.

Shared by the non-streaming path and the stream translator: finish-reason mapping, tool-call
rendering (Gemini sends `args` as an object and, on generateContent, no call id) and usage.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

#: Gemini finishReason -> OpenAI finish_reason. STOP becomes tool_calls when a call was made.
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "stop",
    "OTHER": "stop",
}


def map_finish_reason(reason: str | None, has_tool_calls: bool) -> str:
    mapped = FINISH_REASONS.get(reason or "", "stop")
    if mapped == "stop" and has_tool_calls and reason == "STOP":
        return "tool_calls"
    return mapped


def new_completion_id(response_id: Any) -> str:
    return "chatcmpl-" + (str(response_id) if response_id else secrets.token_hex(12))


def new_tool_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def tool_call_from(function_call: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI tool call for a whole Gemini functionCall part."""
    call_id = function_call.get("id")  # newer API versions may send one; keep it when they do
    return {
        "id": str(call_id) if call_id else new_tool_call_id(),
        "type": "function",
        "function": {
            "name": str(function_call.get("name") or ""),
            "arguments": orjson.dumps(function_call.get("args") or {}).decode(),
        },
    }


def to_openai_usage(metadata: Any) -> dict[str, Any] | None:
    """OpenAI usage for a Gemini usageMetadata; None when there is none.

    Gemini's candidatesTokenCount excludes thinking, OpenAI's completion_tokens includes it;
    promptTokenCount already includes cached-content tokens, as OpenAI's prompt_tokens does.
    """
    if not isinstance(metadata, dict):
        return None
    prompt = int(metadata.get("promptTokenCount") or 0) + int(metadata.get("toolUsePromptTokenCount") or 0)
    thoughts = int(metadata.get("thoughtsTokenCount") or 0)
    completion = int(metadata.get("candidatesTokenCount") or 0) + thoughts
    total = int(metadata.get("totalTokenCount") or 0) or prompt + completion
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": int(metadata.get("cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def candidate_parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def to_openai_logprobs(candidate: dict[str, Any]) -> dict[str, Any] | None:
    """OpenAI choice.logprobs from Gemini's logprobsResult (sent when responseLogprobs is on)."""
    result = candidate.get("logprobsResult")
    if not isinstance(result, dict):
        return None
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or []
    content = []
    for i, token in enumerate(chosen):
        alternatives = tops[i].get("candidates", []) if i < len(tops) and isinstance(tops[i], dict) else []
        content.append({**_logprob(token), "top_logprobs": [_logprob(alt) for alt in alternatives]})
    return {"content": content, "refusal": None}


def _logprob(entry: dict[str, Any]) -> dict[str, Any]:
    token = str(entry.get("token") or "")
    return {
        "token": token,
        "logprob": float(entry.get("logProbability") or 0.0),
        "bytes": list(token.encode()),
    }


def to_chat_completion(data: dict[str, Any], model: str) -> dict[str, Any]:
    """The OpenAI chat.completion for one Gemini generateContent response."""
    choices = []
    candidates = data.get("candidates") or []
    for position, candidate in enumerate(candidates):
        if isinstance(candidate, dict):
            choices.append(_choice(candidate, position))
    if not choices:
        # No candidate at all: the prompt itself was blocked (promptFeedback.blockReason).
        blocked = isinstance(data.get("promptFeedback"), dict) and data["promptFeedback"].get("blockReason")
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": None},
                "finish_reason": "content_filter" if blocked else "stop",
                "logprobs": None,
            }
        )
    usage = to_openai_usage(data.get("usageMetadata")) or to_openai_usage({})
    return {
        "id": new_completion_id(data.get("responseId")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("modelVersion") or model,
        "choices": choices,
        "usage": usage,
    }


def _choice(candidate: dict[str, Any], position: int) -> dict[str, Any]:
    texts: list[str] = []
    thoughts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for part in candidate_parts(candidate):
        if isinstance(part.get("functionCall"), dict):
            tool_calls.append(tool_call_from(part["functionCall"]))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    index = candidate.get("index")
    return {
        "index": index if isinstance(index, int) else position,
        "message": message,
        "finish_reason": map_finish_reason(candidate.get("finishReason"), bool(tool_calls)),
        "logprobs": to_openai_logprobs(candidate),
    }
