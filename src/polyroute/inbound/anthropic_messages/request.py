"""Anthropic Messages request -> OpenAI chat body (the body every provider adapter takes).

Validation follows Anthropic's: `model` a string, `max_tokens` an integer >= 1 (not needed to
count tokens), `messages` a non-empty list, unknown top-level fields refused ("Extra inputs are
not permitted", the field named). Gateway keys (protocol/openai_params.py GATEWAY_KEYS:
fallbacks, num_retries, mock_response, ...) pass through for the gateway to consume.

Mapping (docs/protocols.md has the full table):
  system                    -> a leading system message (content.py)
  messages                  -> chat messages (content.py)
  tools / tool_choice       -> function tools / tool_choice (tools.py); `disable_parallel_tool_use`
                               -> `parallel_tool_calls: false`
  stop_sequences            -> stop
  metadata.user_id          -> user
  thinking {enabled, budget_tokens} -> reasoning_effort by `effort_for_budget`, and `thinking`
                               itself is kept: the Anthropic adapter sends a native `thinking`
                               in place of its own translation, so the exact budget survives
  temperature, top_p, max_tokens, stream as they are (a stream asks for the usage chunk)
  top_k, thinking, container, mcp_servers, context_management: kept as they are
                               (ANTHROPIC_ONLY_KEYS): the Anthropic adapter passes non-OpenAI
                               keys on; `chat_for_call` drops them for providers that
                               are not Anthropic's API
  service_tier              -> dropped (Anthropic's values are not OpenAI's)
"""

from __future__ import annotations

from typing import Any

from polyroute.inbound.anthropic_messages.content import convert_messages, convert_system
from polyroute.inbound.anthropic_messages.fields import (
    invalid,
    is_int,
    is_number,
    need_dict,
    need_list,
    need_str,
    path,
    unknown_keys,
)
from polyroute.inbound.anthropic_messages.tools import convert_tool_choice, convert_tools
from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.providers.base import ProviderCall

#: Anthropic-native keys kept in the chat body for the Anthropic adapter (see the docstring)
ANTHROPIC_ONLY_KEYS: frozenset[str] = frozenset(
    {"top_k", "thinking", "container", "mcp_servers", "context_management"}
)
#: the Anthropic-only keys kept without a look inside (top_k and thinking are checked)
_PASSED_ON = ("container", "mcp_servers", "context_management")
MESSAGES_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "service_tier",
    }
    | ANTHROPIC_ONLY_KEYS
)
ALLOWED_FIELDS: frozenset[str] = MESSAGES_FIELDS | GATEWAY_KEYS

#: Anthropic's smallest thinking budget
MIN_THINKING_BUDGET = 1024
#: budget_tokens below LOW_BELOW -> "low", below HIGH_FROM -> "medium", else "high"
#: (Claude Code's "think" asks 4000, "think hard" 10000, "ultrathink" 31999)
LOW_BELOW = 4096
HIGH_FROM = 16384


def effort_for_budget(budget: int) -> str:
    if budget < LOW_BELOW:
        return "low"
    if budget < HIGH_FROM:
        return "medium"
    return "high"


def to_chat(body: Any, *, count_tokens: bool = False) -> dict[str, Any]:
    """The OpenAI chat body for a Messages request. `count_tokens`: the body is a
    /v1/messages/count_tokens one (no max_tokens needed)."""
    if not isinstance(body, dict):
        raise invalid("body", "the request body must be a JSON object")
    unknown_keys(body, ALLOWED_FIELDS, None)
    model = need_str(body.get("model"), "model", non_empty=True)
    chat: dict[str, Any] = {"model": model}
    max_tokens = body.get("max_tokens")
    if max_tokens is not None or not count_tokens:
        if max_tokens is None:
            raise invalid("max_tokens", "Field required")
        if not is_int(max_tokens) or max_tokens < 1:
            raise invalid("max_tokens", "Input should be an integer greater than or equal to 1")

    messages = convert_messages(body.get("messages"))
    system = convert_system(body.get("system"))
    chat["messages"] = [system, *messages] if system is not None else messages
    if max_tokens is not None:
        chat["max_tokens"] = max_tokens

    _sampling(body, chat)
    _stream(body, chat)
    _thinking(body, chat, max_tokens)
    if body.get("stop_sequences") is not None:
        stops = need_list(body["stop_sequences"], "stop_sequences")
        chat["stop"] = [need_str(s, path("stop_sequences", i)) for i, s in enumerate(stops)]
    _metadata(body.get("metadata"), chat)
    _tools(body, chat)
    for key in _PASSED_ON:
        if body.get(key) is not None:
            chat[key] = body[key]
    for key, value in body.items():
        if key in GATEWAY_KEYS:
            chat[key] = value
    return chat


def _sampling(body: dict[str, Any], chat: dict[str, Any]) -> None:
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is None:
            continue
        if not is_number(value) or not 0 <= value <= 1:
            raise invalid(key, "Input should be a number between 0 and 1")
        chat[key] = value
    top_k = body.get("top_k")
    if top_k is not None:
        if not is_int(top_k) or top_k < 0:
            raise invalid("top_k", "Input should be an integer greater than or equal to 0")
        chat["top_k"] = top_k


def _stream(body: dict[str, Any], chat: dict[str, Any]) -> None:
    stream = body.get("stream")
    if stream is None:
        return
    if not isinstance(stream, bool):
        raise invalid("stream", "Input should be a valid boolean")
    chat["stream"] = stream
    if stream:
        # message_delta carries the usage: ask every upstream for OpenAI's usage chunk.
        chat["stream_options"] = {"include_usage": True}


def _thinking(body: dict[str, Any], chat: dict[str, Any], max_tokens: int | None) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    thinking = need_dict(thinking, "thinking")
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not is_int(budget) or budget < MIN_THINKING_BUDGET:
            raise invalid(
                "thinking.budget_tokens",
                f"Input should be an integer greater than or equal to {MIN_THINKING_BUDGET}",
            )
        if max_tokens is not None and max_tokens <= budget:
            raise invalid("max_tokens", "`max_tokens` must be greater than `thinking.budget_tokens`")
        chat["reasoning_effort"] = effort_for_budget(budget)
    elif kind not in ("disabled", "adaptive"):
        raise invalid("thinking.type", "Input should be 'enabled', 'disabled' or 'adaptive'")
    chat["thinking"] = thinking


def _metadata(metadata: Any, chat: dict[str, Any]) -> None:
    if metadata is None:
        return
    metadata = need_dict(metadata, "metadata")
    unknown_keys(metadata, frozenset({"user_id"}), "metadata")
    user_id = metadata.get("user_id")
    if user_id is not None:
        chat["user"] = need_str(user_id, "metadata.user_id")


def _tools(body: dict[str, Any], chat: dict[str, Any]) -> None:
    if body.get("tools") is not None:
        tools = convert_tools(body["tools"])
        if tools:
            chat["tools"] = tools
    if body.get("tool_choice") is not None:
        choice, no_parallel = convert_tool_choice(body["tool_choice"])
        chat["tool_choice"] = choice
        if no_parallel:
            chat["parallel_tool_calls"] = False


#: what Claude on Bedrock takes in additionalModelRequestFields of the extras
_BEDROCK_CLAUDE_KEYS = frozenset({"top_k", "thinking"})


def chat_for_call(chat: dict[str, Any], call: ProviderCall) -> dict[str, Any]:
    """The `to_chat` body fit for one deployment: whole for an Anthropic-API deployment
    (anthropic, Claude on Vertex AI); for Claude on Bedrock without the extras Converse cannot
    carry; for every other provider `without_anthropic_extensions`, and for OpenAI's and
    Azure's own APIs also without the messages' `reasoning_content`."""
    model = call.model.lower()
    if call.provider == "anthropic" or (call.provider == "vertex_ai" and model.startswith("claude")):
        return chat
    if call.provider == "bedrock" and ("anthropic." in model or "claude" in model):
        drop = ANTHROPIC_ONLY_KEYS - _BEDROCK_CLAUDE_KEYS
        return {k: v for k, v in chat.items() if k not in drop}
    plain = without_anthropic_extensions(chat)
    if _strict_openai(call):
        # OpenAI's own API and Azure's refuse fields they do not know on a message
        # ("Additional properties are not allowed"); OpenAI-compatible servers (vLLM, DeepSeek,
        # ...) take an earlier turn's reasoning_content, and interleaved-thinking models want it.
        plain["messages"] = [
            {k: v for k, v in m.items() if k != "reasoning_content"} if isinstance(m, dict) else m
            for m in plain["messages"]
        ]
    return plain


def _strict_openai(call: ProviderCall) -> bool:
    if call.provider == "azure":
        return True
    return call.provider == "openai" and (call.api_base is None or "api.openai.com" in call.api_base)


def without_anthropic_extensions(chat: dict[str, Any]) -> dict[str, Any]:
    """A copy of a `to_chat` body without what only Anthropic deployments take: the
    ANTHROPIC_ONLY_KEYS, and the `thinking_blocks`, `is_error` and `cache_control` keys on
    messages, parts and tools. For providers that refuse unknown fields (OpenAI's own API)."""
    out = {k: v for k, v in chat.items() if k not in ANTHROPIC_ONLY_KEYS}
    out["messages"] = [_plain_message(m) for m in chat.get("messages") or ()]
    if isinstance(chat.get("tools"), list):
        out["tools"] = [_plain(t) for t in chat["tools"]]
    return out


_MESSAGE_EXTENSIONS = frozenset({"thinking_blocks", "is_error", "cache_control"})


def _plain_message(message: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in message.items() if k not in _MESSAGE_EXTENSIONS}
    if isinstance(out.get("content"), list):
        out["content"] = [_plain(part) for part in out["content"]]
    return out


def _plain(part: Any) -> Any:
    if isinstance(part, dict) and "cache_control" in part:
        return {k: v for k, v in part.items() if k != "cache_control"}
    return part
