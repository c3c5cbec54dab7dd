"""OpenAI `messages[]` -> Anthropic `system` + alternating `messages[]`.

* system and developer messages, wherever they stand, are hoisted in order into the top-level
  `system`: one string (joined by a blank line) when every one is a string, else text blocks;
* tool messages become `tool_result` blocks in a user turn;
* assistant `tool_calls` become `tool_use` blocks whose `input` is the parsed `arguments`;
* an assistant message's `thinking_blocks` (signed thinking, redacted thinking) lead its turn;
* consecutive turns of one role merge into one, so roles alternate; in a user turn the
  `tool_result` blocks come first, as Anthropic requires;
* a part type this module does not know is passed on as it is (an Anthropic-native block).
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import InvalidRequestError, UnsupportedParamsError

System = str | list[dict[str, Any]] | None


class _Turn:
    __slots__ = ("role", "blocks", "text")

    def __init__(self, role: str, blocks: list[dict[str, Any]], text: str | None = None) -> None:
        self.role = role
        self.blocks = blocks
        # Set while the turn is one plain-string message: sent as a string, as the client wrote it.
        self.text = text

    def merge(self, other: _Turn) -> None:
        self.blocks.extend(other.blocks)
        self.text = None

    def to_wire(self) -> dict[str, Any]:
        if self.text is not None:
            return {"role": self.role, "content": self.text}
        blocks = self.blocks
        if self.role == "user":
            results = [b for b in blocks if b.get("type") == "tool_result"]
            if results and len(results) != len(blocks):
                blocks = results + [b for b in blocks if b.get("type") != "tool_result"]
        return {"role": self.role, "content": blocks}


def convert_messages(messages: Any) -> tuple[System, list[dict[str, Any]]]:
    """Returns (system, messages) for the Anthropic body."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty array", param="messages")
    system: list[tuple[str, dict[str, Any] | None]] = []  # (text, text block when not a plain string)
    turns: list[_Turn] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_system_parts(message.get("content"), i))
            continue
        if role == "user":
            turn = _user_turn(message, i)
        elif role == "assistant":
            turn = _assistant_turn(message, i)
            if turn is None:
                continue
        elif role == "tool":
            turn = _Turn("user", [_tool_result(message, i)])
        else:
            raise InvalidRequestError(
                f"messages[{i}].role '{role}' is not supported by anthropic", param=f"messages[{i}].role"
            )
        if turns and turns[-1].role == turn.role:
            turns[-1].merge(turn)
        else:
            turns.append(turn)
    return _system_value(system), [turn.to_wire() for turn in turns]


# -- system -----------------------------------------------------------------------------------------


def _system_parts(content: Any, i: int) -> list[tuple[str, dict[str, Any] | None]]:
    if isinstance(content, str):
        return [(content, None)] if content else []
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"messages[{i}].content must be a string or an array", param=f"messages[{i}].content"
        )
    parts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text":
            raise InvalidRequestError(
                "anthropic takes only text in system messages", param=f"messages[{i}].content[{j}]"
            )
        block = _text_block(part)
        if block is not None:
            parts.append((block["text"], block))
    return parts


def _system_value(parts: list[tuple[str, dict[str, Any] | None]]) -> System:
    if not parts:
        return None
    if all(block is None for _, block in parts):
        return "\n\n".join(text for text, _ in parts)
    return [block if block is not None else {"type": "text", "text": text} for text, block in parts]


# -- user and tool --------------------------------------------------------------------------------


def _user_turn(message: dict[str, Any], i: int) -> _Turn:
    content = message.get("content")
    cache_control = message.get("cache_control")
    if isinstance(content, str):
        if cache_control is not None:
            return _Turn("user", [{"type": "text", "text": content, "cache_control": cache_control}])
        return _Turn("user", [{"type": "text", "text": content}], text=content)
    return _Turn("user", _content_blocks(content, f"messages[{i}].content"))


def _tool_result(message: dict[str, Any], i: int) -> dict[str, Any]:
    tool_call_id = message.get("tool_call_id")
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise InvalidRequestError(
            f"messages[{i}] (role tool) needs a tool_call_id", param=f"messages[{i}].tool_call_id"
        )
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_call_id}
    content = message.get("content")
    if isinstance(content, str):
        block["content"] = content
    elif content is not None:
        block["content"] = _content_blocks(content, f"messages[{i}].content")
    if message.get("is_error") is True:  # Anthropic-native flag some clients set
        block["is_error"] = True
    if message.get("cache_control") is not None:
        block["cache_control"] = message["cache_control"]
    return block


def _content_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where} must be a string or an array", param=where)
    blocks = []
    for j, part in enumerate(content):
        block = _part_block(part, f"{where}[{j}]")
        if block is not None:
            blocks.append(block)
    return blocks


def _part_block(part: Any, where: str) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        raise InvalidRequestError(f"{where} must be an object", param=where)
    kind = part.get("type")
    if kind == "text":
        return _text_block(part)
    if kind == "image_url":
        block = _image_block(part.get("image_url"), f"{where}.image_url")
    elif kind == "file":
        block = _document_block(part.get("file"), f"{where}.file")
    elif kind in ("input_audio", "audio"):
        raise UnsupportedParamsError("anthropic does not accept audio input", param=where)
    else:
        return part  # an Anthropic-native block (image with source, document, ...): theirs to check
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _text_block(part: dict[str, Any]) -> dict[str, Any] | None:
    text = part.get("text")
    if not isinstance(text, str) or not text:
        return None  # Anthropic refuses empty text blocks
    block: dict[str, Any] = {"type": "text", "text": text}
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _image_block(image: Any, where: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise InvalidRequestError(f"{where}.url is required", param=f"{where}.url")
    if url.startswith("data:"):
        media_type, data = _parse_data_url(url, f"{where}.url")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequestError(
        "image URLs must be https://, http:// or base64 data: URLs", param=f"{where}.url"
    )


def _document_block(file: Any, where: str) -> dict[str, Any]:
    data_url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data_url, str):
        raise UnsupportedParamsError(
            "anthropic needs files inline as file_data (a base64 data: URL); file_id is not supported",
            param=f"{where}.file_id",
        )
    media_type, data = _parse_data_url(data_url, f"{where}.file_data")
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _parse_data_url(url: str, where: str) -> tuple[str, str]:
    header, sep, data = url[len("data:") :].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not media_type:
        raise InvalidRequestError("data: URLs must be base64 with a media type", param=where)
    return media_type, data


# -- assistant ----------------------------------------------------------------------------------------


def _assistant_turn(message: dict[str, Any], i: int) -> _Turn | None:
    content = message.get("content")
    tool_calls = message.get("tool_calls") or []
    thinking = _thinking_blocks(message.get("thinking_blocks"), i)
    if isinstance(content, str) and not tool_calls and not thinking and message.get("cache_control") is None:
        return _Turn("assistant", [{"type": "text", "text": content}], text=content) if content else None
    blocks: list[dict[str, Any]] = thinking
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
            if message.get("cache_control") is not None:
                blocks[-1]["cache_control"] = message["cache_control"]
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "refusal":
                part = {"type": "text", "text": part.get("refusal")}
            block = _part_block(part, f"messages[{i}].content[{j}]")
            if block is not None:
                blocks.append(block)
    elif content is not None:
        raise InvalidRequestError(
            f"messages[{i}].content must be a string or an array", param=f"messages[{i}].content"
        )
    if not isinstance(tool_calls, list):
        raise InvalidRequestError(
            f"messages[{i}].tool_calls must be an array", param=f"messages[{i}].tool_calls"
        )
    blocks.extend(_tool_use(call, f"messages[{i}].tool_calls[{j}]") for j, call in enumerate(tool_calls))
    return _Turn("assistant", blocks) if blocks else None


def _thinking_blocks(blocks: Any, i: int) -> list[dict[str, Any]]:
    """An assistant message's `thinking_blocks` (LiteLLM's field; the Messages inbound protocol
    sets it): Anthropic's own thinking and redacted_thinking blocks, sent back first in the turn
    as Anthropic requires when thinking meets tool use. Blocks without a signature (thinking
    another provider produced) cannot be verified by Anthropic and are left out."""
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        raise InvalidRequestError(
            f"messages[{i}].thinking_blocks must be an array", param=f"messages[{i}].thinking_blocks"
        )
    out = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if (
            block.get("type") == "thinking"
            and block.get("signature")
            and isinstance(block.get("thinking"), str)
        ):
            out.append({"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]})
        elif block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
            out.append({"type": "redacted_thinking", "data": block["data"]})
    return out


def _tool_use(call: Any, where: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequestError(f"{where}.function.name is required", param=f"{where}.function.name")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            parsed = orjson.loads(arguments) if arguments.strip() else {}
        except orjson.JSONDecodeError:
            parsed = None
    else:
        parsed = arguments if arguments is not None else {}
    if not isinstance(parsed, dict):
        raise InvalidRequestError(
            f"{where}.function.arguments must be a JSON object (anthropic tool input is an object)",
            param=f"{where}.function.arguments",
        )
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequestError(f"{where}.id is required", param=f"{where}.id")
    return {"type": "tool_use", "id": call_id, "name": function["name"], "input": parsed}
