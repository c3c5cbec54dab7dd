"""Fast structural checks of OpenAI requests, naming the offending field.

Hand-written on purpose: the body is parsed once with orjson and checked here in one pass;
building pydantic models of every message on the hot path would cost more than the proxying.
Only what would otherwise fail later (or upstream, less clearly) is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polyroute.errors import InvalidRequestError, invalid_value

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal")
TOOL_CHOICES = ("none", "auto", "required")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(
            "you must provide a model parameter", param="model", code="missing_required_parameter"
        )
    return model


MAX_MODEL_NAME_CHARS = 256
MAX_FALLBACKS = 64
_FALLBACK_FIELDS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")


def check_model_names(body: dict[str, Any]) -> None:
    """The model names a request carries are bounded and printable: they end up in response
    headers (a control character there made the server drop the connection), log lines, error
    messages and metric labels. Runs before anything else reads them."""
    _check_model_name(body.get("model"), "model")
    for field in _FALLBACK_FIELDS:
        value = body.get(field)
        if not isinstance(value, list):
            continue  # not a list: the route's own check names it
        if len(value) > MAX_FALLBACKS:
            raise invalid_value(field, f"at most {MAX_FALLBACKS} models")
        for i, item in enumerate(value):
            _check_model_name(item.get("model") if isinstance(item, dict) else item, f"{field}[{i}]")


def _check_model_name(name: Any, param: str) -> None:
    if isinstance(name, str) and (len(name) > MAX_MODEL_NAME_CHARS or not name.isprintable()):
        raise invalid_value(
            param, f"expected a model name of at most {MAX_MODEL_NAME_CHARS} printable characters"
        )


def _check_number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is not None and (not _is_number(value) or not low <= value <= high):
        raise invalid_value(name, f"expected a number from {low:g} to {high:g}")


def _check_int(body: dict[str, Any], name: str, low: int, high: int | None = None) -> None:
    value = body.get(name)
    if value is not None and (not _is_int(value) or value < low or (high is not None and value > high)):
        raise invalid_value(
            name, f"expected an integer {'>= ' + str(low) if high is None else f'from {low} to {high}'}"
        )


def _check_stream(body: dict[str, Any], name: str) -> None:
    if not isinstance(body[name], bool | None):
        raise invalid_value(name, "expected a boolean")


def _check_stop(body: dict[str, Any], name: str) -> None:
    stop = body[name]
    if (
        stop is not None
        and not isinstance(stop, str)
        and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise invalid_value(name, "expected a string or a list of strings")


def _check_object(body: dict[str, Any], name: str) -> None:
    if body[name] is not None and not isinstance(body[name], dict):
        raise invalid_value(name, "expected an object")


def _check_string(body: dict[str, Any], name: str) -> None:
    if body[name] is not None and not isinstance(body[name], str):
        raise invalid_value(name, "expected a string")


def _number(low: float, high: float) -> Callable[[dict[str, Any], str], None]:
    return lambda body, name: _check_number(body, name, low, high)


def _integer(low: int, high: int | None = None) -> Callable[[dict[str, Any], str], None]:
    return lambda body, name: _check_int(body, name, low, high)


# One check per sampling key; only the keys a request carries are looked at.
_SAMPLING_CHECKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "stream": _check_stream,
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2),
    "n": _integer(1, 128),
    "max_tokens": _integer(1),
    "max_completion_tokens": _integer(1),
    "seed": _integer(-(2**63), 2**64),
    "top_logprobs": _integer(0, 20),
    "stop": _check_stop,
    "stream_options": _check_object,
    "user": _check_string,
}


def _check_sampling(body: dict[str, Any]) -> None:
    for key in body:
        check = _SAMPLING_CHECKS.get(key)
        if check is not None:
            check(body, key)


def _check_content(content: Any, where: str, role: str) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid_value(f"{where}.content", "expected a string or a list of content parts")
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(part, dict):
            raise invalid_value(at, "expected a content part object")
        kind = part.get("type")
        if kind not in PART_TYPES:
            raise invalid_value(f"{at}.type", f"expected one of {', '.join(PART_TYPES)}")
        if kind == "text" and not isinstance(part.get("text"), str):
            raise invalid_value(f"{at}.text", "expected a string")
        if kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise invalid_value(f"{at}.image_url.url", "expected an image URL or data URL")


def _check_tool_calls(calls: Any, where: str) -> None:
    if not isinstance(calls, list):
        raise invalid_value(f"{where}.tool_calls", "expected a list")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict):
            raise invalid_value(at, "expected an object")
        if not isinstance(call.get("id"), str):
            raise invalid_value(f"{at}.id", "expected a string")
        fn = call.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise invalid_value(f"{at}.function.name", "expected a string")
        if not isinstance(fn.get("arguments", ""), str):
            raise invalid_value(f"{at}.function.arguments", "expected a JSON string")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError(
            "'messages' must be a non-empty list", param="messages", code="missing_required_parameter"
        )
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid_value(where, "expected a message object")
        role = message.get("role")
        if role not in ROLES:
            raise invalid_value(f"{where}.role", f"expected one of {', '.join(ROLES)}")
        _check_content(message.get("content"), where, role)
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise invalid_value(f"{where}.tool_call_id", "a tool message needs the id of the call it answers")
        if role == "assistant" and message.get("tool_calls") is not None:
            _check_tool_calls(message["tool_calls"], where)
        elif message.get("content") is None and role not in ("assistant", "function"):
            raise invalid_value(f"{where}.content", "expected a string or a list of content parts")


def _check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid_value("tools", "expected a list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or tool.get("type", "function") != "function":
                raise invalid_value(f"tools[{i}].type", "expected 'function'")
            fn = tool.get("function")
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                raise invalid_value(f"tools[{i}].function.name", "expected a non-empty string")
            if fn.get("parameters") is not None and not isinstance(fn["parameters"], dict):
                raise invalid_value(f"tools[{i}].function.parameters", "expected a JSON schema object")
    choice = body.get("tool_choice")
    if choice is not None and choice not in TOOL_CHOICES:
        fn = choice.get("function") if isinstance(choice, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise invalid_value(
                "tool_choice", "expected none, auto, required or {type: function, function: {name}}"
            )
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise invalid_value("response_format.type", "expected text, json_object or json_schema")
        if kind == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
            raise invalid_value("response_format.json_schema", "expected an object with name and schema")


def validate_chat(body: dict[str, Any]) -> None:
    require_model(body)
    _check_messages(body.get("messages"))
    _check_sampling(body)
    _check_tools(body)


def validate_completion(body: dict[str, Any]) -> None:
    require_model(body)
    prompt = body.get("prompt")
    if prompt is None:
        raise InvalidRequestError("'prompt' is required", param="prompt", code="missing_required_parameter")
    if not isinstance(prompt, str) and not (isinstance(prompt, list) and prompt):
        raise invalid_value("prompt", "expected a string or a non-empty list")
    _check_sampling(body)


def validate_embeddings(body: dict[str, Any]) -> None:
    require_model(body)
    value = body.get("input")
    if isinstance(value, str):
        if not value:
            raise invalid_value("input", "must not be empty")
        return
    if not isinstance(value, list) or not value:
        raise InvalidRequestError("'input' must be a string or a non-empty list", param="input")
    _check_input_items(value)
    _check_int(body, "dimensions", 1)


def _check_input_items(items: list[Any]) -> None:
    """OpenAI's forms: a list of strings, one list of token ids, or a list of lists of token ids
    (anything else reached the providers' batching as a TypeError, a 500)."""
    if all(_is_int(item) for item in items):
        return
    for i, item in enumerate(items):
        if isinstance(item, str) or (isinstance(item, list) and item and all(map(_is_int, item))):
            continue
        raise invalid_value(f"input[{i}]", "expected strings, token ids, or non-empty lists of token ids")


def check_depth(value: Any, limit: int) -> None:
    """Refuses JSON nested deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise InvalidRequestError(
                f"request JSON is nested deeper than {limit} levels", param=None, code="too_deep"
            )
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
