"""OpenAI chat request -> Gemini `GenerateContentRequest` body.

Messages become `contents` (roles `user`/`model`, consecutive same-role turns merged) plus a
`systemInstruction`; OpenAI sampling params become `generationConfig`. Keys that are not OpenAI
params are Gemini-native and are merged into the body (dicts merged key by key), so
`safetySettings`, `cachedContent` or `generationConfig` fragments reach the upstream unchanged.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from polyroute.errors import InvalidRequestError
from polyroute.protocol.openai_params import CHAT_PARAMS, GATEWAY_KEYS

#: OpenAI reasoning_effort -> Gemini thinkingBudget (tokens). "minimal"/"none" turn thinking off
#: on models that allow it (2.5 Flash); models that cannot stop thinking answer 400 upstream.
THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}

#: JSON-schema keywords Gemini's Schema object rejects.
_UNSUPPORTED_SCHEMA_KEYS = frozenset({"additionalProperties", "$schema", "strict"})
#: Schema keywords whose value maps names (not keywords) to sub-schemas.
_NAMED_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})

#: Gemini-native top-level keys clients may send in snake_case: normalised to the camelCase we
#: build, so a client's fragment merges with ours instead of sitting beside it as a duplicate.
_NATIVE_ALIASES = {
    "safety_settings": "safetySettings",
    "cached_content": "cachedContent",
    "generation_config": "generationConfig",
    "tool_config": "toolConfig",
    "system_instruction": "systemInstruction",
}
#: Gemini generationConfig fields clients commonly send at the top level.
_GENERATION_ALIASES = {"top_k": "topK", "topK": "topK"}


def to_gemini_body(body: dict[str, Any]) -> dict[str, Any]:
    """The Gemini request body for one OpenAI chat request (already merged with defaults)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("'messages' must be a non-empty list", param="messages")
    system_parts, contents = _convert_messages(messages)
    if not contents:
        # Gemini answers 400 for empty `contents`; say why in OpenAI's terms instead.
        raise InvalidRequestError("gemini needs at least one user or assistant message", param="messages")
    out: dict[str, Any] = {"contents": contents}
    if system_parts:
        out["systemInstruction"] = {"parts": system_parts}
    tools = _convert_tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    tool_config = _convert_tool_choice(body.get("tool_choice"))
    if tool_config:
        out["toolConfig"] = tool_config
    generation = _generation_config(body)
    if generation:
        out["generationConfig"] = generation
    _merge_native_keys(out, body)
    return out


# ---- messages ------------------------------------------------------------------------------------


def _convert_messages(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system_parts: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    tool_names: dict[str, str] = {}  # tool_call_id -> function name, from earlier assistant turns
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            system_parts.extend(_text_parts(message.get("content"), i))
            continue
        if role == "user":
            parts = _content_parts(message.get("content"), i)
            gemini_role = "user"
        elif role == "assistant":
            parts = _assistant_parts(message, i, tool_names)
            gemini_role = "model"
        elif role in ("tool", "function"):
            parts = [_function_response_part(message, i, tool_names)]
            gemini_role = "user"
        else:
            raise InvalidRequestError(
                f"messages[{i}].role '{role}' is not supported", param=f"messages[{i}].role"
            )
        if not parts:
            # Gemini rejects a turn without parts; an empty assistant turn carries nothing anyway.
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    return system_parts, contents


def _text_parts(content: Any, i: int) -> list[dict[str, Any]]:
    """Text-only content (system messages): a string or a list of text parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise InvalidRequestError(
                    "system messages may only hold text parts", param=f"messages[{i}].content[{j}]"
                )
            parts.append({"text": str(part.get("text") or "")})
        return parts
    raise InvalidRequestError("message content must be a string or a list", param=f"messages[{i}].content")


def _content_parts(content: Any, i: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequestError(
            "message content must be a string or a list", param=f"messages[{i}].content"
        )
    parts = []
    for j, part in enumerate(content):
        param = f"messages[{i}].content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": str(part.get("text") or "")})
        elif kind == "refusal":  # an earlier assistant refusal, replayed as history
            parts.append({"text": str(part.get("refusal") or "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media_part(url, param + ".image_url.url", default_mime="image/jpeg"))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            fmt = str(audio.get("format") or "wav")
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": audio.get("data") or ""}})
        elif kind == "file":
            file = part.get("file") or {}
            data = file.get("file_data")
            if not isinstance(data, str):
                raise InvalidRequestError(
                    "file parts need file_data (a data: URL)", param=param + ".file.file_data"
                )
            parts.append(_media_part(data, param + ".file.file_data", default_mime="application/pdf"))
        else:
            raise InvalidRequestError(f"content part type '{kind}' is not supported", param=param + ".type")
    return parts


def _media_part(url: Any, param: str, default_mime: str) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise InvalidRequestError("a media part needs a URL", param=param)
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        if not sep or ";base64" not in header:
            raise InvalidRequestError("data: URLs must be base64-encoded", param=param)
        mime = header.split(";", 1)[0] or default_mime
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url.startswith(("http://", "https://", "gs://")):
        path = url.split("?", 1)[0].split("#", 1)[0]
        mime = mimetypes.guess_type(path)[0] or default_mime
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    raise InvalidRequestError("media URLs must be data:, http(s): or gs: URLs", param=param)


def _assistant_parts(message: dict[str, Any], i: int, tool_names: dict[str, str]) -> list[dict[str, Any]]:
    parts = _content_parts(message.get("content"), i)
    tool_calls = message.get("tool_calls") or []
    for j, call in enumerate(tool_calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise InvalidRequestError(
                "tool calls need function.name", param=f"messages[{i}].tool_calls[{j}].function.name"
            )
        name = str(function["name"])
        args = _parse_arguments(
            function.get("arguments"), f"messages[{i}].tool_calls[{j}].function.arguments"
        )
        if call.get("id"):
            tool_names[str(call["id"])] = name
        parts.append({"functionCall": {"name": name, "args": args}})
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and legacy.get("name"):
        args = _parse_arguments(legacy.get("arguments"), f"messages[{i}].function_call.arguments")
        parts.append({"functionCall": {"name": str(legacy["name"]), "args": args}})
    return parts


def _parse_arguments(raw: Any, param: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        raise InvalidRequestError("tool call arguments are not valid JSON", param=param) from None
    if not isinstance(value, dict):
        raise InvalidRequestError("tool call arguments must be a JSON object", param=param)
    return value


def _function_response_part(message: dict[str, Any], i: int, tool_names: dict[str, str]) -> dict[str, Any]:
    if message.get("role") == "function":  # legacy function-calling: the name is on the message
        name = message.get("name")
        if not name:
            raise InvalidRequestError("function messages need a name", param=f"messages[{i}].name")
    else:
        call_id = message.get("tool_call_id")
        name = tool_names.get(str(call_id)) if call_id is not None else None
        if name is None:
            raise InvalidRequestError(
                f"tool_call_id '{call_id}' matches no earlier assistant tool call",
                param=f"messages[{i}].tool_call_id",
            )
    text = _tool_result_text(message.get("content"), i)
    try:
        parsed = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        parsed = None
    result = parsed if isinstance(parsed, dict) else {"result": text}
    return {"functionResponse": {"name": str(name), "response": {"content": result}}}


def _tool_result_text(content: Any, i: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    raise InvalidRequestError(
        "tool message content must be a string or a list", param=f"messages[{i}].content"
    )


# ---- tools ---------------------------------------------------------------------------------------


def clean_schema(schema: Any) -> Any:
    """A copy of a JSON schema without the keywords Gemini rejects, at every depth."""
    if isinstance(schema, list):
        return [clean_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _UNSUPPORTED_SCHEMA_KEYS:
            continue
        if key in _NAMED_SCHEMA_MAPS and isinstance(value, dict):
            # Keys here are property names: a property called "strict" must survive.
            cleaned[key] = {name: clean_schema(sub) for name, sub in value.items()}
        else:
            cleaned[key] = clean_schema(value)
    return cleaned


def _convert_tools(tools: Any) -> list[dict[str, Any]]:
    if not tools:
        return []
    if not isinstance(tools, list):
        raise InvalidRequestError("'tools' must be a list", param="tools")
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise InvalidRequestError("each tool must be an object", param=f"tools[{i}]")
        if "type" not in tool:
            native.append(tool)  # a Gemini tool as is, e.g. {"googleSearch": {}}
            continue
        if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise InvalidRequestError(
                f"tool type '{tool.get('type')}' is not supported", param=f"tools[{i}].type"
            )
        function = tool["function"]
        if not function.get("name"):
            raise InvalidRequestError("tools need function.name", param=f"tools[{i}].function.name")
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            declaration["parameters"] = clean_schema(function["parameters"])
        declarations.append(declaration)
    out: list[dict[str, Any]] = [{"functionDeclarations": declarations}] if declarations else []
    return out + native


def _convert_tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if isinstance(choice, str):
        if choice not in modes:
            raise InvalidRequestError(f"tool_choice '{choice}' is not supported", param="tool_choice")
        return {"functionCallingConfig": {"mode": modes[choice]}}
    if (
        isinstance(choice, dict)
        and isinstance(choice.get("function"), dict)
        and choice["function"].get("name")
    ):
        name = choice["function"]["name"]
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise InvalidRequestError("tool_choice must be auto, none, required or a function", param="tool_choice")


# ---- generation config ---------------------------------------------------------------------------


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    simple = {
        "temperature": "temperature",
        "top_p": "topP",
        "n": "candidateCount",
        "seed": "seed",
        "presence_penalty": "presencePenalty",
        "frequency_penalty": "frequencyPenalty",
        "logprobs": "responseLogprobs",
        "top_logprobs": "logprobs",
    }
    for key, wire_key in simple.items():
        if body.get(key) is not None:
            config[wire_key] = body[key]
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    _response_format(body.get("response_format"), config)
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in THINKING_BUDGETS:
            raise InvalidRequestError(
                f"reasoning_effort '{effort}' is not supported", param="reasoning_effort"
            )
        config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS[effort]}
    return config


def _response_format(fmt: Any, config: dict[str, Any]) -> None:
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        config["responseMimeType"] = "application/json"
        if isinstance(spec, dict) and spec.get("schema") is not None:
            config["responseSchema"] = clean_schema(spec["schema"])
        return
    raise InvalidRequestError(f"response_format type '{kind}' is not supported", param="response_format")


# ---- Gemini-native pass-through ------------------------------------------------------------------


def _merge_native_keys(out: dict[str, Any], body: dict[str, Any]) -> None:
    for key, value in body.items():
        if key in CHAT_PARAMS or key in GATEWAY_KEYS:
            continue
        if key in _GENERATION_ALIASES:
            out.setdefault("generationConfig", {})[_GENERATION_ALIASES[key]] = value
            continue
        wire_key = _NATIVE_ALIASES.get(key, key)
        out[wire_key] = _deep_merge(out.get(wire_key), value)


def _deep_merge(ours: Any, theirs: Any) -> Any:
    """The client's value wins; where both are objects, they merge key by key."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        merged = dict(ours)
        for key, value in theirs.items():
            merged[key] = _deep_merge(merged.get(key), value)
        return merged
    return theirs
