"""OpenAI chat request -> Anthropic Messages request body.

OpenAI params Anthropic cannot take are not in `SUPPORTED_CHAT_PARAMS`; the server drops or
refuses them before translation, and this module never copies a known OpenAI param it does not
translate. Keys that are not OpenAI params (`top_k`, `thinking`, `system`, `stop_sequences`, ...)
are Anthropic-native: they go into the body unchanged and win over translated values.
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError, UnsupportedParamsError
from polyroute.protocol.openai_params import CHAT_PARAMS, GATEWAY_KEYS
from polyroute.providers.anthropic.cache_points import inject_cache_points
from polyroute.providers.anthropic.messages import convert_messages
from polyroute.providers.anthropic.structured import JSON_TOOL_NAME, structured_output_tool
from polyroute.providers.base import ProviderCall

DEFAULT_MAX_TOKENS = 4096

#: OpenAI `reasoning_effort` -> Anthropic `thinking.budget_tokens` (1024 is Anthropic's minimum)
THINKING_BUDGETS: dict[str, int] = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}

UNSUPPORTED_CHAT_PARAMS: frozenset[str] = frozenset(
    {
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "service_tier",
        "functions",
        "function_call",
        "modalities",
        "audio",
        "prediction",
        "store",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
    }
)
SUPPORTED_CHAT_PARAMS: frozenset[str] = CHAT_PARAMS - UNSUPPORTED_CHAT_PARAMS


def build_body(call: ProviderCall, body: dict[str, Any], stream: bool) -> dict[str, Any]:
    """The Anthropic `/v1/messages` JSON body for one OpenAI chat request."""
    request = {**call.defaults, **body} if call.defaults else body
    n = request.get("n")
    if n is not None and n != 1:
        raise UnsupportedParamsError("anthropic returns one choice per request; n must be 1", param="n")
    chat_messages = request.get("messages")
    points = call.extras.get("cache_control_injection_points")
    if points:
        chat_messages = inject_cache_points(chat_messages, points)
    system, messages = convert_messages(chat_messages)
    out: dict[str, Any] = {"model": call.model, "messages": messages}
    if system is not None:
        out["system"] = system

    thinking = _thinking(request.get("reasoning_effort"))
    native_thinking = request.get("thinking")  # an Anthropic-native `thinking` replaces the translated one
    effective = native_thinking if isinstance(native_thinking, dict) else thinking
    out["max_tokens"] = _max_tokens(call, request, _budget(effective))
    if thinking is not None:
        out["thinking"] = thinking
    for key in ("temperature", "top_p"):
        if request.get(key) is not None:
            out[key] = request[key]
    stop = request.get("stop")
    if stop is not None:
        out["stop_sequences"] = _stop_sequences(stop)
    user_id = _user_id(request)
    if user_id is not None:
        out["metadata"] = {"user_id": user_id}
    thinking_on = isinstance(effective, dict) and effective.get("type") in ("enabled", "adaptive")
    _add_tools(out, request, thinking_on=thinking_on)
    if stream:
        out["stream"] = True

    for key, value in request.items():
        if key not in CHAT_PARAMS and key not in GATEWAY_KEYS:
            out[key] = value
    return out


def _max_tokens(call: ProviderCall, request: dict[str, Any], budget: int | None) -> int:
    value = request.get("max_completion_tokens")
    param = "max_completion_tokens"
    if value is None:
        value, param = request.get("max_tokens"), "max_tokens"
    if value is None:
        default = int(call.extras.get("default_max_tokens", DEFAULT_MAX_TOKENS))
        # Anthropic counts thinking inside max_tokens and wants max_tokens > budget_tokens.
        return default + budget if budget else default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequestError(f"{param} must be a positive integer", param=param)
    if budget and value <= budget:
        raise InvalidRequestError(
            f"{param} ({value}) must exceed the thinking budget ({budget} tokens) on anthropic", param=param
        )
    return value


def _stop_sequences(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        return list(stop)
    raise InvalidRequestError("stop must be a string or an array of strings", param="stop")


def _thinking(effort: Any) -> dict[str, Any] | None:
    if effort is None or effort == "none":
        return None
    if effort not in THINKING_BUDGETS:
        raise InvalidRequestError(
            f"reasoning_effort must be one of none, {', '.join(THINKING_BUDGETS)}", param="reasoning_effort"
        )
    return {"type": "enabled", "budget_tokens": THINKING_BUDGETS[effort]}


def _budget(thinking: dict[str, Any] | None) -> int | None:
    if thinking is None or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    return budget if isinstance(budget, int) and not isinstance(budget, bool) else None


def _user_id(request: dict[str, Any]) -> str | None:
    metadata = request.get("metadata")
    # Anthropic's metadata takes only user_id; OpenAI's free-form metadata has nowhere to go.
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        return metadata["user_id"]
    for key in ("user", "safety_identifier"):
        if isinstance(request.get(key), str) and request[key]:
            return request[key]
    return None


# -- tools ------------------------------------------------------------------------------------------


def _add_tools(out: dict[str, Any], request: dict[str, Any], thinking_on: bool) -> None:
    tools = [_tool(tool, i) for i, tool in enumerate(request.get("tools") or [])]
    json_tool = structured_output_tool(request.get("response_format"))
    if json_tool is not None:
        tools.append(json_tool)
    if not tools:
        return
    out["tools"] = tools
    if json_tool is not None:
        # Forcing a tool is refused while thinking is on; then the model is only offered it.
        choice = {"type": "auto"} if thinking_on else {"type": "tool", "name": JSON_TOOL_NAME}
    else:
        choice = _tool_choice(request.get("tool_choice"))
    if request.get("parallel_tool_calls") is False:
        choice = dict(choice or {"type": "auto"})
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        out["tool_choice"] = choice


def _tool(tool: Any, i: int) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise InvalidRequestError(f"tools[{i}] must be an object", param=f"tools[{i}]")
    function = tool.get("function")
    if function is None and tool.get("type") != "function":
        return tool  # an Anthropic-native tool (web_search_..., a ready {name, input_schema}, ...)
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequestError(f"tools[{i}].function.name is required", param=f"tools[{i}].function.name")
    if function["name"] == JSON_TOOL_NAME:
        raise InvalidRequestError(
            f"the tool name '{JSON_TOOL_NAME}' is reserved for response_format on anthropic",
            param=f"tools[{i}].function.name",
        )
    out: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        out["description"] = function["description"]
    out["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    if tool.get("cache_control") is not None:
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice in ("required", "any"):
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        function = choice.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return {"type": "tool", "name": function["name"]}
        if choice.get("type") in ("auto", "any", "none") or (
            choice.get("type") == "tool" and isinstance(choice.get("name"), str)
        ):
            return dict(choice)  # already Anthropic's shape
    raise InvalidRequestError(
        "tool_choice must be 'auto', 'required', 'none' or {type: function, function: {name}}",
        param="tool_choice",
    )
