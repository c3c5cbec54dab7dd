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
from polyroute.providers.anthropic.stream import AnthropicStreamTranslator
from polyroute.providers.base import ProviderAdapter, ProviderCall, StreamTranslator, WireRequest
from polyroute.providers.spec import ProviderSpec

ANTHROPIC_VERSION = "2023-06-01"


# List prices as published on 2026-12-02, USD per token (LiteLLM's field names: router/pricing.py);
# model_info overrides any of them per deployment.
PRICES = {
    "claude-sonnet-4-5": {
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07,
        "cache_creation_input_token_cost": 3.75e-06,
        "output_cost_per_reasoning_token": 1.5e-05,
        "max_output_tokens": 64000,
    },
    "claude-opus-4-1": {
        "input_cost_per_token": 1.5e-05,
        "output_cost_per_token": 7.5e-05,
        "cache_read_input_token_cost": 1.5e-06,
        "cache_creation_input_token_cost": 1.875e-05,
        "output_cost_per_reasoning_token": 7.5e-05,
        "max_output_tokens": 32000,
    },
    "claude-haiku-4-5": {
        "input_cost_per_token": 1e-06,
        "output_cost_per_token": 5e-06,
        "cache_read_input_token_cost": 1e-07,
        "cache_creation_input_token_cost": 1.25e-06,
        "output_cost_per_reasoning_token": 5e-06,
        "max_output_tokens": 64000,
    },
    "claude-3-5-haiku-20241022": {
        "input_cost_per_token": 8e-07,
        "output_cost_per_token": 4e-06,
        "max_output_tokens": 8192,
    },
}


class AnthropicAdapter(ProviderAdapter):
    """`anthropic/<model>`: OpenAI chat <-> Anthropic `POST /v1/messages`.

    `call.extras` may set `anthropic_version` (the header) and `default_max_tokens` (used when
    the client sends no max_tokens, which Anthropic requires). `call.extra_headers` carries
    e.g. `anthropic-beta`.
    """

    spec = ProviderSpec(
        name="anthropic",
        label="Anthropic",
        api="Anthropic Messages",
        key_env=("ANTHROPIC_API_KEY",),
        default_api_base="https://api.anthropic.com",
        capabilities=frozenset({"chat", "tools", "vision", "reasoning"}),
        bare_model_prefixes=("claude",),
        setting_prefixes=("anthropic_version", "default_max_tokens", "cache_control_injection_points"),
        fastchat_api_types=("anthropic", "anthropic_message"),
        otel_name="anthropic",
        prices=PRICES,
    )
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
