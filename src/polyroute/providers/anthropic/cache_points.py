"""LiteLLM's `cache_control_injection_points` (a deployment's litellm_params): prompt-cache
breakpoints the gateway adds to Anthropic requests, so clients that never send `cache_control`
still get long, stable prefixes (a system prompt, a document) billed at the cache-read price.

Shape, as LiteLLM has it: a list of `{"location": "message", "role": "system"}` (every message
of that role) or `{"location": "message", "index": -1}` (one message by position), each with an
optional `"control": {"type": "ephemeral", "ttl": "5m" | "1h"}`. The breakpoint goes on the last
content block of each chosen message. Anthropic takes at most 4 breakpoints per request, and
caches nothing below its minimum prefix (1024 tokens for most models): a short prompt's marker
is ignored by Anthropic, never an error.
"""

from __future__ import annotations

from typing import Any

MAX_BREAKPOINTS = 4  # Anthropic refuses a request with more cache_control blocks
EPHEMERAL = {"type": "ephemeral"}
ROLES = ("system", "developer", "user", "assistant", "tool")


def check_points(points: Any) -> None:
    """Config-time check; ValueError with a one-line reason."""
    where = "cache_control_injection_points"
    if not isinstance(points, list) or not points:
        raise ValueError(f"{where} must be a non-empty list")
    for i, point in enumerate(points):
        if not isinstance(point, dict) or point.get("location") != "message":
            raise ValueError(f"{where}[{i}] must be an object with location: message")
        role, index = point.get("role"), point.get("index")
        if (role is None) == (index is None):
            raise ValueError(f"{where}[{i}] needs either role or index")
        if role is not None and role not in ROLES:
            raise ValueError(f"{where}[{i}].role must be one of {', '.join(ROLES)}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise ValueError(f"{where}[{i}].index must be an integer (negative counts from the end)")
        control = point.get("control", EPHEMERAL)
        if not isinstance(control, dict) or control.get("type") != "ephemeral":
            raise ValueError(f"{where}[{i}].control must be {{type: ephemeral}} (with an optional ttl)")


def _existing(messages: list[Any]) -> int:
    count = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            count += sum(1 for b in content if isinstance(b, dict) and b.get("cache_control"))
    return count


def _marked(message: dict[str, Any], control: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of `message` with `control` on its last content block; None when it has no text
    block to carry one or is already marked."""
    content = message.get("content")
    if isinstance(content, str):
        return (
            {**message, "content": [{"type": "text", "text": content, "cache_control": control}]}
            if content
            else None
        )
    if not isinstance(content, list) or not content:
        return None
    last = content[-1]
    if not isinstance(last, dict) or last.get("cache_control") or last.get("type") != "text":
        return None
    return {**message, "content": [*content[:-1], {**last, "cache_control": control}]}


def inject_cache_points(messages: Any, points: list[dict[str, Any]]) -> Any:
    """`messages` (OpenAI format) with breakpoints at `points`; never more than Anthropic takes.
    The client's own messages are not changed (copies are)."""
    if not isinstance(messages, list) or not messages:
        return messages
    out = list(messages)
    budget = MAX_BREAKPOINTS - _existing(out)
    for point in points:
        control = dict(point.get("control") or EPHEMERAL)
        if point.get("index") is not None:
            chosen = [point["index"] % len(out)] if -len(out) <= point["index"] < len(out) else []
        else:
            chosen = [i for i, m in enumerate(out) if isinstance(m, dict) and m.get("role") == point["role"]]
        for i in chosen:
            if budget <= 0:
                return out
            marked = _marked(out[i], control) if isinstance(out[i], dict) else None
            if marked is not None:
                out[i] = marked
                budget -= 1
    return out
