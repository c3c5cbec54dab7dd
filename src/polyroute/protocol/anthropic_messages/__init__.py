"""Anthropic's Messages API as an inbound protocol (`MESSAGES`): clients such as Claude Code and
the `anthropic` SDK speak it at `/v1/messages`; the pipeline decodes it to OpenAI chat, routes,
and encodes the answer back (server/pipeline.py). Anthropic deployments get the client's body
as it is (native.py). docs/protocols.md describes every mapping and what each target loses.
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import GatewayError
from polyroute.protocol.anthropic_messages.count_tokens import count_tokens_local
from polyroute.protocol.anthropic_messages.errors import error_body, error_type
from polyroute.protocol.anthropic_messages.native import (
    AnthropicNativeUsage,
    native_count_request,
    native_request,
)
from polyroute.protocol.anthropic_messages.request import (
    ANTHROPIC_ONLY_KEYS,
    chat_for_call,
    effort_for_budget,
    to_chat,
    without_anthropic_extensions,
)
from polyroute.protocol.anthropic_messages.response import anthropic_usage, from_chat
from polyroute.protocol.anthropic_messages.stream import MessagesStreamEncoder
from polyroute.protocol.inbound import InboundProtocol


class MessagesProtocol:
    """`InboundProtocol` for Anthropic Messages."""

    name = "messages"
    native_providers: frozenset[str] = frozenset({"anthropic"})

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_chat(body)

    def from_chat(self, answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return from_chat(answer, body)

    def stream_encoder(self, body: dict[str, Any], request_id: str) -> MessagesStreamEncoder:
        return MessagesStreamEncoder(body, request_id)

    def error_body(self, error: GatewayError, request_id: str) -> bytes:
        return error_body(error, request_id)

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
