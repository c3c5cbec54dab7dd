"""An OpenAI chat answer as a Responses `response` object, and the pieces the stream shares.

The object is OpenAI's: `id` "resp_<hex>", `object` "response", `status` completed (or
incomplete, with `incomplete_details.reason` max_output_tokens or content_filter), `output` items
(`reasoning` from the answer's reasoning_content, one assistant `message` with `output_text`,
one `function_call` per tool call), `usage` in Responses' names, and the request's settings
echoed (instructions, tools, tool_choice, text, reasoning, temperature, ...). `model` is the name
the client asked for, never the deployment's.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """OpenAI-style item ids: `resp_`, `msg_`, `fc_`, `rs_` and 48 hex digits."""
    return f"{prefix}_{secrets.token_hex(24)}"


def skeleton(body: dict[str, Any], response_id: str, created_at: int, status: str) -> dict[str, Any]:
    """The response object without output and usage: what response.created carries."""
    text = body.get("text")
    if not isinstance(text, dict) or "format" not in text:
        text = {**(text if isinstance(text, dict) else {}), "format": {"type": "text"}}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model"),
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": body.get("service_tier"),
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def from_chat(answer: dict[str, Any], body: dict[str, Any], response_id: str | None = None) -> dict[str, Any]:
    """The Responses object for a chat.completion `answer` to the Responses request `body`."""
    choices = answer.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    finish_reason = choice.get("finish_reason")
    created = answer.get("created")
    response = skeleton(
        body,
        response_id or new_id("resp"),
        created if isinstance(created, int) else int(time.time()),
        "completed",
    )
    incomplete = INCOMPLETE_REASONS.get(finish_reason) if isinstance(finish_reason, str) else None
    if incomplete:
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": incomplete}
    response["output"] = output_items(message, "incomplete" if incomplete else "completed")
    response["usage"] = responses_usage(answer.get("usage"))
    return response


def output_items(message: dict[str, Any], status: str = "completed") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    reasoning = reasoning_text(message)
    if reasoning:
        items.append(reasoning_item(new_id("rs"), reasoning))
    content = message.get("content")
    refusal = message.get("refusal")
    tool_calls = message.get("tool_calls") or []
    if content or refusal or not tool_calls:
        parts = []
        if content or not refusal:
            parts.append(text_part(content or ""))
        if refusal:
            parts.append({"type": "refusal", "refusal": refusal})
        items.append(message_item(new_id("msg"), parts, status))
    for call in tool_calls:
        function = call.get("function") or {}
        items.append(
            function_call_item(
                new_id("fc"),
                call.get("id") or new_id("call"),
                function.get("name") or "",
                function.get("arguments") or "",
                "completed",
            )
        )
    return items


def reasoning_text(message: dict[str, Any]) -> str | None:
    """The answer's reasoning, under either name providers use for it."""
    value = message.get("reasoning_content")
    if value is None:
        value = message.get("reasoning")
    return value if isinstance(value, str) else None


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": parts}


def reasoning_item(item_id: str, summary: str | None) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": summary}] if summary is not None else [],
    }


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def responses_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI chat usage in Responses' names."""
    if not usage:
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or 0
    # Cache writes: Anthropic's adapter reports them as cache_creation_input_tokens.
    written = usage.get("cache_creation_input_tokens") or details.get("cache_write_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(cached), "cache_write_tokens": int(written)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(reasoning)},
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }


def chat_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Responses usage in OpenAI chat's names (what billing reads)."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }
    details = usage.get("input_tokens_details") or {}
    if details.get("cached_tokens"):
        out["prompt_tokens_details"] = {"cached_tokens": int(details["cached_tokens"])}
    if details.get("cache_write_tokens"):
        out["cache_creation_input_tokens"] = int(details["cache_write_tokens"])
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
    if reasoning:
        out["completion_tokens_details"] = {"reasoning_tokens": int(reasoning)}
    return out


def input_items(value: Any) -> list[dict[str, Any]]:
    """A request's `input` as the items GET /v1/responses/{id}/input_items lists: each with an
    id, messages with content parts (a string input is one user message)."""
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    if not isinstance(value, list):
        return []
    items = []
    for raw in value:
        if not isinstance(raw, dict):
            continue
        item = dict(raw)
        kind = item.setdefault("type", "message")
        if kind == "message":
            content = item.get("content")
            if isinstance(content, str):
                part = "output_text" if item.get("role") == "assistant" else "input_text"
                item["content"] = [{"type": part, "text": content}]
            item.setdefault("status", "completed")
            item.setdefault("id", new_id("msg"))
        elif kind == "function_call":
            item.setdefault("id", new_id("fc"))
        elif kind == "function_call_output":
            item.setdefault("id", new_id("fco"))
        items.append(item)
    return items
