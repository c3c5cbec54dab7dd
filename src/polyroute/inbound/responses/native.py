"""Responses requests sent to OpenAI as they are (the native path), and their usage for billing.

`native_request` posts the client's body to `{api_base}/responses` with the deployment's model,
and two changes: `previous_response_id` is removed and `store` is false. The gateway expands a
chain itself (store/responses_store.py) before the request leaves, so the chain lives in the
gateway's store, not in one OpenAI account: it survives a fallback from OpenAI to another
provider and back, and a deployment with another OpenAI key. For the same reason the expanded
items go without the `id`s the gateway gave them, and `reasoning` items without
`encrypted_content` are left out (OpenAI could only look those up in its own store).

`ResponsesNativeUsage` reads the usage from a Responses JSON answer, or from the stream's
`response.completed` / `response.incomplete` / `response.failed` event (each ends the stream);
an `error` event raises the GatewayError for it. It keeps that final response object too
(`response`), for the store. OpenAI's answer says `store: false`, its own model id and no
`previous_response_id` (what the gateway sent); `client_view` puts back what the client asked
for before the answer is stored (store/responses_store.py `remember` does it when given the body).
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import GatewayError
from polyroute.inbound.responses.response import chat_usage
from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.sse import SSEEvent
from polyroute.providers.base import ProviderCall, WireRequest
from polyroute.providers.openai_compat import OpenAICompatibleAdapter, stream_error

FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_OPENAI = OpenAICompatibleAdapter()


def native_request(call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
    """The request to OpenAI's own Responses API for `body` (see the module docstring)."""
    wire = {k: v for k, v in body.items() if k not in GATEWAY_KEYS and k != "previous_response_id"}
    wire["model"] = call.model
    wire["store"] = False
    wire["stream"] = stream
    if isinstance(wire.get("input"), list):
        wire["input"] = [_native_item(item) for item in wire["input"] if _sendable(item)]
    return WireRequest(_OPENAI.endpoint_url(call, "responses"), _OPENAI.headers(call), orjson.dumps(wire))


def _sendable(item: Any) -> bool:
    return not (
        isinstance(item, dict) and item.get("type") == "reasoning" and not item.get("encrypted_content")
    )


def _native_item(item: Any) -> Any:
    if isinstance(item, dict) and "id" in item and item.get("type") != "reasoning":
        item = {k: v for k, v in item.items() if k != "id"}
    return item


def client_view(response: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's response object as the client's request shapes it: the client's model name, its
    `store` and its `previous_response_id` (the native request changed all three)."""
    return {
        **response,
        "model": body.get("model", response.get("model")),
        "store": body.get("store", True),
        "previous_response_id": body.get("previous_response_id"),
    }


class ResponsesNativeUsage:
    """See the module docstring; one instance per request."""

    __slots__ = ("_usage", "_done", "_response")
    #: what makes a native stream's event worth parsing: its end, or an error
    markers = (b"response.completed", b"response.incomplete", b"response.failed", b"error")

    @staticmethod
    def output_events(data: bytes) -> int:
        """Events of a batch carrying generated text or arguments (their `event:` lines)."""
        return data.count(b".delta\n")

    def __init__(self) -> None:
        self._usage: dict[str, Any] | None = None
        self._done = False
        self._response: dict[str, Any] | None = None

    def answer_usage(self, data: dict[str, Any]) -> dict[str, Any] | None:
        self._usage = chat_usage(data.get("usage"))
        self._response = data
        return self._usage

    def on_event(self, event: SSEEvent) -> None:
        kind = event.event
        if kind is None or kind in FINAL_EVENTS or kind == "error":
            try:
                data = event.json()
            except orjson.JSONDecodeError:
                from polyroute.errors import UpstreamError

                raise UpstreamError("upstream sent a Responses event that is not JSON") from None
            if not isinstance(data, dict):
                return
            kind = data.get("type", kind)
            if kind == "error":
                raise _error(data)
            if kind in FINAL_EVENTS:
                response = data.get("response")
                if isinstance(response, dict):
                    self._usage = chat_usage(response.get("usage")) or self._usage
                    self._response = response
                self._done = True

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._usage

    @property
    def done(self) -> bool:
        return self._done

    @property
    def response(self) -> dict[str, Any] | None:
        """The final response object (the JSON answer, or the stream's last event's)."""
        return self._response


def _error(data: dict[str, Any]) -> GatewayError:
    # An `error` event carries code/message at the top level (or, from some servers, under
    # "error"): OpenAI's in-stream error shape either way.
    return stream_error(data if "error" in data else {"error": data})
