"""Token estimates made before a call (rpm/tpm admission, context-window checks).

An estimate, not a tokenizer: about four characters per token for text, plus a small overhead
per message, and a flat figure per image. Providers' own usage figures replace it afterwards
(tpm counters are reconciled). Deliberately cheap: it runs on every request.
"""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 765  # OpenAI's figure for a 512x512 high-detail tile set; a fair middle


def _content_chars(content: Any) -> tuple[int, int]:
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                if part.get("type") == "text":
                    chars += len(part.get("text") or "")
                elif part.get("type") == "image_url":
                    images += 1
    return chars, images


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    chars = images = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            c, i = _content_chars(message.get("content"))
            chars += c + MESSAGE_OVERHEAD * CHARS_PER_TOKEN
            images += i
            for call in message.get("tool_calls") or ():
                if isinstance(call, dict):
                    chars += len(str((call.get("function") or {}).get("arguments", "")))
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        chars += len(prompt)
    elif isinstance(prompt, list):
        chars += sum(len(p) for p in prompt if isinstance(p, str))
    value = body.get("input")
    if isinstance(value, str):
        chars += len(value)
    elif isinstance(value, list):
        chars += sum(
            len(v) if isinstance(v, str) else len(v) * CHARS_PER_TOKEN
            for v in value
            if isinstance(v, str | list)
        )
    tools = body.get("tools")
    if isinstance(tools, list):
        chars += sum(len(str(t)) for t in tools)
    return chars // CHARS_PER_TOKEN + images * IMAGE_TOKENS + 1


def usage_tokens(usage: dict[str, Any] | None) -> int | None:
    if not isinstance(usage, dict):
        return None
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return prompt + completion
    return None
