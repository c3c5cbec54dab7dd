"""OpenAI chat request -> YandexGPT `foundationModels/v1/completion` body.

The body: `modelUri` (`gpt://<folder>/<model>`), `completionOptions` (`stream`, `temperature`,
`maxTokens` as a string: an int64 in proto3 JSON, `reasoningOptions`), `messages` of `role` plus
exactly one of `text`, `toolCallList` (the model's calls) or `toolResultList` (the caller's
results), `tools`, `toolChoice`, `jsonObject`/`jsonSchema`, `parallelToolCalls`.
YandexGPT's tool calls have no ids and its results name the function instead: an OpenAI
`tool` message is matched to its call by `tool_call_id` to find that name, and consecutive tool
results travel in one message. An assistant turn with both text and calls becomes two
messages (a message holds one of the three). Images are not accepted (the completion API is
text only). Keys that are not OpenAI params go into the body unchanged.
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
        "parallel_tool_calls",
        "response_format",
        "temperature",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "reasoning_effort",
        "stream",
        "stream_options",
        "user",  # accepted, not sent: there is no end-user field
    }
)
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def model_uri(model: str, folder: str | None) -> str:
    """`gpt://<folder>/<model>`; a model given as a whole URI is used as it is."""
    if "://" in model:
        return model
    if not folder:
        raise InvalidRequestError(
            "yandexgpt needs a folder id: set litellm_params.folder_id or YANDEXGPT_FOLDER_ID",
            param="model",
            code="provider_not_configured",
        )
    return f"gpt://{folder}/{model}"


def build_body(model: str, folder: str | None, body: dict[str, Any], stream: bool) -> dict[str, Any]:
    if body.get("n") not in (None, 1):
        raise UnsupportedParamsError("yandexgpt returns one alternative per request; n must be 1", param="n")
    options: dict[str, Any] = {"stream": stream}
    if body.get("temperature") is not None:
        options["temperature"] = body["temperature"]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        options["maxTokens"] = str(max_tokens)
    effort = body.get("reasoning_effort")
    if effort is not None:
        options["reasoningOptions"] = {
            "mode": "DISABLED" if effort in ("none", "minimal") else "ENABLED_HIDDEN"
        }
    out: dict[str, Any] = {
        "modelUri": model_uri(model, folder),
        "completionOptions": options,
        "messages": convert_messages(body.get("messages")),
    }
    _add_tools(out, body)
    _add_format(out, body.get("response_format"))
    for key, value in body.items():
        if key not in CHAT_PARAMS and key not in GATEWAY_KEYS:
            out[key] = value
    return out


def convert_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list", param="messages")
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, from earlier assistant turns
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            out.append(_tool_result(message, i, names, out))
            continue
        if role not in _ROLES:
            raise InvalidRequestError(f"yandexgpt has no role {role!r}", param=f"messages[{i}].role")
        text = _text(message.get("content"), i)
        calls = (message.get("tool_calls") or []) if role == "assistant" else []
        if text or not calls:
            out.append({"role": _ROLES[role], "text": text})
        if calls:
            out.append(
                {"role": "assistant", "toolCallList": {"toolCalls": [_call(c, i, names) for c in calls]}}
            )
    return [m for m in out if m]


def _text(content: Any, index: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if part.get("type") != "text":
            raise InvalidRequestError(
                f"yandexgpt takes text only, not {part.get('type')!r} parts",
                param=f"messages[{index}].content",
            )
        parts.append(str(part.get("text") or ""))
    return "".join(parts)


def _call(call: dict[str, Any], index: int, names: dict[str, str]) -> dict[str, Any]:
    function = call.get("function") or {}
    name = str(function.get("name") or "")
    try:
        arguments = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        raise InvalidRequestError(
            "tool call arguments must be a JSON object", param=f"messages[{index}].tool_calls"
        ) from None
    if call.get("id"):
        names[str(call["id"])] = name
    return {"functionCall": {"name": name, "arguments": arguments if isinstance(arguments, dict) else {}}}


def _tool_result(
    message: dict[str, Any], index: int, names: dict[str, str], out: list[dict[str, Any]]
) -> dict[str, Any]:
    name = names.get(str(message.get("tool_call_id")))
    if name is None:
        raise InvalidRequestError(
            "tool_call_id answers no tool call of an earlier assistant message",
            param=f"messages[{index}].tool_call_id",
        )
    result = {"functionResult": {"name": name, "content": _text(message.get("content"), index)}}
    if out and "toolResultList" in out[-1]:
        out[-1]["toolResultList"]["toolResults"].append(result)
        return {}
    return {"role": "user", "toolResultList": {"toolResults": [result]}}


def _add_tools(out: dict[str, Any], body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if not tools:
        return
    out["tools"] = [{"function": tool.get("function") or {}} for tool in tools if isinstance(tool, dict)]
    choice = body.get("tool_choice")
    if choice in ("auto", "none", "required"):
        out["toolChoice"] = {"mode": choice.upper()}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out["toolChoice"] = {"functionName": str(choice["function"].get("name") or "")}
    elif choice is not None:
        raise InvalidRequestError(
            "tool_choice must be auto, none, required or a function", param="tool_choice"
        )
    if body.get("parallel_tool_calls") is not None:
        out["parallelToolCalls"] = bool(body["parallel_tool_calls"])


def _add_format(out: dict[str, Any], value: Any) -> None:
    if not isinstance(value, dict) or value.get("type") in (None, "text"):
        return
    if value["type"] == "json_object":
        out["jsonObject"] = True
    elif value["type"] == "json_schema":
        out["jsonSchema"] = {"schema": (value.get("json_schema") or {}).get("schema") or {}}
    else:
        raise InvalidRequestError(
            f"yandexgpt has no response_format {value['type']!r}", param="response_format"
        )
