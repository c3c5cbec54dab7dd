"""A Responses request (`POST /v1/responses`) as the OpenAI chat body every adapter takes.

`input` is a string (one user message) or a list of items:

* `message` items (the `type` may be left out, as the SDK's "easy" messages do) with role user,
  assistant, system or developer; content a string or parts: `input_text`, `input_image`
  (`image_url`, a URL or a data URL), `input_file` (`file_data`), and for assistant messages
  `output_text` / `refusal`.
* `function_call` items become the assistant message's `tool_calls` (consecutive calls, and calls
  right after an assistant message, join that one message); `function_call_output` items become
  `tool` messages and must answer a call made earlier in the input.
* `reasoning` items are dropped: only OpenAI can read them, and to OpenAI the request goes
  natively (native.py), untranslated.

`previous_response_id` is resolved before this runs (store/responses_store.py `expand`), so the
chain's items are already in `input` here. Errors name the client's own field
(`input[1].call_id`, `tools[0].type`).
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError

MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
TOOL_CHOICE_WORDS = frozenset({"auto", "none", "required"})
# Responses fields with a chat counterpart, translated below (never passed through as they are).
TRANSLATED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "text",
        "reasoning",
        "max_output_tokens",
        "stream",
    }
)
# Responses fields that mean the same in chat: copied as they are.
SAME_IN_CHAT = frozenset(
    {
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "metadata",
        "user",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
    }
)
# Responses fields the gateway accepts and does not forward: the store's own (`store`,
# `previous_response_id`, resolved by then) and what only changes OpenAI's hosted behaviour
# (`include`: extra output data; `truncation`: the gateway never truncates; `stream_options`:
# obfuscation padding; `top_logprobs`: the answer carries no logprobs; `max_tool_calls`:
# built-in tools only).
IGNORED = frozenset(
    {
        "store",
        "previous_response_id",
        "include",
        "truncation",
        "stream_options",
        "top_logprobs",
        "max_tool_calls",
        "prompt_cache_retention",
    }
)
# Responses features that only OpenAI's own service can honour: a 400 naming them.
OPENAI_ONLY = {
    "background": "background responses",
    "conversation": "conversations",
    "prompt": "stored prompt templates",
}


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat body for a Responses request (see the module docstring)."""
    chat: dict[str, Any] = {}
    for key, value in body.items():
        if key in TRANSLATED or key in IGNORED:
            continue
        if key in OPENAI_ONLY:
            if value not in (None, False):
                raise InvalidRequestError(
                    f"'{key}' ({OPENAI_ONLY[key]}) is served only by OpenAI's own Responses API; "
                    "this model is not",
                    param=key,
                )
            continue
        # Same-named chat params, gateway keys (fallbacks, num_retries, ...) and provider-specific
        # keys pass through, as on /v1/chat/completions.
        chat[key] = value
    if "model" in body:
        chat["model"] = body["model"]
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidRequestError("'instructions' must be a string", param="instructions")
        messages.append({"role": "system", "content": instructions})
    messages.extend(input_messages(body.get("input")))
    chat["messages"] = messages
    if body.get("tools"):
        chat["tools"] = chat_tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = chat_tool_choice(body["tool_choice"])
    _text(body.get("text"), chat)
    _reasoning(body.get("reasoning"), chat)
    if body.get("max_output_tokens") is not None:
        limit = body["max_output_tokens"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidRequestError(
                "'max_output_tokens' must be a positive integer", param="max_output_tokens"
            )
        # Chat's max_tokens is the one every provider takes; like Responses' field it bounds the
        # whole output (reasoning models count their reasoning in it).
        chat["max_tokens"] = limit
    if body.get("stream"):
        chat["stream"] = True
        # The usage chunk feeds response.completed's usage.
        chat["stream_options"] = {"include_usage": True}
    return chat


# ---- input ---------------------------------------------------------------------------------------


def input_messages(value: Any) -> list[dict[str, Any]]:
    """Chat messages for `input` (a string or a list of items)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise InvalidRequestError("'input' must be a string or a non-empty list of items", param="input")
    messages: list[dict[str, Any]] = []
    call_ids: set[str] = set()
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequestError(f"'{where}' must be an object", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            call = _function_call(item, where)
            call_ids.add(call["id"])
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(_function_call_output(item, where, call_ids))
        elif kind == "reasoning":
            continue  # OpenAI's own reasoning state: no other provider can read it
        elif kind == "item_reference":
            raise InvalidRequestError(
                f"'{where}.type' item_reference is not supported: send the item itself, or "
                "previous_response_id to continue a stored response",
                param=f"{where}.type",
            )
        else:
            raise InvalidRequestError(
                f"'{where}.type' {kind!r} is not an input item this model can take (message, "
                "function_call, function_call_output, reasoning)",
                param=f"{where}.type",
            )
    return messages


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if not isinstance(role, str) or role not in MESSAGE_ROLES:
        raise InvalidRequestError(
            f"'{where}.role' must be one of user, assistant, system, developer", param=f"{where}.role"
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"'{where}.content' must be a string or a list of content parts", param=f"{where}.content"
        )
    if role == "assistant":
        return {"role": role, "content": _assistant_text(content, where)}
    parts = [_input_part(part, f"{where}.content[{j}]", role) for j, part in enumerate(content)]
    return {"role": role, "content": parts}


def _assistant_text(parts: list[Any], where: str) -> str:
    texts = []
    for j, part in enumerate(parts):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("output_text", "input_text"):
            texts.append(_string(part, "text", at))
        elif kind == "refusal":
            texts.append(_string(part, "refusal", at))
        else:
            raise InvalidRequestError(
                f"'{at}.type' must be output_text or refusal in an assistant message", param=f"{at}.type"
            )
    return "".join(texts)


def _input_part(part: Any, where: str, role: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "input_text" or (kind == "output_text" and role != "user"):
        return {"type": "text", "text": _string(part, "text", where)}
    if role in ("system", "developer"):
        raise InvalidRequestError(
            f"'{where}.type' must be input_text in a {role} message", param=f"{where}.type"
        )
    if kind == "input_image":
        if part.get("file_id"):
            raise InvalidRequestError(
                f"'{where}.file_id': the gateway has no file storage; send the image as image_url "
                "(a URL or a data: URL)",
                param=f"{where}.file_id",
            )
        url = _string(part, "image_url", where)
        image: dict[str, Any] = {"url": url}
        if part.get("detail") is not None:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if part.get("file_id") or part.get("file_url"):
            field = "file_id" if part.get("file_id") else "file_url"
            raise InvalidRequestError(
                f"'{where}.{field}': the gateway has no file storage; send the file as file_data",
                param=f"{where}.{field}",
            )
        file: dict[str, Any] = {"file_data": _string(part, "file_data", where)}
        if part.get("filename") is not None:
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    raise InvalidRequestError(
        f"'{where}.type' must be input_text, input_image or input_file", param=f"{where}.type"
    )


def _function_call(item: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = _string(item, "call_id", where)
    name = _string(item, "name", where)
    arguments = item.get("arguments", "")
    if not isinstance(arguments, str):
        raise InvalidRequestError(f"'{where}.arguments' must be a string of JSON", param=f"{where}.arguments")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _function_call_output(item: dict[str, Any], where: str, call_ids: set[str]) -> dict[str, Any]:
    call_id = _string(item, "call_id", where)
    if call_id not in call_ids:
        raise InvalidRequestError(
            f"'{where}.call_id' {call_id!r} answers no function_call earlier in the input",
            param=f"{where}.call_id",
        )
    output = item.get("output")
    if isinstance(output, list):
        texts = []
        for j, part in enumerate(output):
            at = f"{where}.output[{j}]"
            if not isinstance(part, dict) or part.get("type") != "input_text":
                raise InvalidRequestError(
                    f"'{at}.type': a function output's parts must be input_text here", param=f"{at}.type"
                )
            texts.append(_string(part, "text", at))
        output = "".join(texts)
    if not isinstance(output, str):
        raise InvalidRequestError(f"'{where}.output' must be a string", param=f"{where}.output")
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def _string(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or (key != "text" and not value):
        raise InvalidRequestError(f"'{where}.{key}' must be a non-empty string", param=f"{where}.{key}")
    return value


# ---- tools, output format, reasoning -------------------------------------------------------------


def chat_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequestError("'tools' must be a list", param="tools")
    out = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise InvalidRequestError(
                f"'{where}.type' {kind!r}: built-in tools run only on OpenAI's own Responses API; "
                "this model takes function tools only",
                param=f"{where}.type",
            )
        function: dict[str, Any] = {"name": _string(tool, "name", where)}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, str) and choice in TOOL_CHOICE_WORDS:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": _string(choice, "name", "tool_choice")}}
    raise InvalidRequestError(
        '\'tool_choice\' must be auto, none, required or {"type": "function", "name": ...} for this model',
        param="tool_choice",
    )


def _text(text: Any, chat: dict[str, Any]) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise InvalidRequestError("'text' must be an object", param="text")
    if text.get("verbosity") is not None:
        chat["verbosity"] = text["verbosity"]
    fmt = text.get("format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
        return
    if kind == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequestError("'text.format.schema' must be an object", param="text.format.schema")
        json_schema: dict[str, Any] = {"name": _string(fmt, "name", "text.format"), "schema": schema}
        for key in ("description", "strict"):
            if fmt.get(key) is not None:
                json_schema[key] = fmt[key]
        chat["response_format"] = {"type": "json_schema", "json_schema": json_schema}
        return
    raise InvalidRequestError(
        "'text.format.type' must be text, json_object or json_schema", param="text.format.type"
    )


def _reasoning(reasoning: Any, chat: dict[str, Any]) -> None:
    if reasoning is None:
        return
    if not isinstance(reasoning, dict):
        raise InvalidRequestError("'reasoning' must be an object", param="reasoning")
    if reasoning.get("effort") is not None:
        chat["reasoning_effort"] = reasoning["effort"]
