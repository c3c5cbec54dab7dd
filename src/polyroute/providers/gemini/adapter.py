"""The Google Gemini API (generativelanguage.googleapis.com) adapter.

Chat goes to `{base}/{version}/models/{model}:generateContent` (streaming:
`:streamGenerateContent?alt=sse`), embeddings to `:batchEmbedContents`. The key travels in the
`x-goog-api-key` header, never in the URL, because URLs end up in logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from polyroute.errors import GatewayError
from polyroute.providers.base import ProviderAdapter, ProviderCall, StreamTranslator, WireRequest
from polyroute.providers.gemini.embeddings import to_batch_embed_body, to_openai_embeddings
from polyroute.providers.gemini.errors import error_from_status, map_error
from polyroute.providers.gemini.request import to_gemini_body
from polyroute.providers.gemini.response import to_chat_completion
from polyroute.providers.gemini.spec import SPEC
from polyroute.providers.gemini.stream import GeminiStreamTranslator

DEFAULT_API_VERSION = "v1beta"

#: The OpenAI chat params this adapter translates. `user` is accepted and not sent: Gemini has
#: no end-user field and refusing it would break ordinary OpenAI clients.
GEMINI_CHAT_PARAMS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "seed",
        "reasoning_effort",
        "stream",
        "stream_options",
        "user",
    }
)

# An api_base given with a version suffix (".../v1beta") is accepted as well as the bare host.
_VERSION_SUFFIX = re.compile(r"/v\d+(?:alpha|beta)?\d*$")


class GeminiAdapter(ProviderAdapter):
    spec = SPEC
    supported_chat_params: ClassVar[frozenset[str]] = GEMINI_CHAT_PARAMS

    # -- addressing ---------------------------------------------------------------------------
    def model_url(self, call: ProviderCall, method: str) -> str:
        """`{base}/{version}/models/{model}:{method}`."""
        base = (call.api_base or self.default_api_base or "").rstrip("/")
        base = _VERSION_SUFFIX.sub("", base)
        version = call.api_version or DEFAULT_API_VERSION
        return f"{base}/{version}/models/{model_id(call)}:{method}"

    def headers(self, call: ProviderCall) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if call.api_key:
            headers["x-goog-api-key"] = call.api_key.reveal()
        if call.extra_headers:
            headers.update(call.extra_headers)
        return headers

    # -- chat ---------------------------------------------------------------------------------
    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        if call.defaults:
            body = {**call.defaults, **body}
        wire_body = to_gemini_body(body)
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return WireRequest(self.model_url(call, method), self.headers(call), orjson.dumps(wire_body))

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        if isinstance(data.get("error"), dict):
            raise error_from_status(data["error"])
        return to_chat_completion(data, model_id(call))

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        return GeminiStreamTranslator(model_id(call))

    # -- embeddings ---------------------------------------------------------------------------
    def embeddings_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        wire_body = to_batch_embed_body(model_id(call), body)
        return WireRequest(
            self.model_url(call, "batchEmbedContents"), self.headers(call), orjson.dumps(wire_body)
        )

    def embeddings_response(
        self, call: ProviderCall, data: dict[str, Any], request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """OpenAI embeddings list; pass the client's `request_body` for the usage estimate."""
        return to_openai_embeddings(data, model_id(call), request_body)

    # -- errors -------------------------------------------------------------------------------
    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_error(status, body, headers)


def model_id(call: ProviderCall) -> str:
    """The bare model id: configs may name it `models/gemini-...` as Gemini's own docs do."""
    return call.model.removeprefix("models/")
