"""Anthropic's Messages API as an inbound protocol (`MESSAGES`): clients such as Claude Code and
the `anthropic` SDK speak it at `/v1/messages`; the pipeline decodes it to OpenAI chat, routes,
and encodes the answer back (server/pipeline.py). Anthropic deployments get the client's body
as it is (native.py). docs/protocols.md describes every mapping and what each target loses.
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import GatewayError
from polyroute.inbound.anthropic_messages.count_tokens import count_tokens_local
from polyroute.inbound.anthropic_messages.errors import error_body, error_type
from polyroute.inbound.anthropic_messages.native import (
    AnthropicNativeUsage,
    native_count_request,
    native_request,
)
from polyroute.inbound.anthropic_messages.request import (
    ANTHROPIC_ONLY_KEYS,
    chat_for_call,
    effort_for_budget,
    to_chat,
    without_anthropic_extensions,
)
from polyroute.inbound.anthropic_messages.response import anthropic_usage, from_chat
from polyroute.inbound.anthropic_messages.stream import MessagesStreamEncoder
from polyroute.inbound.base import InboundProtocol, in_client_terms

#: chat fields an adapter may refuse -> the Messages fields the client sent them as
CHAT_TO_MESSAGES = {
    "stop": "stop_sequences",
    "reasoning_effort": "thinking",
    "user": "metadata.user_id",
    "max_completion_tokens": "max_tokens",
}


class MessagesProtocol:
    """`InboundProtocol` for Anthropic Messages."""

    name = "messages"
    call_type = "anthropic_messages"  # LiteLLM's call type for /v1/messages
    passes_raw_body = True  # to Anthropic, the client's own bytes when nothing must change
    native_providers: frozenset[str] = frozenset({"anthropic"})

    def for_deployment(self, chat: dict[str, Any], deployment: Any) -> dict[str, Any]:
        """The decoded body fitted to one translated deployment (Anthropic-only keys such as
        `top_k` and `thinking` kept only where the target takes them)."""
        return chat_for_call(chat, deployment.call)

    def native_request(
        self, deployment: Any, body: dict[str, Any], stream: bool, headers: Any, raw: bytes | None = None
    ) -> Any:
        beta = headers.get("anthropic-beta") if headers is not None else None
        return native_request(deployment.call, body, stream, beta=beta, raw=raw)

    def stream_error(self, error: GatewayError, request_id: str) -> bytes:
        return MessagesStreamEncoder({}, request_id).error(error, request_id)

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_chat(body)

    def from_chat(self, answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return from_chat(answer, body)

    def stream_encoder(self, body: dict[str, Any], request_id: str) -> MessagesStreamEncoder:
        return MessagesStreamEncoder(body, request_id)

    def error_body(self, error: GatewayError, request_id: str) -> bytes:
        return error_body(in_client_terms(error, CHAT_TO_MESSAGES), request_id)

    def native_usage(self) -> AnthropicNativeUsage:
        return AnthropicNativeUsage()


MESSAGES: InboundProtocol = MessagesProtocol()

__all__ = [
    "ANTHROPIC_ONLY_KEYS",
    "MESSAGES",
    "AnthropicNativeUsage",
    "MessagesProtocol",
    "MessagesStreamEncoder",
    "anthropic_usage",
    "chat_for_call",
    "count_tokens_local",
    "effort_for_budget",
    "error_body",
    "error_type",
    "from_chat",
    "native_count_request",
    "native_request",
    "to_chat",
    "without_anthropic_extensions",
]
