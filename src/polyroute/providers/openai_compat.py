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


class OpenAICompatibleAdapter(ProviderAdapter):
    supports = frozenset({"chat", "completions", "embeddings"})
    passthrough_stream = True

    def __init__(
        self,
        name: str = "openai",
        env_key: str | None = "OPENAI_API_KEY",
        default_api_base: str | None = "https://api.openai.com/v1",
        key_optional: bool = False,
        base_env: str | None = None,
    ) -> None:
        self.name = name
        self.env_key = env_key
        self.default_api_base = default_api_base
        self.key_optional = key_optional
        #: env var that overrides the default base URL (e.g. OPENAI_API_BASE)
        self.base_env = base_env

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
