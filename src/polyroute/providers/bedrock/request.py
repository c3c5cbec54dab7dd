"""OpenAI chat request -> Bedrock Converse request body.

Converse takes `messages` (roles `user`/`assistant` strictly alternating, content blocks `text`,
`image`, `toolUse`, `toolResult`), `system` (text blocks), `inferenceConfig` (`maxTokens`,
`temperature`, `topP`, `stopSequences`), `toolConfig` (`tools` of `toolSpec` with
`inputSchema.json`, `toolChoice` `auto`/`any`/`tool`) and `additionalModelRequestFields` for a
model's own parameters. OpenAI's tool messages become `toolResult` blocks in a user turn; turns
of the same role next to each other are merged, as Converse refuses them otherwise.

Images must be inline (base64 `data:` URLs): Bedrock does not fetch URLs. Keys that are not
OpenAI params go to `additionalModelRequestFields` unchanged (a model's own settings, e.g.
`top_k`, `thinking`).
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import InvalidRequestError, UnsupportedParamsError
from polyroute.protocol.openai_params import CHAT_PARAMS

#: OpenAI chat params Converse can carry. `user`, `stream_options` are accepted and not sent.
SUPPORTED_CHAT_PARAMS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "temperature",
        "top_p",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "stream",
        "stream_options",
        "user",
    }
)
IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def build_body(body: dict[str, Any]) -> dict[str, Any]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            system += [{"text": text} for text in _texts(message.get("content"), f"messages[{i}].content")]
            continue
        role, blocks = _turn(message, i)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = system
    inference = _inference_config(body)
    if inference:
        out["inferenceConfig"] = inference
    tool_config = _tool_config(body)
    if tool_config:
        out["toolConfig"] = tool_config
    extra = {k: v for k, v in body.items() if k not in CHAT_PARAMS}
    if extra:
        out["additionalModelRequestFields"] = extra
    return out


def _turn(message: dict[str, Any], i: int) -> tuple[str, list[dict[str, Any]]]:
    role = message.get("role")
    where = f"messages[{i}]"
    if role == "user":
        return "user", _user_blocks(message.get("content"), f"{where}.content")
    if role == "assistant":
        blocks = [{"text": t} for t in _texts(message.get("content"), f"{where}.content")]
        for j, call in enumerate(message.get("tool_calls") or []):
            blocks.append(_tool_use(call, f"{where}.tool_calls[{j}]"))
        if not blocks:
            raise InvalidRequestError(f"{where} has no content", param=f"{where}.content")
        return "assistant", blocks
    if role in ("tool", "function"):
        call_id = message.get("tool_call_id") or message.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError(f"{where}.tool_call_id is required", param=f"{where}.tool_call_id")
        text = "".join(_texts(message.get("content"), f"{where}.content"))
        result = {"toolUseId": call_id, "content": [{"text": text}]}
        return "user", [{"toolResult": result}]
    raise InvalidRequestError(f"{where}.role '{role}' is not supported", param=f"{where}.role")


def _texts(content: Any, where: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where} must be a string or a list of parts", param=where)
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text":
            raise InvalidRequestError(f"{where}[{j}] must be a text part here", param=f"{where}[{j}]")
        if part.get("text"):
            texts.append(str(part["text"]))
    return texts


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list) or not content:
        raise InvalidRequestError(f"{where} must be a string or a non-empty list of parts", param=where)
    blocks = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"text": str(part["text"])})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), f"{where}[{j}].image_url"))
        else:
            raise UnsupportedParamsError(f"bedrock does not accept '{kind}' parts", param=f"{where}[{j}]")
    return blocks


def _image(image: Any, where: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url.startswith("data:"):
        raise InvalidRequestError(
            "bedrock takes images inline only: send a base64 data: URL (it does not fetch URLs)",
            param=f"{where}.url",
        )
    header, sep, data = url[len("data:") :].partition(",")
    media_type, _, encoding = header.partition(";")
    image_format = IMAGE_FORMATS.get(media_type.lower())
    if not sep or encoding != "base64" or image_format is None:
        raise InvalidRequestError(
            "images must be base64 data: URLs of png, jpeg, gif or webp", param=f"{where}.url"
        )
    # Converse's JSON carries the bytes base64-encoded: the client's encoding goes on as it came.
    return {"image": {"format": image_format, "source": {"bytes": data}}}


def _tool_use(call: Any, where: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not function.get("name"):
        raise InvalidRequestError(f"{where}.function.name is required", param=f"{where}.function.name")
    try:
        arguments = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        raise InvalidRequestError(
            f"{where}.function.arguments is not valid JSON", param=f"{where}.function.arguments"
        ) from None
    return {"toolUse": {"toolUseId": str(call.get("id") or ""), "name": function["name"], "input": arguments}}


def _inference_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    return config


def _tool_config(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None  # Converse has no "none": leaving the tools out is the same
    specs = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise InvalidRequestError(f"tools[{i}].function.name is required", param=f"tools[{i}].function")
        spec: dict[str, Any] = {
            "name": function["name"],
            "inputSchema": {"json": function.get("parameters") or {"type": "object", "properties": {}}},
        }
        if function.get("description"):
            spec["description"] = function["description"]
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not name:
            raise InvalidRequestError("tool_choice.function.name is required", param="tool_choice")
        config["toolChoice"] = {"tool": {"name": name}}
    elif choice not in (None, "auto"):
        raise InvalidRequestError(
            "tool_choice must be 'auto', 'required', 'none' or a function", param="tool_choice"
        )
    return config
