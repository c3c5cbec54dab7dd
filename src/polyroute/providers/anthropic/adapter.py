"""The Anthropic Messages API adapter: ties request, response, stream and error translation
to the `ProviderAdapter` interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from polyroute.errors import GatewayError
from polyroute.providers.anthropic.cache_points import check_points
from polyroute.providers.anthropic.errors import map_anthropic_error
from polyroute.providers.anthropic.request import SUPPORTED_CHAT_PARAMS, build_body
from polyroute.providers.anthropic.response import to_openai_response
from polyroute.providers.anthropic.spec import SPEC
from polyroute.providers.anthropic.stream import AnthropicStreamTranslator
from polyroute.providers.base import ProviderAdapter, ProviderCall, StreamTranslator, WireRequest

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicAdapter(ProviderAdapter):
    """`anthropic/<model>`: OpenAI chat <-> Anthropic `POST /v1/messages`.

    `call.extras` may set `anthropic_version` (the header) and `default_max_tokens` (used when
    the client sends no max_tokens, which Anthropic requires). `call.extra_headers` carries
    e.g. `anthropic-beta`.
    """

    spec = SPEC
    supported_chat_params: ClassVar[frozenset[str]] = SUPPORTED_CHAT_PARAMS

    def messages_url(self, call: ProviderCall) -> str:
        base = (call.api_base or self.default_api_base or "").rstrip("/")
        # Accept a base given with the version path (LiteLLM configs often carry ".../v1").
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        return f"{base}/v1/messages"

    def headers(self, call: ProviderCall) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "anthropic-version": str(call.extras.get("anthropic_version") or ANTHROPIC_VERSION),
        }
        if call.api_key:
            headers["x-api-key"] = call.api_key.reveal()
        if call.extra_headers:
            headers.update(call.extra_headers)
        return headers

    def check_call(self, call: ProviderCall) -> None:
        points = call.extras.get("cache_control_injection_points")
        if points is not None:
            check_points(points)

    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        payload = build_body(call, body, stream)
        return WireRequest(self.messages_url(call), self.headers(call), orjson.dumps(payload))

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        return to_openai_response(data, call.model)

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        return AnthropicStreamTranslator(call.model)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_anthropic_error(status, body, headers)
