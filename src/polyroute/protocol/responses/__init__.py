"""OpenAI's Responses API (`/v1/responses`) as an inbound protocol (protocol/inbound.py).

request.py decodes a Responses request into a chat body, response.py encodes a chat answer as a
Response object, stream.py encodes a chat stream as Responses events, native.py sends the body
to OpenAI as it is. Stored responses and `previous_response_id` chains are the store's
(store/responses_store.py); docs/protocols.md describes the mapping and its limits.
"""

from __future__ import annotations

import time
from typing import Any

from polyroute.errors import GatewayError
from polyroute.protocol.responses.native import ResponsesNativeUsage, client_view, native_request
from polyroute.protocol.responses.request import to_chat
from polyroute.protocol.responses.response import from_chat, input_items
from polyroute.protocol.responses.stream import ResponsesStreamEncoder


class ResponsesProtocol:
    name = "responses"
    native_providers: frozenset[str] = frozenset({"openai"})

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_chat(body)

    def from_chat(self, answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return from_chat(answer, body)

    def stream_encoder(self, body: dict[str, Any], request_id: str) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder(body, request_id, int(time.time()))

    def error_body(self, error: GatewayError, request_id: str) -> bytes:
        return error.to_body(request_id)  # the Responses API's errors are OpenAI's shape

    def native_usage(self) -> ResponsesNativeUsage:
        return ResponsesNativeUsage()

    def native_request(self, call: Any, body: dict[str, Any], stream: bool) -> Any:
        return native_request(call, body, stream)


RESPONSES = ResponsesProtocol()

__all__ = [
    "RESPONSES",
    "ResponsesNativeUsage",
    "ResponsesProtocol",
    "ResponsesStreamEncoder",
    "client_view",
    "from_chat",
    "input_items",
    "native_request",
    "to_chat",
]
