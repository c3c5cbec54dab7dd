"""OpenAI's Responses API (`/v1/responses`) as an inbound protocol (inbound/base.py).

request.py decodes a Responses request into a chat body, response.py encodes a chat answer as a
Response object, stream.py encodes a chat stream as Responses events, native.py sends the body
to OpenAI as it is. Stored responses and `previous_response_id` chains are the store's
(store/responses_store.py); docs/protocols.md describes the mapping and its limits.
"""

from __future__ import annotations

import time
from typing import Any

from polyroute.errors import GatewayError, NotFoundError
from polyroute.inbound.base import in_client_terms
from polyroute.inbound.responses.native import ResponsesNativeUsage, client_view, native_request
from polyroute.inbound.responses.request import to_chat
from polyroute.inbound.responses.response import from_chat, input_items
from polyroute.inbound.responses.stream import ResponsesStreamEncoder

#: chat fields an adapter may refuse -> the Responses fields the client sent them as
CHAT_TO_RESPONSES = {
    "response_format": "text.format",
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "messages": "input",
    "reasoning_effort": "reasoning.effort",
    "verbosity": "text.verbosity",
}


class ResponsesProtocol:
    name = "responses"
    call_type = "responses"  # LiteLLM's call type for the Responses API
    native_providers: frozenset[str] = frozenset({"openai"})

    async def prepare(self, state: Any, principal: Any, body: dict[str, Any]) -> dict[str, Any]:
        """A `previous_response_id` chain, loaded from the caller's own stored responses (another
        key's id is not found): the body with the chain's items before its own input."""
        if body.get("previous_response_id") is None:
            return body
        from polyroute.store.responses_store import owner_of

        store = state.responses
        if store is None:
            raise NotFoundError(
                "responses are not stored on this gateway",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return await store.expand(body, owner_of(principal))

    async def remember(
        self, state: Any, principal: Any, body: dict[str, Any], response: dict[str, Any] | None
    ) -> None:
        """Stores a finished response (unless the request said `store: false`) before the
        response's last byte leaves, so the next request of a chain finds it on any process."""
        if response is None or state.responses is None or body.get("store", True) is False:
            return
        from polyroute.store.responses_store import owner_of, remember

        items = input_items(body.get("input"))
        await remember(state.responses, response, items, owner_of(principal), body=body)

    def client_answer(self, data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """A native answer as the client's request shapes it (its model name, store, chain)."""
        return client_view(data, body)

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_chat(body)

    def from_chat(self, answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return from_chat(answer, body)

    def stream_encoder(self, body: dict[str, Any], request_id: str) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder(body, request_id, int(time.time()))

    def error_body(self, error: GatewayError, request_id: str) -> bytes:
        # The Responses API's errors are OpenAI's shape, naming the Responses fields.
        return in_client_terms(error, CHAT_TO_RESPONSES).to_body(request_id)

    def native_usage(self) -> ResponsesNativeUsage:
        return ResponsesNativeUsage()

    def stream_error(self, error: GatewayError, request_id: str) -> bytes:
        return ResponsesStreamEncoder({}, request_id, int(time.time())).error(error, request_id)

    def native_request(
        self, target: Any, body: dict[str, Any], stream: bool, headers: Any = None, raw: Any = None
    ) -> Any:
        """`target`: the deployment (the pipeline) or its ProviderCall."""
        return native_request(getattr(target, "call", target), body, stream)


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
