"""OpenAI chat request -> Cohere v2 `/v2/chat` request body.

Cohere v2 is close to OpenAI's shape: system/user/assistant/tool roles, `tool_calls` with string
arguments, tools in OpenAI's `{"type": "function", "function": {...}}` form, images as
`image_url` parts. What differs is renamed here: `top_p` -> `p`, `stop` -> `stop_sequences`,
`tool_choice` as `REQUIRED`/`NONE` (a named function becomes `REQUIRED` with only that tool
offered, Cohere having no per-function choice), `response_format` with the JSON schema inline.
Keys that are not OpenAI params (`k`, `safety_mode`, `documents`, `citation_options`, ...) are
Cohere-native and go into the body unchanged.
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError, UnsupportedParamsError
from polyroute.protocol.openai_params import CHAT_PARAMS, GATEWAY_KEYS
from polyroute.providers.base import ProviderCall

#: the OpenAI chat params this translation honours; others follow drop_params
SUPPORTED_CHAT_PARAMS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "stream",
        "stream_options",
        "user",  # accepted, not sent: Cohere has no end-user field
    }
)

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


def build_body(call: ProviderCall, body: dict[str, Any], stream: bool) -> dict[str, Any]:
    request = {**call.defaults, **body} if call.defaults else body
    if request.get("n") not in (None, 1):
        raise UnsupportedParamsError("cohere returns one choice per request; n must be 1", param="n")
    out: dict[str, Any] = {"model": call.model, "messages": convert_messages(request.get("messages"))}
    max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    for source, target in (
        ("temperature", "temperature"),
        ("top_p", "p"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
    ):
        if request.get(source) is not None:
            out[target] = request[source]
    stop = request.get("stop")
    if stop is not None:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    _add_tools(out, request)
    response_format = _response_format(request.get("response_format"))
    if response_format is not None:
        out["response_format"] = response_format
    if stream:
        out["stream"] = True
    for key, value in request.items():
        if key not in CHAT_PARAMS and key not in GATEWAY_KEYS:
            out[key] = value
    return out


def convert_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list", param="messages")
    return [_message(message, i) for i, message in enumerate(messages)]


def _message(message: dict[str, Any], index: int) -> dict[str, Any]:
    role = _ROLES.get(message.get("role", ""))
    if role is None:
        raise InvalidRequestError(
            f"cohere has no role {message.get('role')!r}", param=f"messages[{index}].role"
        )
    content = message.get("content")
    if role == "tool":
        return {
            "role": "tool",
            "tool_call_id": str(message.get("tool_call_id") or ""),
            "content": _text_of(content),
        }
    if role == "assistant":
        out: dict[str, Any] = {"role": "assistant"}
        calls = message.get("tool_calls") or []
        if calls:
            out["tool_calls"] = [_tool_call(call) for call in calls]
        text = _text_of(content)
        if text:
            out["content"] = text
        elif not calls:
            out["content"] = ""
        return out
    if role == "system":
        return {"role": "system", "content": _text_of(content)}
    if isinstance(content, list):
        return {"role": "user", "content": [_part(part, index) for part in content]}
    return {"role": "user", "content": content if isinstance(content, str) else ""}


def _part(part: dict[str, Any], index: int) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        wire: dict[str, Any] = {"url": str(url or "")}
        if isinstance(image, dict) and image.get("detail"):
            wire["detail"] = image["detail"]
        return {"type": "image_url", "image_url": wire}
    raise InvalidRequestError(
        f"cohere does not take {kind!r} content parts", param=f"messages[{index}].content"
    )


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "id": str(call.get("id") or ""),
        "type": "function",
        "function": {"name": function.get("name", ""), "arguments": function.get("arguments") or "{}"},
    }


def _add_tools(out: dict[str, Any], request: dict[str, Any]) -> None:
    tools = request.get("tools")
    choice = request.get("tool_choice")
    if tools:
        out["tools"] = [
            {"type": "function", "function": tool.get("function") or {}}
            for tool in tools
            if isinstance(tool, dict) and tool.get("type", "function") == "function"
        ]
    if choice in (None, "auto") or not tools:
        return
    if choice == "required":
        out["tool_choice"] = "REQUIRED"
    elif choice == "none":
        out["tool_choice"] = "NONE"
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        offered = [tool for tool in out["tools"] if tool["function"].get("name") == name]
        if not offered:
            raise InvalidRequestError(
                f"tool_choice names {name!r}, which is not in tools", param="tool_choice"
            )
        out["tools"] = offered
        out["tool_choice"] = "REQUIRED"
    else:
        raise InvalidRequestError(
            "tool_choice must be auto, none, required or a function", param="tool_choice"
        )


def _response_format(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or value.get("type") in (None, "text"):
        return None
    if value["type"] == "json_object":
        return {"type": "json_object"}
    if value["type"] == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        return {"type": "json_object", "json_schema": schema} if schema else {"type": "json_object"}
    raise InvalidRequestError(f"cohere has no response_format {value['type']!r}", param="response_format")
