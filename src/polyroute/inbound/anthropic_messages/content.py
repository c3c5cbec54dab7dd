"""Anthropic `system` + `messages[]` -> OpenAI chat `messages[]`.

* `system` (a string, or text blocks) becomes one leading system message; text blocks keep
  their `cache_control`, which the outbound Anthropic adapter puts back on the system block.
* A user turn's `tool_result` blocks become `role: tool` messages, placed before the rest of the
  turn (OpenAI wants tool answers right after the assistant's tool calls; Anthropic wants them
  first in the user turn, so the order means the same to both). A `tool_result` with
  `is_error: true` keeps the flag (the Anthropic adapter sends it back) and its text is prefixed
  with `ERROR_PREFIX`, the only way to tell other providers.
* Images: a base64 source becomes a data: URL, a url source the URL itself.
* An empty final assistant turn (an empty prefill) is left out: it asks for nothing, and OpenAI
  refuses an assistant message without content.
* An assistant turn: text blocks -> `content`, `tool_use` -> `tool_calls` (input as a JSON
  string), `thinking` -> `reasoning_content`; the thinking blocks themselves, signatures and
  redacted ones included, ride along in `thinking_blocks`, which the Anthropic adapter sends
  back in front of the turn (Anthropic needs them when thinking and tools meet).
* Anthropic block types with no OpenAI counterpart (documents with other sources, server tool
  blocks, search results, ...) pass on as they are: the Anthropic adapter sends an unknown part
  on unchanged, other providers refuse it with their own error.
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import InvalidRequestError
from polyroute.inbound.anthropic_messages.fields import invalid, need_dict, need_list, need_str, path

ERROR_PREFIX = "Error: "

USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
ASSISTANT_BLOCKS = frozenset({"text", "tool_use", "thinking", "redacted_thinking"})
#: documented block types the gateway cannot translate; passed on unchanged (see the docstring)
NATIVE_BLOCKS = frozenset(
    {
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
    }
)


def convert_system(system: Any) -> dict[str, Any] | None:
    if system is None:
        return None
    if isinstance(system, str):
        return {"role": "system", "content": system} if system else None
    blocks = need_list(system, "system")
    parts = []
    for i, block in enumerate(blocks):
        block = need_dict(block, path("system", i))
        if block.get("type") != "text":
            raise invalid(path("system", i, "type"), "Input should be 'text'")
        parts.append(_text_part(block, path("system", i)))
    return {"role": "system", "content": parts} if parts else None


def convert_messages(messages: Any) -> list[dict[str, Any]]:
    messages = need_list(messages, "messages")
    if not messages:
        raise invalid("messages", "List should have at least 1 item")
    out: list[dict[str, Any]] = []
    last = len(messages) - 1
    for i, message in enumerate(messages):
        where = path("messages", i)
        message = need_dict(message, where)
        role = message.get("role")
        content = message.get("content")
        if role not in ("user", "assistant"):
            raise invalid(path(where, "role"), "Input should be 'user' or 'assistant'")
        if content is None:
            raise invalid(path(where, "content"), "Field required")
        if not isinstance(content, str | list):
            raise invalid(path(where, "content"), "Input should be a valid string or a list of blocks")
        if not content:
            if role == "assistant" and i == last:
                continue  # an empty prefill asks for nothing; OpenAI refuses an empty assistant turn
            # Anthropic's rule: only a final assistant turn (a prefill) may be empty.
            raise invalid(
                path(where, "content"),
                "all messages must have non-empty content except for the optional final assistant message",
            )
        if role == "user":
            out.extend(_user(content, where))
        else:
            out.append(_assistant(content, where))
    return out


# -- user ---------------------------------------------------------------------------------------------


def _user(content: str | list[Any], where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = path(where, "content", j)
        block = need_dict(block, at)
        kind = _block_type(block, at, USER_BLOCKS)
        if kind == "tool_result":
            tool_messages.append(_tool_result(block, at))
        else:
            parts.append(_part(kind, block, at))
    out = tool_messages
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _block_type(block: dict[str, Any], at: str, allowed: frozenset[str]) -> str:
    kind = block.get("type")
    if isinstance(kind, str) and (kind in allowed or kind in NATIVE_BLOCKS):
        return kind
    names = ", ".join(f"'{name}'" for name in sorted(allowed))
    raise invalid(path(at, "type"), f"Input should be one of {names}")


def _part(kind: str, block: dict[str, Any], at: str) -> dict[str, Any]:
    if kind == "text":
        return _text_part(block, at)
    if kind == "image":
        part = {"type": "image_url", "image_url": {"url": _image_url(block.get("source"), at)}}
        if block.get("cache_control") is not None:
            part["cache_control"] = block["cache_control"]
        return part
    if kind == "document":
        return _document(block, at)
    return dict(block)  # native: passed on as it is


def _text_part(block: dict[str, Any], at: str) -> dict[str, Any]:
    text = need_str(block.get("text"), path(at, "text"))
    if not text:
        raise invalid(path(at, "text"), "text content blocks must be non-empty")
    part: dict[str, Any] = {"type": "text", "text": text}
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _image_url(source: Any, at: str) -> str:
    where = path(at, "source")
    source = need_dict(source, where)
    kind = source.get("type")
    if kind == "base64":
        media_type = need_str(source.get("media_type"), path(where, "media_type"), non_empty=True)
        data = need_str(source.get("data"), path(where, "data"), non_empty=True)
        return f"data:{media_type};base64,{data}"
    if kind == "url":
        return need_str(source.get("url"), path(where, "url"), non_empty=True)
    raise invalid(path(where, "type"), "Input should be 'base64' or 'url'")


def _document(block: dict[str, Any], at: str) -> dict[str, Any]:
    """A base64 document becomes OpenAI's `file` part (which the Anthropic adapter turns back
    into a document); a plain-text document becomes text; other sources pass on unchanged."""
    source = need_dict(block.get("source"), path(at, "source"))
    kind = source.get("type")
    if kind == "base64":
        media_type = need_str(source.get("media_type"), path(at, "source", "media_type"), non_empty=True)
        data = need_str(source.get("data"), path(at, "source", "data"), non_empty=True)
        file: dict[str, Any] = {"file_data": f"data:{media_type};base64,{data}"}
        if isinstance(block.get("title"), str):
            file["filename"] = block["title"]
        part: dict[str, Any] = {"type": "file", "file": file}
    elif kind == "text":
        text = need_str(source.get("data"), path(at, "source", "data"), non_empty=True)
        part = {"type": "text", "text": text}
    else:
        return dict(block)
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _tool_result(block: dict[str, Any], at: str) -> dict[str, Any]:
    tool_use_id = need_str(block.get("tool_use_id"), path(at, "tool_use_id"), non_empty=True)
    content = block.get("content")
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise invalid(path(at, "is_error"), "Input should be a valid boolean")
    if content is None:
        value: str | list[dict[str, Any]] = ""
    elif isinstance(content, str):
        value = content
    elif isinstance(content, list):
        value = []
        for k, item in enumerate(content):
            item_at = path(at, "content", k)
            item = need_dict(item, item_at)
            kind = _block_type(item, item_at, frozenset({"text", "image", "document", "search_result"}))
            value.append(_part(kind, item, item_at))
    else:
        raise invalid(path(at, "content"), "Input should be a valid string or a list of blocks")
    message: dict[str, Any] = {"role": "tool", "tool_call_id": tool_use_id, "content": value}
    if is_error:
        message["is_error"] = True
        message["content"] = _error_noted(value)
    if block.get("cache_control") is not None:
        message["cache_control"] = block["cache_control"]
    return message


def _error_noted(value: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(value, str):
        return ERROR_PREFIX + value
    return [{"type": "text", "text": ERROR_PREFIX.strip()}, *value]


# -- assistant ----------------------------------------------------------------------------------------


def _assistant(content: str | list[Any], where: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    thinking_blocks: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = path(where, "content", j)
        block = need_dict(block, at)
        kind = _block_type(block, at, ASSISTANT_BLOCKS)
        if kind == "text":
            texts.append(_text_part(block, at))
        elif kind == "tool_use":
            tool_calls.append(_tool_call(block, at))
        elif kind == "thinking":
            need_str(block.get("thinking"), path(at, "thinking"))
            thinking_blocks.append(_copy(block, ("type", "thinking", "signature")))
        elif kind == "redacted_thinking":
            need_str(block.get("data"), path(at, "data"))
            thinking_blocks.append(_copy(block, ("type", "data")))
        else:
            others.append(dict(block))
    message: dict[str, Any] = {"role": "assistant", "content": _assistant_content(texts, others)}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking_blocks:
        reasoning = "".join(b["thinking"] for b in thinking_blocks if b["type"] == "thinking")
        if reasoning:
            message["reasoning_content"] = reasoning
        message["thinking_blocks"] = thinking_blocks
    return message


def _assistant_content(texts: list[dict[str, Any]], others: list[dict[str, Any]]) -> Any:
    if others or any("cache_control" in part for part in texts):
        return [*texts, *others] or None
    # One string: what every OpenAI-compatible server takes for an assistant turn.
    return "".join(part["text"] for part in texts) if texts else None


def _tool_call(block: dict[str, Any], at: str) -> dict[str, Any]:
    call_id = need_str(block.get("id"), path(at, "id"), non_empty=True)
    name = need_str(block.get("name"), path(at, "name"), non_empty=True)
    tool_input = need_dict(block.get("input"), path(at, "input"))
    try:
        arguments = orjson.dumps(tool_input).decode()
    except TypeError as exc:  # e.g. integers beyond 64 bits
        raise InvalidRequestError(f"{path(at, 'input')}: {exc}", param=path(at, "input")) from exc
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _copy(block: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: block[key] for key in keys if key in block}
