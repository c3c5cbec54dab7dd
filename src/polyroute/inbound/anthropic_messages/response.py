"""OpenAI `chat.completion` -> Anthropic `message`, and the stop-reason and usage mappings the
stream encoder shares.

* content blocks in Anthropic's order: thinking, text, tool_use. Thinking comes from the
  message's `thinking_blocks` (signatures kept) when an upstream gave them, else from
  `reasoning_content` (a thinking block without a signature).
* a tool call's `arguments` that are not a JSON object (invalid JSON, or an array, ...) become
  `input: {}`: Anthropic's `input` is always an object and a client cannot parse anything else;
  the call's id and name still reach the client, so it can answer with an error tool_result.
* `model` is the name the client asked for, not the deployment's.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from polyroute.inbound.anthropic_messages.fields import is_int

STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id(upstream_id: Any = None) -> str:
    """Anthropic's `msg_` id: the upstream's own when it was an Anthropic message."""
    if isinstance(upstream_id, str):
        bare = upstream_id.removeprefix("chatcmpl-")
        if bare.startswith("msg_") and len(bare) > len("msg_"):
            return bare
    return "msg_" + uuid.uuid4().hex


def tool_use_id(call_id: Any) -> str:
    """The tool call's own id; one made up for an upstream that gave none."""
    return call_id if isinstance(call_id, str) and call_id else "toolu_" + uuid.uuid4().hex


def stop_reason(finish_reason: Any, tool_used: bool, matched_stop: str | None) -> str:
    """Anthropic's stop_reason. A turn that called a tool ends in tool_use whatever the upstream
    said (some report "stop" after streaming tool calls)."""
    if tool_used and finish_reason not in ("length", "content_filter"):
        return "tool_use"
    if matched_stop is not None and finish_reason in ("stop", None):
        return "stop_sequence"
    return STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def matched_stop_sequence(choice: dict[str, Any], body: dict[str, Any]) -> str | None:
    """The client's stop sequence the upstream says it stopped at. OpenAI does not say which;
    vLLM and SGLang put the matched string in the choice's `stop_reason`, and so does the
    Anthropic adapter. Only one of the client's own sequences counts."""
    matched = choice.get("stop_reason")
    stops = body.get("stop_sequences")
    if isinstance(matched, str) and isinstance(stops, list) and matched in stops:
        return matched
    return None


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Anthropic usage from OpenAI's. Anthropic's input_tokens exclude cache reads and writes;
    OpenAI's prompt_tokens include them."""
    if not isinstance(usage, dict):
        usage = {}
    prompt = _count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cache_read = _count(usage.get("cache_read_input_tokens"))
    if not cache_read and isinstance(details, dict):
        cache_read = _count(details.get("cached_tokens"))
    cache_creation = _count(usage.get("cache_creation_input_tokens"))
    return {
        "input_tokens": max(0, prompt - cache_read - cache_creation),
        "output_tokens": _count(usage.get("completion_tokens")),
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
    }


def _count(value: Any) -> int:
    return value if is_int(value) and value > 0 else 0


def tool_input(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, str) and arguments.strip():
        try:
            parsed = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def thinking_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message.get("thinking_blocks")
    if isinstance(blocks, list):
        out = []
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
                signature = block.get("signature")
                out.append(
                    {
                        "type": "thinking",
                        "thinking": block["thinking"],
                        "signature": signature if isinstance(signature, str) else "",
                    }
                )
            elif block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
                out.append({"type": "redacted_thinking", "data": block["data"]})
        if out:
            return out
    reasoning = message.get("reasoning_content")
    if reasoning is None:
        reasoning = message.get("reasoning")  # vLLM's and OpenRouter's name for it
    if isinstance(reasoning, str) and reasoning:
        return [{"type": "thinking", "thinking": reasoning, "signature": ""}]
    return []


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer with text parts
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def from_chat(answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic message for an OpenAI chat.completion answering `body` (the client's)."""
    choices = answer.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    content: list[dict[str, Any]] = list(thinking_blocks(message))
    text = _text(message.get("content"))
    finish = choice.get("finish_reason")
    refusal = message.get("refusal")
    if not text and isinstance(refusal, str) and refusal:
        text, finish = refusal, "content_filter"  # OpenAI's refusal: Anthropic's stop_reason refusal
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        content.append(
            {
                "type": "tool_use",
                "id": tool_use_id(call.get("id")),
                "name": str(function.get("name") or ""),
                "input": tool_input(function.get("arguments")),
            }
        )
    tool_used = any(block["type"] == "tool_use" for block in content)
    matched = matched_stop_sequence(choice, body)
    reason = stop_reason(finish, tool_used, matched)
    return {
        "id": message_id(answer.get("id")),
        "type": "message",
        "role": "assistant",
        "model": body.get("model") or answer.get("model") or "",
        "content": content,
        "stop_reason": reason,
        "stop_sequence": matched if reason == "stop_sequence" else None,
        "usage": anthropic_usage(answer.get("usage")),
    }
