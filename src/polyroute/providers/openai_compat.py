"""OpenAI and every OpenAI-compatible server (vLLM, SGLang, Ollama, DeepSeek, Mistral, NIM, ...).

The request is the client's own body with `model` replaced, so unknown fields pass through
untouched; responses and stream chunks already are OpenAI's, so the stream is relayed event by
event (`passthrough_stream`) and only the final usage is read from it.
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.protocol.sse import DONE, SSEEvent
from polyroute.providers.base import ProviderAdapter, ProviderCall, StreamTranslator, WireRequest
from polyroute.providers.spec import ProviderSpec

# List prices as published on 2026-12-02, USD per token (LiteLLM's field names: router/pricing.py);
# model_info overrides any of them per deployment.
OPENAI_PRICES = {
    "gpt-4o": {
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-06,
        "max_output_tokens": 16384,
    },
    "gpt-4o-mini": {
        "input_cost_per_token": 1.5e-07,
        "output_cost_per_token": 6e-07,
        "cache_read_input_token_cost": 7.5e-08,
        "max_output_tokens": 16384,
    },
    "gpt-4.1": {
        "input_cost_per_token": 2e-06,
        "output_cost_per_token": 8e-06,
        "cache_read_input_token_cost": 5e-07,
        "max_output_tokens": 32768,
    },
    "gpt-4.1-mini": {
        "input_cost_per_token": 4e-07,
        "output_cost_per_token": 1.6e-06,
        "cache_read_input_token_cost": 1e-07,
        "max_output_tokens": 32768,
    },
    "gpt-4.1-nano": {
        "input_cost_per_token": 1e-07,
        "output_cost_per_token": 4e-07,
        "cache_read_input_token_cost": 2.5e-08,
        "max_output_tokens": 32768,
    },
    "o3": {
        "input_cost_per_token": 2e-06,
        "output_cost_per_token": 8e-06,
        "cache_read_input_token_cost": 5e-07,
        "output_cost_per_reasoning_token": 8e-06,
        "max_output_tokens": 100000,
    },
    "o4-mini": {
        "input_cost_per_token": 1.1e-06,
        "output_cost_per_token": 4.4e-06,
        "cache_read_input_token_cost": 2.75e-07,
        "output_cost_per_reasoning_token": 4.4e-06,
        "max_output_tokens": 100000,
    },
    "text-embedding-3-small": {"input_cost_per_token": 2e-08, "output_cost_per_token": 0.0},
    "text-embedding-3-large": {"input_cost_per_token": 1.3e-07, "output_cost_per_token": 0.0},
}

OPENAI = ProviderSpec(
    name="openai",
    label="OpenAI",
    api="OpenAI",
    aliases=("text-completion-openai", "custom_openai"),
    key_env=("OPENAI_API_KEY",),
    base_env=("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    default_api_base="https://api.openai.com/v1",
    capabilities=frozenset({"chat", "completions", "embeddings", "tools", "vision", "reasoning"}),
    passthrough_stream=True,
    bare_model_prefixes=(
        *("gpt-", "o1", "o3", "o4", "chatgpt-", "omni-"),
        *("text-embedding-", "davinci", "babbage"),
    ),
    fastchat_api_types=("openai", "openai_no_stream", "openai_o1"),
    otel_name="openai",
    prices=OPENAI_PRICES,
)


class OpenAICompatibleAdapter(ProviderAdapter):
    """One instance per OpenAI-compatible provider, each with its own spec (OpenAI's by default;
    the others in openai_family.py)."""

    def __init__(self, spec: ProviderSpec = OPENAI) -> None:
        self.spec = spec

    # -- addressing ---------------------------------------------------------------------------
    def base_url(self, call: ProviderCall) -> str:
        base = call.api_base or self.default_api_base
        if not base:
            from polyroute.errors import InvalidRequestError

            raise InvalidRequestError(
                f"deployment of provider '{self.name}' has no api_base", param="api_base"
            )
        return base.rstrip("/")

    def headers(self, call: ProviderCall) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if call.api_key:
            headers["authorization"] = "Bearer " + call.api_key.reveal()
        if call.organization:
            headers["openai-organization"] = call.organization
        if call.extra_headers:
            headers.update(call.extra_headers)
        return headers

    def endpoint_url(self, call: ProviderCall, path: str) -> str:
        return f"{self.base_url(call)}/{path}"

    def _body(self, call: ProviderCall, body: dict[str, Any]) -> bytes:
        if call.defaults:
            body = {**call.defaults, **body}
        else:
            body = dict(body)
        body["model"] = call.model
        return orjson.dumps(body)

    # -- chat ---------------------------------------------------------------------------------
    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        return WireRequest(
            self.endpoint_url(call, "chat/completions"), self.headers(call), self._body(call, body)
        )

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        return OpenAIStreamReader()

    # -- legacy completions and embeddings ------------------------------------------------------
    def completions_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        return WireRequest(self.endpoint_url(call, "completions"), self.headers(call), self._body(call, body))

    def embeddings_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        return WireRequest(self.endpoint_url(call, "embeddings"), self.headers(call), self._body(call, body))

    def moderations_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        return WireRequest(self.endpoint_url(call, "moderations"), self.headers(call), self._body(call, body))

    def embeddings_response(
        self, call: ProviderCall, data: dict[str, Any], request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return data


class OpenAIStreamReader(StreamTranslator):
    """Reads OpenAI chunks: keeps the usage, raises on an in-stream error, knows when [DONE] came."""

    __slots__ = ("usage", "done", "model")

    def __init__(self) -> None:
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.model: str | None = None

    def on_event(self, event: SSEEvent) -> list[dict[str, Any]]:
        if event.data == DONE:
            self.done = True
            return []
        try:
            chunk = event.json()
        except orjson.JSONDecodeError:
            from polyroute.errors import UpstreamError

            raise UpstreamError("upstream sent a stream event that is not JSON") from None
        self.inspect(chunk, event.event)
        return [chunk]

    def inspect(self, chunk: Any, event_name: str | None = None) -> None:
        """Checks one parsed chunk for usage and errors (shared with the pass-through relay)."""
        if not isinstance(chunk, dict):
            return
        if event_name == "error" or "error" in chunk:
            raise stream_error(chunk)
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        if self.model is None:
            self.model = chunk.get("model")

    def on_end(self) -> list[dict[str, Any]]:
        if not self.done:
            from polyroute.errors import UpstreamError

            raise UpstreamError("upstream stream ended before [DONE]")
        return []


def stream_error(chunk: dict[str, Any]):
    """The gateway error for an OpenAI-style error object sent inside a stream."""
    from polyroute.errors import error_for_upstream_status

    err = chunk.get("error") if isinstance(chunk.get("error"), dict) else chunk
    message = str(err.get("message") or "upstream reported an error mid-stream")
    code = err.get("code")
    status = (
        code if isinstance(code, int) else (err.get("status") if isinstance(err.get("status"), int) else 502)
    )
    cls = error_for_upstream_status(status if status >= 400 else 502)
    error = cls(message)
    if isinstance(code, str):
        error.code = code
    return error
