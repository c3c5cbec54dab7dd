"""OpenAI chat request -> Reka's `POST /v1/chat` body (the shape of Reka's `reka-api` SDK).

Messages keep their roles (`system`, `user`, `assistant`); content is a string or a list of
`{"type": "text", "text"}` and media parts `{"type": "image_url", "image_url": "<url>"}` (a
plain URL string, where OpenAI nests `{"url": ...}`; data URLs pass as they are). Assistant tool
calls are `{"id", "name", "parameters": {...}}` (arguments as an object); tool results travel in
a `tool_output` message whose content is `[{"tool_call_id", "output"}]` (consecutive results in
one). Tools are `{"name", "description", "parameters"}`; `tool_choice` is `auto`, `none` or
`tool` (OpenAI's `required`; a named function is `tool` with only that tool offered).
FastChat's convention is kept: a model name ending `-online` is the model with
`use_search_engine: true`. Keys that are not OpenAI params (`top_k`, ...) pass through.
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import InvalidRequestError, UnsupportedParamsError
from polyroute.protocol.openai_params import CHAT_PARAMS, GATEWAY_KEYS

SUPPORTED_CHAT_PARAMS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
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
        "user",  # accepted, not sent: Reka has no end-user field
    }
)
ONLINE_SUFFIX = "-online"


def build_body(model: str, body: dict[str, Any], stream: bool) -> dict[str, Any]:
    if body.get("n") not in (None, 1):
        raise UnsupportedParamsError("reka returns one answer per request; n must be 1", param="n")
    out: dict[str, Any] = {
        "model": model.removesuffix(ONLINE_SUFFIX),
        "messages": convert_messages(body.get("messages")),
    }
    if model.endswith(ONLINE_SUFFIX):
        out["use_search_engine"] = True
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    for key in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if stop is not None:
        out["stop"] = [stop] if isinstance(stop, str) else list(stop)
    _add_tools(out, body)
    out["stream"] = stream
    for key, value in body.items():
        if key not in CHAT_PARAMS and key not in GATEWAY_KEYS:
            out[key] = value
    return out


def convert_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list", param="messages")
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            result = {
                "tool_call_id": str(message.get("tool_call_id") or ""),
                "output": _text(message.get("content")),
            }
            if out and out[-1]["role"] == "tool_output":
                out[-1]["content"].append(result)
            else:
                out.append({"role": "tool_output", "content": [result]})
            continue
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant"):
            raise InvalidRequestError(f"reka has no role {role!r}", param=f"messages[{i}].role")
        converted: dict[str, Any] = {"role": role, "content": _content(message.get("content"), i)}
        calls = message.get("tool_calls") if role == "assistant" else None
        if calls:
            converted["tool_calls"] = [_call(call, i) for call in calls]
        out.append(converted)
    return out


def _content(content: Any, index: int) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append({"type": "image_url", "image_url": str(url or "")})
        else:
            raise InvalidRequestError(
                f"reka does not take {kind!r} parts here", param=f"messages[{index}].content"
            )
    return parts


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return content if isinstance(content, str) else ""


def _call(call: dict[str, Any], index: int) -> dict[str, Any]:
    function = call.get("function") or {}
    try:
        parameters = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        raise InvalidRequestError(
            "tool call arguments must be JSON", param=f"messages[{index}].tool_calls"
        ) from None
    return {
        "id": str(call.get("id") or ""),
        "name": str(function.get("name") or ""),
        "parameters": parameters,
    }


def _add_tools(out: dict[str, Any], body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if not tools:
        return
    out["tools"] = [
        {k: v for k, v in (tool.get("function") or {}).items() if k in ("name", "description", "parameters")}
        for tool in tools
        if isinstance(tool, dict)
    ]
    for tool in out["tools"]:
        tool.setdefault("parameters", {"type": "object", "properties": {}})
    choice = body.get("tool_choice")
    if choice in ("auto", "none"):
        out["tool_choice"] = choice
    elif choice == "required":
        out["tool_choice"] = "tool"
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        out["tools"] = [tool for tool in out["tools"] if tool.get("name") == name]
        if not out["tools"]:
            raise InvalidRequestError(
                f"tool_choice names {name!r}, which is not in tools", param="tool_choice"
            )
        out["tool_choice"] = "tool"
    elif choice is not None:
        raise InvalidRequestError(
            "tool_choice must be auto, none, required or a function", param="tool_choice"
        )
