"""The Cohere v2 API adapter (api.cohere.com): chat, embeddings and rerank.

Chat goes to `{base}/v2/chat` (streamed: the same URL with `"stream": true`, SSE events typed by
their `type` field), embeddings to `/v2/embed`, rerank to `/v2/rerank`. The key is a bearer
token. An `api_base` given with a version suffix (`.../v2`, `.../v1`) is taken as the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from polyroute.errors import GatewayError
from polyroute.providers.base import ProviderAdapter, ProviderCall, StreamTranslator, WireRequest
from polyroute.providers.cohere.embed import (
    to_embed_body,
    to_openai_embeddings,
    to_rerank_body,
    to_rerank_response,
)
from polyroute.providers.cohere.errors import map_error
from polyroute.providers.cohere.request import SUPPORTED_CHAT_PARAMS, build_body
from polyroute.providers.cohere.response import to_chat_completion
from polyroute.providers.cohere.spec import SPEC
from polyroute.providers.cohere.stream import CohereStreamTranslator

_VERSION_SUFFIX = re.compile(r"/v\d+$")


class CohereAdapter(ProviderAdapter):
    spec = SPEC
    supported_chat_params: ClassVar[frozenset[str]] = SUPPORTED_CHAT_PARAMS

    def url(self, call: ProviderCall, path: str) -> str:
        base = _VERSION_SUFFIX.sub("", (call.api_base or self.default_api_base or "").rstrip("/"))
        return f"{base}/v2/{path}"

    def headers(self, call: ProviderCall, stream: bool = False) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        if call.api_key:
            headers["authorization"] = "Bearer " + call.api_key.reveal()
        headers.update(call.extra_headers)
        return headers

    # -- chat ---------------------------------------------------------------------------------
    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        wire = build_body(call, body, stream)
        return WireRequest(self.url(call, "chat"), self.headers(call, stream), orjson.dumps(wire))

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        return to_chat_completion(data, call.model)

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        return CohereStreamTranslator(call.model)

    # -- embeddings and rerank ------------------------------------------------------------------
    def embeddings_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        return WireRequest(
            self.url(call, "embed"), self.headers(call), orjson.dumps(to_embed_body(call.model, body))
        )

    def embeddings_response(
        self, call: ProviderCall, data: dict[str, Any], request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return to_openai_embeddings(data, call.model)

    def rerank_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        return WireRequest(
            self.url(call, "rerank"), self.headers(call), orjson.dumps(to_rerank_body(call.model, body))
        )

    def rerank_response(
        self, call: ProviderCall, data: dict[str, Any], request_body: dict[str, Any]
    ) -> dict[str, Any]:
        return to_rerank_response(data, request_body)

    # -- errors -------------------------------------------------------------------------------
    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_error(status, body, headers)
